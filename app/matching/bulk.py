"""Moving whole tables between the database and DuckDB inside the caller's transaction:
PostgreSQL COPY both ways, SQLite cursors in large batches. No ORM objects per row.

Everything goes through the session's own connection, so a bulk write commits or rolls back
with the rest of the caller's transaction: a run that fails half way leaves nothing behind."""

from __future__ import annotations

import csv
import secrets
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import sqlalchemy as sa
from sqlmodel import Session

from app.audit import service as audit

CHUNK = 50_000
KEYS_STEP = 100_000  # keys per UPDATE on SQLite (update_keys)


R = TypeVar("R", bound=tuple[Any, ...])


def literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def id_maker(now: datetime, position: str = "rowid") -> str:
    """SQL for time-ordered UUIDs (version 7 layout: milliseconds, then a random part fixed
    for the call, then the row's position) from a DuckDB table's rowid. Rows are written
    in the order of their ids, so each primary-key index grows at its end instead of taking a
    random insert per row, which at millions of rows is most of the cost of an insert. The
    same expression over the same rows gives the same ids again (for the audit's listing)."""
    millis = int(now.timestamp() * 1000) & (2**48 - 1)
    head = f"{millis:012x}7{secrets.randbits(12):03x}"
    # Variant bits 10, 30 random bits, then a 32-bit counter: unique within the call.
    base = (0b10 << 62) | (secrets.randbits(30) << 32)
    return f"('{head}' || lpad(lower(to_hex({base}::UBIGINT + ({position})::UBIGINT)), 16, '0'))"


def fetch(con: duckdb.DuckDBPyConnection, row: type[R], rest: str) -> list[R]:
    """Rows of a DuckDB query as named tuples: `SELECT <row's fields> <rest>`, so the SQL
    and the names cannot drift apart."""
    fields: tuple[str, ...] = row._fields  # type: ignore[attr-defined]
    rows = con.execute(f"SELECT {', '.join(fields)} {rest}").fetchall()
    return [row(*r) for r in rows]


