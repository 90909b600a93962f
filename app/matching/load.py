"""The load phase of a matching run: the register and the open cases from the database into
DuckDB, and the feeds' records where they lie (the batches' Parquet files are read by DuckDB
during the decisions, never loaded whole). Produces the input tables engine.py names."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import NamedTuple

import duckdb
from sqlmodel import Session, select

from app.config import Settings
from app.feeds import store
from app.matching import bulk, engine
from models.records import FeedBatch


def sql_id(column: str) -> str:
    """A UUID column as 32 hex digits: SQLite keeps them so, PostgreSQL prints hyphens."""
    return f"replace(lower(CAST({column} AS TEXT)), '-', '')"


class Batch(NamedTuple):
    """A feed batch as the decisions see it; `bkey` is its position in the order of ids."""

    bkey: int
    batch_id: str
    feed_type: str
    source: str
    tier: str | None
    days: int | None
    file: str | None
    is_death: bool


REGISTER_COLUMNS = [
    ("id", "VARCHAR"),
    ("national_id", "VARCHAR"),
    ("name", "VARCHAR"),
    ("date_of_birth", "DATE"),
    ("region_code", "VARCHAR"),
    ("residence", "VARCHAR"),
    ("mobility_limited", "BOOLEAN"),
    ("monthly_amount_fen", "BIGINT"),
    ("certified_until", "DATE"),
    ("benefit_status", "VARCHAR"),
]
RECORD_COLUMNS = [
    ("batch_id", "VARCHAR"),
    ("row_number", "BIGINT"),
    ("national_id", "VARCHAR"),
    ("name", "VARCHAR"),
    ("date_of_birth", "DATE"),
    ("event_date", "DATE"),
    ("source_authority", "VARCHAR"),
]


def load(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    as_of: date,
    scope: str,
    batch_ids: list[uuid.UUID] | None,
    lap: Callable[[str], None],
) -> dict[str, int]:
    """Every input table of engine.decide; returns the counts (the register's size)."""
    scratch = settings.resolved_feeds_dir / "tmp"
    counts = {"register": load_register(session, con, scratch, scope=scope, batch_ids=batch_ids)}
    lap("load_register_s")
    load_open_cases(session, con, scratch)
    horizon = max((r.window_days for r in settings.evidence_rules.values()), default=0)
    since = (as_of - timedelta(days=horizon)).isoformat()
    batches = load_batches(session, con, settings)
    load_records(session, con, scratch, since=since, batches=batches)
    lap("load_other_s")
    return counts


def load_register(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    scratch: Path,
    *,
    scope: str,
    batch_ids: list[uuid.UUID] | None,
) -> int:
    """The recipients in scope (incremental: only those the pushed batches can concern)."""
    in_scope = "benefit_status <> 'terminated'"
    if scope:
        in_scope += f" AND region_code LIKE '{scope}%'"
    if batch_ids is not None:
        batch_list = ", ".join(f"'{b.hex}'" for b in batch_ids)
        in_scope += (
            f" AND (national_id IN (SELECT national_id FROM feed_record WHERE batch_id IN "
            f"({batch_list})) OR date_of_birth IN (SELECT date_of_birth FROM feed_record "
            f"WHERE batch_id IN ({batch_list}) AND national_id IS NULL) OR date_of_birth IN "
            f"(SELECT date_of_birth FROM quarantined_record WHERE batch_id IN ({batch_list})))"
        )
    if bulk.dialect(session) == "postgresql":
        return bulk.load_query(
            session,
            con,
            table="register",
            scratch=scratch,
            numbered="rn",
            sql=(
                f"SELECT {sql_id('id')}, national_id, name, date_of_birth, region_code, "
                "residence, CASE WHEN mobility_limited THEN 1 ELSE 0 END, monthly_amount_fen, "
                f"certified_until, benefit_status FROM pensioner WHERE {in_scope}"
            ),
            columns=REGISTER_COLUMNS,
        )
    # SQLite keeps ids as 32 hex digits and booleans as 0/1 already; its rowid lets the
    # write phase update a pensioner with one B-tree seek.
    return bulk.load_sqlite_lines(
        session,
        con,
        table="register",
        scratch=scratch,
        keyed="rn",
        source="pensioner",
        line=(
            "printf('%d,%s,%s,\"%s\",%s,%s,%s,%d,%d,%s,%s', rowid, id, national_id, "
            "replace(name, '\"', '\"\"'), date_of_birth, region_code, residence, "
            "mobility_limited, monthly_amount_fen, certified_until, benefit_status)"
        ),
        where=in_scope,
        columns=REGISTER_COLUMNS,
    )


def load_open_cases(session: Session, con: duckdb.DuckDBPyConnection, scratch: Path) -> None:
    """Open suspensions and tasks, the regions' periods and the candidates already made."""
    tables: dict[str, tuple[str, list[tuple[str, str]]]] = {
        "open_susp": (
            f"SELECT {sql_id('id')}, {sql_id('pensioner_id')}, reason, suspended_from "
            "FROM payment_suspension WHERE resumed_on IS NULL",
            [
                ("id", "VARCHAR"),
                ("pensioner_id", "VARCHAR"),
                ("reason", "VARCHAR"),
                ("suspended_from", "DATE"),
            ],
        ),
        "open_tasks": (
            f"SELECT {sql_id('id')}, {sql_id('pensioner_id')}, kind, due_date "
            "FROM verification_task WHERE status = 'open'",
            [
                ("id", "VARCHAR"),
                ("pensioner_id", "VARCHAR"),
                ("kind", "VARCHAR"),
                ("due_date", "DATE"),
            ],
        ),
        "regions": (
            "SELECT code, certification_period_months FROM region",
            [("code", "VARCHAR"), ("period", "INTEGER")],
        ),
        "known_candidates": (
            f"SELECT record_key, {sql_id('pensioner_id')} FROM match_candidate",
            [("record_key", "VARCHAR"), ("pensioner_id", "VARCHAR")],
        ),
    }
    for table, (sql, columns) in tables.items():
        bulk.load_query(session, con, table=table, scratch=scratch, sql=sql, columns=columns)


def load_batches(
    session: Session, con: duckdb.DuckDBPyConnection, settings: Settings
) -> list[Batch]:
    """The batches, in the order of their ids (which orders a certification's records)."""
    rules = {k: (r.tier.value, r.window_days) for k, r in settings.evidence_rules.items()}
    found = sorted(session.exec(select(FeedBatch)).all(), key=lambda b: b.id.hex)
    if len(found) >= 1 << 20:  # engine.hits keeps a batch key in 20 bits
        raise RuntimeError("More than a million feed batches: archive old ones first.")
    batches: list[Batch] = []
    for i, b in enumerate(found):
        tier, days = rules.get(b.feed_type.value, (None, None))
        batches.append(
            Batch(
                bkey=i,
                batch_id=b.id.hex,
                feed_type=b.feed_type.value,
                source=b.source_authority,
                tier=tier,
                days=days,
                file=str(store.absolute(settings, b.records_path)) if b.records_path else None,
                is_death=b.feed_type.is_death,
            )
        )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE batches (bkey INTEGER, batch_id VARCHAR, feed_type VARCHAR, "
        "source VARCHAR, tier VARCHAR, days INTEGER, file VARCHAR, is_death BOOLEAN)"
    )
    if batches:
        con.executemany(
            f"INSERT INTO batches ({', '.join(Batch._fields)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            batches,
        )
    return batches


def _files(batches: list[Batch], *, death: bool) -> str:
    """The batches' records files of one kind as (bkey, record columns)."""
    kept = [b for b in batches if b.file and b.is_death is death]
    if not kept:
        return (
            "SELECT NULL::INTEGER AS bkey, NULL::BIGINT AS row_number, "
            "NULL::VARCHAR AS national_id, NULL::VARCHAR AS name, "
            "NULL::DATE AS date_of_birth, NULL::DATE AS event_date, "
            "NULL::VARCHAR AS source_authority WHERE false"
        )
    keys = "[" + ", ".join(str(b.bkey) for b in kept) + "]"
    sources = "[" + ", ".join(bulk.literal(b.source) for b in kept) + "]"
    names = ", ".join(bulk.literal(str(b.file)) for b in kept)
    # file_index -> bkey and default source by list position: no join per record.
    return (
        f"SELECT {keys}[file_index::BIGINT + 1] AS bkey, row_number, national_id, name, "
        "date_of_birth, event_date, "
        f"coalesce(source_authority, {sources}[file_index::BIGINT + 1]) AS source_authority "
        f"FROM read_parquet([{names}], union_by_name=true)"
    )


def load_records(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    scratch: Path,
    *,
    since: str,
    batches: list[Batch],
) -> None:
    """Records pushed one by one (kept in the database), quarantined ones with a name, and
    the views over them and the batches' files: activity, acts, death_recs, named."""
    deaths = ", ".join(f"'{t}'" for t in engine.DEATH_TYPES)
    bulk.load_query(
        session,
        con,
        table="pushed",
        scratch=scratch,
        sql=(
            f"SELECT {sql_id('batch_id')}, row_number, national_id, name, date_of_birth, "
            "event_date, source_authority FROM feed_record "
            f"WHERE event_date >= '{since}' OR feed_type IN ({deaths}) OR national_id IS NULL"
        ),
        columns=RECORD_COLUMNS,
    )
    bulk.load_query(
        session,
        con,
        table="quarantine_named",
        scratch=scratch,
        sql=(
            "SELECT 'q:' || CAST(q.id AS TEXT), q.feed_type, q.name, q.date_of_birth, "
            f"q.event_date, b.source_authority, {sql_id('q.batch_id')} FROM quarantined_record q "
            "JOIN feed_batch b ON b.id = q.batch_id WHERE q.name IS NOT NULL "
            "AND q.date_of_birth IS NOT NULL AND q.event_date IS NOT NULL"
        ),
        columns=[
            ("record_key", "VARCHAR"),
            ("feed_type", "VARCHAR"),
            ("name", "VARCHAR"),
            ("date_of_birth", "DATE"),
            ("event_date", "DATE"),
            ("source_authority", "VARCHAR"),
            ("batch_id", "VARCHAR"),
        ],
    )
    pushed = (
        "SELECT b.bkey, p.row_number, p.national_id, p.name, p.date_of_birth, p.event_date, "
        "p.source_authority FROM pushed p JOIN batches b ON b.batch_id = p.batch_id "
        "WHERE b.is_death = {death}"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW activity AS {_files(batches, death=False)} UNION ALL "
        + pushed.format(death="false")
    )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW acts AS SELECT bkey, row_number, national_id, event_date "
        f"FROM activity WHERE national_id IS NOT NULL AND event_date >= DATE '{since}'"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE death_recs AS SELECT d.*, b.feed_type FROM "
        f"({_files(batches, death=True)} UNION ALL {pushed.format(death='true')}) d "
        "JOIN batches b ON b.bkey = d.bkey"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE named AS "
        "SELECT bkey, row_number, name, date_of_birth, event_date, source_authority "
        f"FROM activity WHERE national_id IS NULL AND event_date >= DATE '{since}' "
        "UNION ALL SELECT bkey, row_number, name, date_of_birth, event_date, source_authority "
        "FROM death_recs WHERE national_id IS NULL"
    )
