"""A matching run: load the register and the records into DuckDB, decide, write the outcomes
in bulk (certifications, death suspensions with their claims, resumptions, tasks, candidates)."""

from __future__ import annotations

import re
import secrets
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
from sqlmodel import Session, col, func, select

from app.audit import service as audit
from app.audit.service import Actor
from app.config import Settings
from app.errors import MatchingRunNotFound, OutOfScope
from app.feeds import store
from app.matching import bulk, engine
from app.overpayments.service import first_unpaid_month
from models.matching import MatchingRun, RunKind
from models.records import FeedBatch
from models.staff import StaffUser

_SCOPE = re.compile(r"^\d{0,6}$")


def _id(column: str) -> str:
    # SQLite keeps UUIDs as 32 hex digits, PostgreSQL prints them with hyphens: compare bare.
    return f"replace(lower(CAST({column} AS TEXT)), '-', '')"


def _timestamp_text(session: Session, value: datetime) -> str:
    if bulk.dialect(session) == "postgresql":
        return value.isoformat()
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _params(
    settings: Settings, as_of: date, make_tasks: bool, batches: tuple[str, ...] | None
) -> engine.RunParams:
    return engine.RunParams(
        as_of=as_of,
        new_suspension_from=first_unpaid_month(as_of, settings.payment_day),
        payment_day=settings.payment_day,
        trusted_sources=tuple(settings.trusted_death_sources),
        weak_days=settings.weak_evidence_days,
        recertify_until=as_of + timedelta(days=settings.recertify_within_days),
        name_threshold=settings.name_match_threshold,
        default_period_months=settings.certification_period_months,
        make_tasks=make_tasks,
        candidate_batches=batches,
    )