@dataclass
class Writer:
    """What a bulk (set-based) form of a state change writes with: the caller's transaction,
    the DuckDB connection holding the rows to change, a scratch folder and the moment the
    change is stamped with. The domain services take one beside the name of a DuckDB table
    (or view) of rows; every row carries `pensioner_id` (32 hex digits) and `rn`, the
    pensioner's rowid on SQLite (one B-tree seek per update there)."""

    session: Session
    con: duckdb.DuckDBPyConnection
    scratch: Path
    moment: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def pg(self) -> bool:
        return dialect(self.session) == "postgresql"

    @property
    def now(self) -> str:
        """The moment as the database's timestamp text."""
        if self.pg:
            return self.moment.isoformat()
        return self.moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    @property
    def pensioner_key(self) -> str:
        """The column of a row table that addresses its pensioner's row."""
        return "pensioner_id" if self.pg else "rn"

    def made_by(self, actor: audit.Actor, by: str = "created_by") -> dict[str, str]:
        """The constant columns of who made a row and when (for insert)."""
        return {
            f"{by}_type": literal(actor.type),
            f"{by}_id": literal(actor.id),
            "created_at": f"'{self.now}'",
        }

    def new_id(self, position: str = "rowid") -> str:
        return id_maker(self.moment, position)

    def count(self, query: str) -> int:
        row = self.con.execute(f"SELECT count(*) FROM ({query})").fetchone()
        return int(row[0]) if row else 0

    def insert(
        self, table: str, columns: Sequence[str], query: str, constants: Mapping[str, str]
    ) -> int:
        return insert_rows(
            self.session,
            self.con,
            scratch=self.scratch,
            table=table,
            columns=columns,
            constants=constants,
            query=query,
        )

    def set_keys(self, table: str, key: str, assign: str, query: str) -> int:
        """UPDATE `table` SET `assign` WHERE `key` is one of the keys `query` gives."""
        where = {"table": table, "key": key, "query": query}
        step = KEYS_STEP
        return update_keys(
            self.session, self.con, assign=assign, scratch=self.scratch, step=step, **where
        )

    def record_listing(
        self,
        actor: audit.Actor,
        action: str,
        run_id: Any,
        columns: Mapping[str, str],
        *,
        rows: str,
        position: str,
        total: int,
        after: dict[str, Any],
    ) -> int:
        """audit.record_listing of a run's rows: for each row of the DuckDB table or view
        `rows`, in the order of `position` (0, 1, 2, ... without gaps), the VARCHAR
        expressions of `columns` (name -> SQL; ids as 32 hex digits, the form they have
        here, a seventh shorter than with hyphens). DuckDB writes each part's JSON, so no
        Python object is made per row."""
        values = ", ".join(columns.values())
        part = f"{position} // {audit.LISTING_PART_ROWS}"
        found = self.con.execute(
            f"SELECT count(*), to_json(list([{values}] ORDER BY {position}))::VARCHAR "
            f"FROM {rows} GROUP BY {part} ORDER BY {part}"
        )
        return audit.record_listing(
            session=self.session,
            actor=actor,
            action=action,
            entity_type="matching_run",
            entity_id=run_id,
            columns=list(columns),
            total=total,
            parts=iter(found.fetchone, None),
            after=after,
        )

    def set_pensioners(self, assign: str, rows: str, where: str = "true") -> int:
        """UPDATE pensioner SET `assign` for the pensioners of a row table."""
        column = "id" if self.pg else "rowid"
        query = f"SELECT {self.pensioner_key} FROM {rows} WHERE {where}"
        return self.set_keys("pensioner", column, assign, query)

    def set_rows(
        self, table: str, key: str, query: str, columns: list[tuple[str, str]], also: str = ""
    ) -> int:
        """UPDATE `table` from a query of (key, value per column); see update_rows."""
        where = {"table": table, "key": key, "query": query, "also": also}
        return update_rows(self.session, self.con, columns=columns, scratch=self.scratch, **where)


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
    numbered: str | None = None,
) -> int:
    """Run `sql` (no parameters: values already checked) in the database and load the rows
    into DuckDB table `table` with the given (name, DuckDB type) columns, and a row number
    column first when `numbered` names one."""
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
        return _read_csv(con, path, table=table, columns=columns, numbered=numbered)
    finally:
        path.unlink(missing_ok=True)


def load_sqlite_lines(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    *,
    table: str,
    source: str,
    line: str,
    where: str,
    columns: Sequence[tuple[str, str]],
    scratch: Path,
    keyed: str,
    step: int = 20_000,
    part_rows: int = 1_000_000,
) -> int:
    """SQLite: like load_query for a big table, but SQLite itself joins each range of rowids
    into one CSV text, so Python handles one string per 20,000 rows instead of ten objects
    per row. `line` is a row's CSV text, its first field the table's rowid (loaded as the
    column `keyed`: a row key needing no numbering pass), then `columns`; it must never be
    NULL, and one printf() costs SQLite less than a chain of || (one string made, not one
    per part).

    The text comes in parts of about a million rows, and DuckDB parses each part in a
    worker thread while SQLite makes the next one: both release the GIL, so the two cores
    work at once. SQLite runs on the session's own connection (the caller's snapshot)."""
    raw = _driver(session)
    low, high = raw.execute(f"SELECT min(rowid), max(rowid) FROM {source}").fetchone()
    key_type = "INTEGER" if (high or 0) < 2**31 else "BIGINT"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} ({keyed} {key_type}, "
        + ", ".join(f"{name} {typ}" for name, typ in columns)
        + ")"
    )
    scratch.mkdir(parents=True, exist_ok=True)
    statement = (
        f"SELECT group_concat({line}, char(10)) FROM {source} "
        f"WHERE rowid >= ? AND rowid < ?{' AND ' + where if where else ''}"
    )
    parts: list[Path] = []
    with ThreadPoolExecutor(max_workers=1) as parser:
        loads: list[Future[None]] = []
        try:
            start = low or 0
            while start <= (high if high is not None else -1):
                with tempfile.NamedTemporaryFile(
                    "w", dir=scratch, suffix=".csv", delete=False, encoding="utf-8"
                ) as out:
                    parts.append(Path(out.name))
                    stop = min(start + part_rows, high + 1)
                    for first in range(start, stop, step):
                        text = raw.execute(statement, (first, min(first + step, stop))).fetchone()
                        if text[0]:
                            out.write(text[0])
                            out.write("\n")
                    start = stop
                loads.append(
                    parser.submit(
                        _append_csv,
                        con,
                        parts[-1],
                        table=table,
                        columns=[(keyed, key_type), *columns],
                    )
                )
            for load in loads:
                load.result()
        finally:
            for load in loads:
                load.cancel()
            parser.shutdown(wait=True)
            for part in parts:
                part.unlink(missing_ok=True)
    count = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(count[0]) if count else 0


