"""Moving whole tables between the database and DuckDB inside the caller's transaction:
PostgreSQL COPY both ways, SQLite cursors in large batches. No ORM objects per row."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
from sqlmodel import Session

CHUNK = 50_000


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _driver(session: Session) -> Any:
    # The DBAPI connection of the session's own transaction: bulk work commits or rolls
    # back with everything else the request or command did.
    return session.connection().connection.driver_connection


def load_query(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    *,
    sql: str,
    table: str,
    columns: Sequence[tuple[str, str]],
    scratch: Path,
) -> int:
    """Run `sql` (no parameters: values already checked) in the database and load the rows
    into DuckDB table `table` with the given (name, DuckDB type) columns."""
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w+b", dir=scratch, suffix=".csv", delete=False) as f:
        path = Path(f.name)
    try:
        raw = _driver(session)
        if dialect(session) == "postgresql":
            with raw.cursor() as cur, path.open("wb") as out:
                with cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy:
                    for block in copy:
                        out.write(block)
        else:
            cur = raw.cursor()
            cur.execute(sql)
            with path.open("w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                while rows := cur.fetchmany(CHUNK):
                    writer.writerows(rows)
            cur.close()
        spec = ", ".join(f"'{name}': 'VARCHAR'" for name, _ in columns)
        casts = ", ".join(f"CAST({name} AS {typ}) AS {name}" for name, typ in columns)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {casts} FROM read_csv("
            f"'{path}', header=false, columns={{{spec}}}, quote='\"', escape='\"', "
            "nullstr='', auto_detect=false)"
        )
        count = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(count[0]) if count else 0
    finally:
        path.unlink(missing_ok=True)


def insert_rows(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    *,
    query: str,
    table: str,
    columns: Sequence[str],
    scratch: Path,
) -> int:
    """INSERT the rows of a DuckDB query (values already in the database's text form)."""
    names = ", ".join(columns)
    raw = _driver(session)
    if dialect(session) == "postgresql":
        scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=scratch, suffix=".csv", delete=False) as f:
            path = Path(f.name)
        try:
            con.execute(f"COPY ({query}) TO '{path}' (FORMAT csv, HEADER false)")
            with raw.cursor() as cur:
                with cur.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT csv)") as copy:
                    with path.open("rb") as src:
                        while block := src.read(1 << 20):
                            copy.write(block)
                return (
                    int(cur.rowcount) if cur.rowcount and cur.rowcount > 0 else _count(con, query)
                )
        finally:
            path.unlink(missing_ok=True)
    placeholders = ", ".join("?" for _ in columns)
    cursor = con.execute(query)
    cur = raw.cursor()
    written = 0
    while rows := cursor.fetchmany(CHUNK):
        cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", rows)
        written += len(rows)
    cur.close()
    return written


def _count(con: duckdb.DuckDBPyConnection, query: str) -> int:
    row = con.execute(f"SELECT count(*) FROM ({query})").fetchone()
    return int(row[0]) if row else 0


def stage(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    *,
    query: str,
    name: str,
    columns: Sequence[tuple[str, str]],
    scratch: Path,
) -> int:
    """A temporary table in the database holding the query's rows, for UPDATE ... FROM."""
    pg = dialect(session) == "postgresql"
    raw = _driver(session)
    ddl = ", ".join(f"{c} {t if pg else ''}".strip() for c, t in columns)
    with raw.cursor() if pg else _closing(raw.cursor()) as cur:
        cur.execute(f"DROP TABLE IF EXISTS {name}")
        cur.execute(f"CREATE TEMP TABLE {name} ({ddl})")
    return insert_rows(
        session, con, query=query, table=name, columns=[c for c, _ in columns], scratch=scratch
    )


def execute(session: Session, sql: str) -> int:
    raw = _driver(session)
    with _closing(raw.cursor()) as cur:
        cur.execute(sql)
        return int(cur.rowcount or 0)


class _closing:
    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    def __enter__(self) -> Any:
        return self.cursor

    def __exit__(self, *exc: object) -> None:
        self.cursor.close()