class _Clock:
    """Wall time per step, kept in the run's timings."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self.mark = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(self.timings.get(name, 0.0) + now - self.mark, 3)
        self.mark = now


def _load(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    as_of: date,
    scope: str,
    batch_ids: list[uuid.UUID] | None,
    clock: _Clock,
) -> dict[str, int]:
    """The register and the open cases from the database; the records where they lie (the
    batches' Parquet files are read by DuckDB during the decisions, never loaded whole)."""
    scratch = settings.resolved_feeds_dir / "tmp"
    pg = bulk.dialect(session) == "postgresql"
    batch_list = ", ".join(f"'{b.hex}'" for b in batch_ids or [])
    horizon = max((r.window_days for r in settings.evidence_rules.values()), default=0)
    since = (as_of - timedelta(days=horizon)).isoformat()
    deaths = ", ".join(f"'{t}'" for t in engine.DEATH_TYPES)
    only_ids = ""
    if batch_ids is not None:
        # Incremental: only the pensioners the pushed records can concern.
        only_ids = (
            f" AND (national_id IN (SELECT national_id FROM feed_record WHERE batch_id IN "
            f"({batch_list})) OR date_of_birth IN (SELECT date_of_birth FROM feed_record "
            f"WHERE batch_id IN ({batch_list}) AND national_id IS NULL) OR date_of_birth IN "
            f"(SELECT date_of_birth FROM quarantined_record WHERE batch_id IN ({batch_list})))"
        )
    counts: dict[str, int] = {}
    register_columns = [
        ("id", "VARCHAR"),
        ("national_id", "VARCHAR"),
        ("name", "VARCHAR"),
        ("date_of_birth", "DATE"),
        ("region_code", "VARCHAR"),
        ("residence", "VARCHAR"),
        ("mobility_limited", "BOOLEAN"),
        ("monthly_amount_fen", "BIGINT"),
        ("certified_until", "DATE"),
    ]
    in_scope = "benefit_status <> 'terminated'"
    if scope:
        in_scope += f" AND region_code LIKE '{scope}%'"
    if pg:
        counts["register"] = bulk.load_query(
            session,
            con,
            table="register",
            scratch=scratch,
            numbered="rn",
            sql=(
                f"SELECT {_id('id')}, national_id, name, date_of_birth, region_code, residence, "
                "CASE WHEN mobility_limited THEN 1 ELSE 0 END, monthly_amount_fen, "
                f"certified_until FROM pensioner WHERE {in_scope}{only_ids}"
            ),
            columns=register_columns,
        )
    else:
        # SQLite keeps ids as 32 hex digits and booleans as 0/1 already; its rowid lets the
        # write phase update a pensioner with one B-tree seek.
        counts["register"] = bulk.load_sqlite_lines(
            session,
            con,
            table="register",
            scratch=scratch,
            keyed="rn",
            source="pensioner",
            line=(
                "printf('%d,%s,%s,\"%s\",%s,%s,%s,%d,%d,%s', rowid, id, national_id, "
                "replace(name, '\"', '\"\"'), date_of_birth, region_code, residence, "
                "mobility_limited, monthly_amount_fen, certified_until)"
            ),
            where=f"{in_scope}{only_ids}",
            columns=register_columns,
        )
    clock.lap("load_register_s")
    bulk.load_query(
        session,
        con,
        table="open_susp",
        scratch=scratch,
        sql=(
            f"SELECT {_id('id')}, {_id('pensioner_id')}, reason, suspended_from "
            "FROM payment_suspension WHERE resumed_on IS NULL"
        ),
        columns=[
            ("id", "VARCHAR"),
            ("pensioner_id", "VARCHAR"),
            ("reason", "VARCHAR"),
            ("suspended_from", "DATE"),
        ],
    )
    bulk.load_query(
        session,
        con,
        table="open_tasks",
        scratch=scratch,
        sql=(
            f"SELECT {_id('id')}, {_id('pensioner_id')}, kind, due_date "
            "FROM verification_task WHERE status = 'open'"
        ),
        columns=[
            ("id", "VARCHAR"),
            ("pensioner_id", "VARCHAR"),
            ("kind", "VARCHAR"),
            ("due_date", "DATE"),
        ],
    )
    bulk.load_query(
        session,
        con,
        table="regions",
        scratch=scratch,
        sql="SELECT code, certification_period_months FROM region",
        columns=[("code", "VARCHAR"), ("period", "INTEGER")],
    )
    bulk.load_query(
        session,
        con,
        table="known_candidates",
        scratch=scratch,
        sql=f"SELECT record_key, {_id('pensioner_id')} FROM match_candidate",
        columns=[("record_key", "VARCHAR"), ("pensioner_id", "VARCHAR")],
    )
    # Batches, in the order of their ids (which orders a certification's evidence records).
    rules: dict[str, tuple[str | None, int | None]] = {
        k: (r.tier.value, r.window_days) for k, r in settings.evidence_rules.items()
    }
    batches = sorted(session.exec(select(FeedBatch)).all(), key=lambda b: b.id.hex)
    if len(batches) >= 1 << 20:  # engine.hits keeps a batch key in 20 bits
        raise RuntimeError("More than a million feed batches: archive old ones first.")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE batches (bkey INTEGER, batch_id VARCHAR, feed_type VARCHAR, "
        "source VARCHAR, tier VARCHAR, days INTEGER, file VARCHAR, is_death BOOLEAN)"
    )
    rows: list[tuple[object, ...]] = []
    for i, b in enumerate(batches):
        tier, days = rules.get(b.feed_type.value, (None, None))
        path = str(store.absolute(settings, b.records_path)) if b.records_path else None
        rows.append(
            (
                i,
                b.id.hex,
                b.feed_type.value,
                b.source_authority,
                tier,
                days,
                path,
                b.feed_type.is_death,
            )
        )
    if rows:
        con.executemany("INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    record_columns = [
        ("batch_id", "VARCHAR"),
        ("row_number", "BIGINT"),
        ("national_id", "VARCHAR"),
        ("name", "VARCHAR"),
        ("date_of_birth", "DATE"),
        ("event_date", "DATE"),
        ("source_authority", "VARCHAR"),
    ]
    bulk.load_query(
        session,
        con,
        table="pushed",
        scratch=scratch,
        sql=(
            f"SELECT {_id('batch_id')}, row_number, national_id, name, date_of_birth, "
            "event_date, source_authority FROM feed_record "
            f"WHERE event_date >= '{since}' OR feed_type IN ({deaths}) OR national_id IS NULL"
        ),
        columns=record_columns,
    )
    bulk.load_query(
        session,
        con,
        table="quarantine_named",
        scratch=scratch,
        sql=(
            "SELECT 'q:' || CAST(q.id AS TEXT), q.feed_type, q.name, q.date_of_birth, "
            f"q.event_date, b.source_authority, {_id('q.batch_id')} FROM quarantined_record q "
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

    def files(death: bool) -> str:
        """The batches' records files of one kind as (bkey, record columns)."""
        paths = [r for r in rows if r[6] and r[7] is death]
        if not paths:
            return (
                "SELECT NULL::INTEGER AS bkey, NULL::BIGINT AS row_number, "
                "NULL::VARCHAR AS national_id, NULL::VARCHAR AS name, "
                "NULL::DATE AS date_of_birth, NULL::DATE AS event_date, "
                "NULL::VARCHAR AS source_authority WHERE false"
            )
        keys = "[" + ", ".join(str(r[0]) for r in paths) + "]"
        sources = "[" + ", ".join(_literal(str(r[3])) for r in paths) + "]"
        names = ", ".join(_literal(str(r[6])) for r in paths)
        # file_index -> bkey and default source by list position: no join per record.
        return (
            f"SELECT {keys}[file_index::BIGINT + 1] AS bkey, row_number, national_id, name, "
            "date_of_birth, event_date, "
            f"coalesce(source_authority, {sources}[file_index::BIGINT + 1]) AS source_authority "
            f"FROM read_parquet([{names}], union_by_name=true)"
        )

    pushed = (
        "SELECT b.bkey, p.row_number, p.national_id, p.name, p.date_of_birth, p.event_date, "
        "p.source_authority FROM pushed p JOIN batches b ON b.batch_id = p.batch_id "
        "WHERE b.is_death = {death}"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW activity AS {files(False)} UNION ALL "
        + pushed.format(death="false")
    )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW acts AS SELECT bkey, row_number, national_id, event_date "
        f"FROM activity WHERE national_id IS NOT NULL AND event_date >= DATE '{since}'"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE death_recs AS SELECT d.*, b.feed_type FROM "
        f"({files(True)} UNION ALL {pushed.format(death='true')}) d "
        "JOIN batches b ON b.bkey = d.bkey"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE named AS "
        "SELECT bkey, row_number, name, date_of_birth, event_date, source_authority "
        f"FROM activity WHERE national_id IS NULL AND event_date >= DATE '{since}' "
        "UNION ALL SELECT bkey, row_number, name, date_of_birth, event_date, source_authority "
        "FROM death_recs WHERE national_id IS NULL"
    )
    clock.lap("load_other_s")
    return counts


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def run(
    *,
    session: Session,
    settings: Settings,
    actor: Actor,
    kind: RunKind,
    as_of: date | None = None,
    region_scope: str = "",
    batch_ids: list[uuid.UUID] | None = None,
) -> MatchingRun:
    """Decide for every recipient in scope (or, incrementally, those the batches concern).

    All writes happen in the session's transaction: the caller's commit makes the whole run
    visible at once, a failure anywhere leaves the database as it was (see bulk.py)."""
    if not _SCOPE.match(region_scope):
        raise OutOfScope("A region scope is a prefix of a 6-digit region code.")
    as_of = as_of or date.today()
    started = time.perf_counter()
    matching_run = MatchingRun(
        kind=kind,
        as_of=as_of,
        region_scope=region_scope,
        started_by_type=actor.type,
        started_by_id=actor.id,
    )
    session.add(matching_run)
    session.flush()
    timings: dict[str, float] = {}
    clock = _Clock(timings)
    con = store.open_duckdb(settings)
    try:
        with bulk.tuned_for_bulk(session):
            counts = _load(
                session,
                con,
                settings,
                as_of=as_of,
                scope=region_scope,
                batch_ids=batch_ids,
                clock=clock,
            )
            timings["load_s"] = round(time.perf_counter() - started, 3)
            engine.load_rules(con, settings)
            params = _params(
                settings,
                as_of,
                make_tasks=kind is not RunKind.incremental,
                batches=tuple(b.hex for b in batch_ids) if batch_ids is not None else None,
            )
            mark = time.perf_counter()
            engine.decide(con, params, timings)
            timings["decide_s"] = round(time.perf_counter() - mark, 3)
            clock.mark = time.perf_counter()
            mark = time.perf_counter()
            counts.update(
                _write(
                    session,
                    con,
                    settings,
                    run_id=matching_run.id,
                    params=params,
                    actor=actor,
                    clock=clock,
                )
            )
            timings["write_s"] = round(time.perf_counter() - mark, 3)
    finally:
        con.close()
    session.expire_all()
    matching_run = session.get(MatchingRun, matching_run.id) or matching_run
    timings["total_s"] = round(time.perf_counter() - started, 3)
    matching_run.counts = counts
    matching_run.timings = timings
    matching_run.finished_at = datetime.now(UTC)
    session.add(matching_run)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="matching.run",
        entity_type="matching_run",
        entity_id=matching_run.id,
        after={
            "kind": kind.value,
            "as_of": as_of.isoformat(),
            "region_scope": region_scope,
            **counts,
        },
    )
    return matching_run


def _id_maker(now: datetime, position: str = "rowid") -> str:
    """SQL for time-ordered UUIDs (version 7 layout: milliseconds, then a random part fixed
    for the run, then the table row's position) from a DuckDB table's rowid. Rows are written
    in the order of their ids, so each primary-key index grows at its end instead of taking a
    random insert per row, which at millions of rows is most of the cost of an insert."""
    millis = int(now.timestamp() * 1000) & (2**48 - 1)
    head = f"{millis:012x}7{secrets.randbits(12):03x}"
    # Variant bits 10, 30 random bits, then a 32-bit counter: unique within the run.
    base = (0b10 << 62) | (secrets.randbits(30) << 32)
    return f"('{head}' || lpad(lower(to_hex({base}::UBIGINT + ({position})::UBIGINT)), 16, '0'))"


def _write(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    run_id: uuid.UUID,
    params: engine.RunParams,
    actor: Actor,
    clock: _Clock,
) -> dict[str, int]:
    scratch = settings.resolved_feeds_dir / "tmp"
    pg = bulk.dialect(session) == "postgresql"
    moment = datetime.now(UTC)
    now = _timestamp_text(session, moment)

    def new_id(position: str = "rowid") -> str:
        return _id_maker(moment, position)

    run = run_id.hex
    as_of = params.as_of.isoformat()
    counts: dict[str, int] = {}
    # The key a pensioner is updated by: SQLite's rowid (the register's rn there, one B-tree
    # seek), else the id.
    pensioner_key = "pensioner_id" if pg else "rn"
    pensioner_column = "id" if pg else "rowid"

    def keys(table: str, key: str, assign: str, query: str) -> int:
        if key == pensioner_key:
            key = pensioner_column
        return bulk.update_keys(
            session, con, table=table, key=key, assign=assign, query=query, scratch=scratch
        )

    def update(
        table: str, key: str, query: str, columns: list[tuple[str, str]], also: str = ""
    ) -> int:
        return bulk.update_rows(
            session,
            con,
            table=table,
            key=key,
            columns=columns,
            query=query,
            scratch=scratch,
            also=also,
        )

    # --- silent certifications, and resumption of overdue suspensions ---------------------
    con.execute(
        "SET VARIABLE lc_batch = (SELECT coalesce(list(batch_id ORDER BY bkey), []) FROM batches)"
    )
    con.execute(
        "SET VARIABLE lc_feed = (SELECT coalesce(list(feed_type ORDER BY bkey), []) FROM batches)"
    )
    # Decoding engine.hits' record numbers: batch key, row number, tier, days before as_of.
    records = (
        "list_transform(records, lambda x: struct_pack("
        "record := getvariable('lc_batch')[((x >> 32) & 1048575) + 1] || ':' "
        "|| (x & 4294967295), "
        "feed := getvariable('lc_feed')[((x >> 32) & 1048575) + 1], "
        "tier := CASE WHEN x >> 62 = 1 THEN 'weak' ELSE 'strong' END, "
        f"date := strftime(DATE '{as_of}' - ((x >> 52) & 1023)::INTEGER, '%Y-%m-%d')))"
    )
    counts["certified"] = bulk.insert_rows(
        session,
        con,
        scratch=scratch,
        table="certification",
        columns=["id", "pensioner_id", "valid_until", "evidence"],
        constants={
            "method": "'data_comparison'",
            "certified_at": f"'{now}'",
            "decided_by_type": "'system'",
            "decided_by_id": f"'matching:{run}'",
            "created_at": f"'{now}'",
        },
        query=(
            f"SELECT {new_id('pos')}, pensioner_id, strftime(valid_until, '%Y-%m-%d'), "
            "to_json(struct_pack("
            f"run_id := '{run_id}', rule := CASE WHEN strong > 0 THEN 'strong' ELSE 'weak' END, "
            "strong := strong, weak_days := weak_days, "
            f"last_seen := strftime(last_seen, '%Y-%m-%d'), records := {records}))::VARCHAR "
            "FROM (SELECT c.*, c.rowid AS pos, s.records FROM to_certify c "
            "JOIN shown s ON s.rn = c.rn) ORDER BY pos"
        ),
    )
    clock.lap("write_certifications_s")
    # Certified until: one UPDATE per date (a handful: one per region period) and chunk.
    for (valid_until,) in con.execute(
        "SELECT DISTINCT strftime(valid_until, '%Y-%m-%d') FROM to_certify ORDER BY 1"
    ).fetchall():
        keys(
            "pensioner",
            pensioner_key,
            f"certified_until = '{valid_until}'",
            f"SELECT {pensioner_key} FROM to_certify WHERE strftime(valid_until, '%Y-%m-%d') = "
            f"'{valid_until}' AND (certified_until IS NULL OR certified_until < valid_until)",
        )
    clock.lap("write_certified_until_s")
    counts["tasks_closed"] = keys(
        "verification_task",
        "id",
        "status = 'done', outcome = 'certified', "
        f"completed_by_id = 'matching:{run}', completed_at = '{now}'",
        "SELECT t.id FROM open_tasks t JOIN to_certify c ON c.pensioner_id = t.pensioner_id",
    )
    resumed = con.execute(
        "SELECT pensioner_id, suspension_id, region_code, strftime(suspended_from, '%Y-%m-%d'), "
        f"greatest(0, datediff('month', suspended_from, DATE '{as_of}'))::BIGINT AS months, "
        "monthly_amount_fen FROM to_certify WHERE suspension_id IS NOT NULL"
    ).fetchall()
    counts["resumed"] = len(resumed)
    if resumed:
        months = f"greatest(0, datediff('month', suspended_from, DATE '{as_of}'))"
        update(
            "payment_suspension",
            "id",
            f"SELECT suspension_id, {months}, {months} * monthly_amount_fen FROM to_certify "
            "WHERE suspension_id IS NOT NULL",
            [("back_pay_months", "integer"), ("back_pay_fen", "bigint")],
            also=f"resumed_on = '{as_of}', resume_reason = 'certified by data_comparison'",
        )
        keys(
            "pensioner",
            pensioner_key,
            "benefit_status = 'active'",
            f"SELECT {pensioner_key} FROM to_certify WHERE suspension_id IS NOT NULL",
        )
    clock.lap("write_resumed_s")
    # --- deaths: suspend (or turn an open suspension into a death one) and claim ---------
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE death_out AS SELECT d.*, "
        "c.payments, c.amount_fen, c.first_payment_date, c.last_payment_date, "
        f"to_json(struct_pack(run_id := '{run_id}', "
        "date_of_death := strftime(d.date_of_death, '%Y-%m-%d'), records := d.records, "
        "activity_after_death := d.activity_after_death, previous_reason := d.open_reason)"
        ")::VARCHAR AS evidence "
        "FROM deaths d LEFT JOIN claims c ON c.rn = d.rn ORDER BY d.pensioner_id"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE death_out AS SELECT *, "
        f"coalesce(suspension_id, {new_id()}) AS sid FROM death_out"
    )
    counts["deaths"] = bulk.insert_rows(
        session,
        con,
        scratch=scratch,
        table="payment_suspension",
        columns=["id", "pensioner_id", "evidence"],
        constants={
            "reason": "'death'",
            "suspended_from": f"'{params.new_suspension_from.isoformat()}'",
            "created_by_type": "'system'",
            "created_by_id": f"'matching:{run}'",
            "created_at": f"'{now}'",
        },
        query="SELECT sid, pensioner_id, evidence FROM death_out WHERE suspension_id IS NULL",
    )
    escalated = con.execute(
        "SELECT count(*) FROM death_out WHERE suspension_id IS NOT NULL"
    ).fetchone()
    counts["deaths_already_suspended"] = int(escalated[0]) if escalated else 0
    counts["deaths"] += counts["deaths_already_suspended"]
    if counts["deaths_already_suspended"]:
        update(
            "payment_suspension",
            "id",
            "SELECT sid, evidence FROM death_out WHERE suspension_id IS NOT NULL",
            [("evidence", "json")],
            also="reason = 'death'",
        )
    if counts["deaths"]:
        keys(
            "pensioner",
            pensioner_key,
            "benefit_status = 'suspended'",
            f"SELECT {pensioner_key} FROM death_out",
        )
    counts["claims"] = bulk.insert_rows(
        session,
        con,
        scratch=scratch,
        table="overpayment_claim",
        columns=[
            "id",
            "pensioner_id",
            "suspension_id",
            "region_code",
            "date_of_death",
            "first_payment_date",
            "last_payment_date",
            "payments",
            "amount_fen",
            "evidence",
        ],
        constants={
            "recovered_fen": "0",
            "status": "'open'",
            "created_at": f"'{now}'",
            "updated_at": f"'{now}'",
        },
        query=(
            f"SELECT {new_id('pos')}, pensioner_id, sid, region_code, "
            "strftime(date_of_death, '%Y-%m-%d'), strftime(first_payment_date, '%Y-%m-%d'), "
            "strftime(last_payment_date, '%Y-%m-%d'), payments, amount_fen, "
            "evidence FROM (SELECT *, rowid AS pos FROM death_out WHERE payments > 0) ORDER BY pos"
        ),
    )
    row = con.execute("SELECT coalesce(sum(amount_fen), 0) FROM death_out").fetchone()
    counts["claimed_fen"] = int(row[0]) if row else 0
    clock.lap("write_deaths_s")
    # --- verification tasks ---------------------------------------------------------------
    due = (params.as_of + timedelta(days=settings.task_due_days)).isoformat()
    counts["tasks"] = bulk.insert_rows(
        session,
        con,
        scratch=scratch,
        table="verification_task",
        columns=["id", "pensioner_id", "region_code", "kind", "reason"],
        constants={
            "status": "'open'",
            "due_date": f"'{due}'",
            "run_id": f"'{run}'",
            "created_by_type": "'system'",
            "created_by_id": f"'matching:{run}'",
            "created_at": f"'{now}'",
            "evidence": "'{}'",
        },
        query=(
            f"SELECT {new_id()}, pensioner_id, region_code, kind, reason FROM new_tasks "
            "ORDER BY rowid"
        ),
    )
    keys(
        "verification_task",
        "id",
        "status = 'escalated'",
        "SELECT t.id FROM open_tasks t JOIN new_tasks n ON n.pensioner_id = t.pensioner_id "
        "WHERE n.kind <> 'remote_prompt' AND n.prompt_since IS NOT NULL "
        "AND t.kind = 'remote_prompt'",
    )
    for kind_row in con.execute("SELECT kind, count(*) FROM new_tasks GROUP BY kind").fetchall():
        counts[f"tasks_{kind_row[0]}"] = int(kind_row[1])
    clock.lap("write_tasks_s")
    # --- candidates for staff ---------------------------------------------------------------
    counts["candidates"] = bulk.insert_rows(
        session,
        con,
        scratch=scratch,
        table="match_candidate",
        columns=[
            "id",
            "pensioner_id",
            "region_code",
            "kind",
            "record_key",
            "feed_type",
            "event_date",
            "record_name",
            "record_date_of_birth",
            "score",
            "evidence",
        ],
        constants={"status": "'pending'", "run_id": f"'{run}'", "created_at": f"'{now}'"},
        query=(
            f"SELECT {new_id()}, pensioner_id, region_code, kind, record_key, "
            "feed_type, strftime(event_date, '%Y-%m-%d'), record_name, "
            "strftime(record_dob, '%Y-%m-%d'), round(score, 4), "
            "to_json(struct_pack(source := source_authority))::VARCHAR FROM candidates"
        ),
    )
    clock.lap("write_candidates_s")
    # --- the audit trail: every change of payment, one event each -------------------------
    events: list[dict[str, Any]] = []
    for pid, sid, region, since, months, amount in resumed:
        events.append(
            {
                "action": "payment.resume",
                "entity_type": "pensioner",
                "entity_id": str(uuid.UUID(pid)),
                "region_code": region,
                "before": {"benefit_status": "suspended", "suspended_from": since},
                "after": {
                    "benefit_status": "active",
                    "reason": "certified by data_comparison",
                    "suspension_id": str(uuid.UUID(sid)),
                    "back_pay_months": months,
                    "back_pay_fen": months * amount,
                    "run_id": str(run_id),
                },
            }
        )
    for pid, region, death_day, open_reason, payments, amount_fen in con.execute(
        "SELECT pensioner_id, region_code, strftime(date_of_death, '%Y-%m-%d'), open_reason, "
        "payments, amount_fen FROM death_out ORDER BY pensioner_id"
    ).fetchall():
        events.append(
            {
                "action": "payment.suspend",
                "entity_type": "pensioner",
                "entity_id": str(uuid.UUID(pid)),
                "region_code": region,
                "before": {"open_suspension_reason": open_reason},
                "after": {
                    "benefit_status": "suspended",
                    "reason": "death",
                    "date_of_death": death_day,
                    "overpaid_payments": payments or 0,
                    "claim_fen": amount_fen or 0,
                    "run_id": str(run_id),
                },
            }
        )
    audit.record_many(session=session, actor=actor, events=events, json_safe=True)
    clock.lap("write_audit_s")
    return counts


def get_run(*, session: Session, staff: StaffUser, run_id: uuid.UUID) -> MatchingRun:
    found = session.get(MatchingRun, run_id)
    if found is None or not found.region_scope.startswith(staff.region_scope):
        raise MatchingRunNotFound()
    return found


def list_runs(
    *, session: Session, staff: StaffUser, limit: int, offset: int
) -> tuple[list[MatchingRun], int]:
    conditions = (
        [col(MatchingRun.region_scope).startswith(staff.region_scope)] if staff.region_scope else []
    )
    total = session.exec(select(func.count()).select_from(MatchingRun).where(*conditions)).one()
    rows = session.exec(
        select(MatchingRun)
        .where(*conditions)
        .order_by(col(MatchingRun.started_at).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total)