def _append_csv(
    con: duckdb.DuckDBPyConnection, path: Path, *, table: str, columns: Sequence[tuple[str, str]]
) -> None:
    if path.stat().st_size:
        con.execute(f"INSERT INTO {table} {_select_csv(path, columns)}")


def _select_csv(path: Path, columns: Sequence[tuple[str, str]], numbered: str | None = None) -> str:
    """SELECT of a headerless CSV file written by bulk.py, each column cast to its type."""
    spec = ", ".join(f"'{name}': 'VARCHAR'" for name, _ in columns)
    casts = ", ".join(f"CAST({name} AS {typ}) AS {name}" for name, typ in columns)
    if numbered:
        casts = f"(row_number() OVER ())::INTEGER AS {numbered}, {casts}"
    return (
        f"SELECT {casts} FROM read_csv('{path}', header=false, columns={{{spec}}}, "
        "quote='\"', escape='\"', nullstr='', auto_detect=false)"
    )


def _read_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    table: str,
    columns: Sequence[tuple[str, str]],
    numbered: str | None,
) -> int:
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {_select_csv(path, columns, numbered)}")
    count = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(count[0]) if count else 0


def insert_rows(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    *,
    query: str,
    table: str,
    columns: Sequence[str],
    scratch: Path,
    constants: Mapping[str, str] | None = None,
) -> int:
    """INSERT the rows of a DuckDB query (values already in the database's text form).

    `constants` (column -> SQL literal) are the same on every row: SQLite gets them in the
    statement rather than bound once per row; PostgreSQL's COPY gets them in the data."""
    fixed = dict(constants or {})
    raw = _driver(session)
    if dialect(session) == "postgresql":
        names = ", ".join([*columns, *fixed])
        if fixed:
            query = f"SELECT q.*, {', '.join(fixed.values())} FROM ({query}) q"
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
    names = ", ".join([*columns, *fixed])
    values = ", ".join(["?"] * len(columns) + list(fixed.values()))
    return executemany(session, con, f"INSERT INTO {table} ({names}) VALUES ({values})", query)


def executemany(
    session: Session, con: duckdb.DuckDBPyConnection, statement: str, query: str
) -> int:
    """SQLite: run `statement` once per row of the DuckDB query, in large batches."""
    cursor = con.execute(query)
    cur = _driver(session).cursor()
    written = 0
    try:
        while rows := cursor.fetchmany(CHUNK):
            cur.executemany(statement, rows)
            written += len(rows)
    finally:
        cur.close()
    return written


def update_rows(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    *,
    table: str,
    key: str,
    columns: Sequence[tuple[str, str]],
    query: str,
    scratch: Path,
    also: str = "",
    stage_name: str = "lc_update",
) -> int:
    """UPDATE `table` from the rows of a DuckDB query: the key first, then one value per
    (column, PostgreSQL type) of `columns`; `also` is a fixed "col = value, ..." part.

    SQLite: one prepared UPDATE per row by key (a rowid or the primary key, so each is one
    B-tree seek; rows sorted by key touch the pages in order). PostgreSQL: the rows are
    COPYed into a temporary table and joined in a single UPDATE ... FROM."""
    sets = [f"{c} = {'s.' + c if dialect(session) == 'postgresql' else '?'}" for c, _ in columns]
    if also:
        sets.append(also)
    if dialect(session) != "postgresql":
        statement = f"UPDATE {table} SET {', '.join(sets)} WHERE {key} = ?"
        names = [f"c{i}" for i in range(len(columns) + 1)]
        reordered = (
            f"SELECT {', '.join(names[1:] + names[:1])} FROM ({query}) q({', '.join(names)})"
        )
        return executemany(session, con, statement, reordered)
    staged = stage(
        session,
        con,
        query=query,
        name=stage_name,
        columns=[("k", "uuid"), *columns],
        scratch=scratch,
    )
    if not staged:
        return 0
    count = execute(
        session,
        f"UPDATE {table} SET {', '.join(sets)} FROM {stage_name} s WHERE {table}.{key} = s.k",
    )
    execute(session, f"DROP TABLE IF EXISTS {stage_name}")
    return count


def update_keys(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    *,
    table: str,
    key: str,
    assign: str,
    query: str,
    scratch: Path,
    step: int = KEYS_STEP,
) -> int:
    """UPDATE `table` SET `assign` (the same for every row) for the keys a DuckDB query gives.

    SQLite: one statement per 100,000 keys handed over as one JSON array (json_each), so no
    Python object per row; keys sorted so the B-tree pages are visited in order. PostgreSQL:
    the keys are COPYed into a temporary table joined by one UPDATE ... FROM."""
    if dialect(session) == "postgresql":
        return update_rows(
            session,
            con,
            table=table,
            key=key,
            columns=[],
            query=query,
            scratch=scratch,
            also=assign,
        )
    chunks = con.execute(
        f"SELECT '[' || string_agg(to_json(k), ',' ORDER BY k) || ']' FROM "
        f"(SELECT k, (row_number() OVER (ORDER BY k) - 1) // {step} AS chunk "
        f"FROM ({query}) q(k)) GROUP BY chunk ORDER BY chunk"
    ).fetchall()
    raw = _driver(session)
    changed = 0
    for (keys,) in chunks:
        cur = raw.execute(
            f"UPDATE {table} SET {assign} WHERE {key} IN (SELECT value FROM json_each(?))", (keys,)
        )
        changed += int(cur.rowcount or 0)
    return changed


@contextmanager
def tuned_for_bulk(session: Session, *, cache_mib: int = 2048) -> Iterator[None]:
    """SQLite: a page cache big enough for the indexes a bulk run touches (the default 2 MiB
    sends every B-tree seek to the OS), restored afterwards since the connection is pooled.
    PostgreSQL: memory for the joins of UPDATE ... FROM a staged table of millions of rows
    (the default 4 MB spills them to disk), for this transaction only (SET LOCAL).
    Durability is unchanged: same journal, same synchronous setting, one transaction."""
    if dialect(session) == "postgresql":
        execute(session, f"SET LOCAL work_mem = '{max(cache_mib // 2, 4)}MB'")
        # The audit's listings are JSON values of about a megabyte: lz4 compresses them
        # three times faster than the default pglz (the same data written; PostgreSQL 14+).
        lz4 = session.execute(
            sa.text(
                "SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                "WHERE name = 'default_toast_compression'"
            )
        ).scalar()
        if lz4:
            execute(session, "SET LOCAL default_toast_compression = lz4")
        yield
        return
    raw = _driver(session)
    before = raw.execute("PRAGMA cache_size").fetchone()[0]
    raw.execute(f"PRAGMA cache_size = -{cache_mib * 1024}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size = {int(before)}")


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
