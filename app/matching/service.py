"""A matching run: load the register and the records into DuckDB, decide, write the outcomes
in bulk (certifications, death suspensions with their claims, resumptions, tasks, candidates)."""

from __future__ import annotations

import re
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


def _load(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    as_of: date,
    scope: str,
    batch_ids: list[uuid.UUID] | None,
) -> dict[str, int]:
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
    counts["register"] = bulk.load_query(
        session,
        con,
        table="register",
        scratch=scratch,
        sql=(
            f"SELECT {_id('id')}, national_id, name, date_of_birth, region_code, residence, "
            "CASE WHEN mobility_limited THEN 1 ELSE 0 END, monthly_amount_fen, certified_until "
            f"FROM pensioner WHERE benefit_status <> 'terminated' "
            f"AND region_code LIKE '{scope}%'{only_ids}"
        ),
        columns=[
            ("id", "VARCHAR"),
            ("national_id", "VARCHAR"),
            ("name", "VARCHAR"),
            ("date_of_birth", "DATE"),
            ("region_code", "VARCHAR"),
            ("residence", "VARCHAR"),
            ("mobility_limited", "BOOLEAN"),
            ("monthly_amount_fen", "BIGINT"),
            ("certified_until", "DATE"),
        ],
    )
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
            f"SELECT {_id('pensioner_id')}, kind, due_date "
            "FROM verification_task WHERE status = 'open'"
        ),
        columns=[("pensioner_id", "VARCHAR"), ("kind", "VARCHAR"), ("due_date", "DATE")],
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
    record_columns = [
        ("batch_id", "VARCHAR"),
        ("row_number", "BIGINT"),
        ("feed_type", "VARCHAR"),
        ("national_id", "VARCHAR"),
        ("name", "VARCHAR"),
        ("date_of_birth", "DATE"),
        ("event_date", "DATE"),
        ("facility", "VARCHAR"),
        ("source_authority", "VARCHAR"),
    ]
    recent = f"(event_date >= '{since}' OR feed_type IN ({deaths}) OR national_id IS NULL)"
    bulk.load_query(
        session,
        con,
        table="pushed",
        scratch=scratch,
        sql=(
            f"SELECT {_id('batch_id')}, row_number, feed_type, national_id, name, "
            "date_of_birth, event_date, facility, source_authority FROM feed_record "
            f"WHERE {recent}"
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
    paths = [
        str(store.absolute(settings, p))
        for p in session.exec(
            select(FeedBatch.records_path).where(col(FeedBatch.records_path).is_not(None))
        ).all()
        if p
    ]
    files = (
        "SELECT batch_id, row_number, feed_type, national_id, name, date_of_birth, event_date, "
        f"facility, source_authority FROM read_parquet([{', '.join(repr(p) for p in paths)}]) "
        f"WHERE {recent} UNION ALL "
        if paths
        else ""
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE recs AS {files}SELECT * FROM pushed WHERE {recent}")
    _ = pg
    row = con.execute("SELECT count(*) FROM recs").fetchone()
    counts["records_considered"] = int(row[0]) if row else 0
    return counts


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
    """Decide for every recipient in scope (or, incrementally, those the batches concern)."""
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
    con = store.open_duckdb(settings)
    try:
        counts = _load(session, con, settings, as_of=as_of, scope=region_scope, batch_ids=batch_ids)
        timings["load_s"] = round(time.perf_counter() - started, 3)
        engine.load_rules(con, settings)
        params = _params(
            settings,
            as_of,
            make_tasks=kind is not RunKind.incremental,
            batches=tuple(b.hex for b in batch_ids) if batch_ids is not None else None,
        )
        mark = time.perf_counter()
        engine.decide(con, params)
        timings["decide_s"] = round(time.perf_counter() - mark, 3)
        mark = time.perf_counter()
        counts.update(
            _write(session, con, settings, run_id=matching_run.id, params=params, actor=actor)
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


def _write(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    run_id: uuid.UUID,
    params: engine.RunParams,
    actor: Actor,
) -> dict[str, int]:
    scratch = settings.resolved_feeds_dir / "tmp"
    pg = bulk.dialect(session) == "postgresql"
    now = _timestamp_text(session, datetime.now(UTC))
    run = run_id.hex
    as_of = params.as_of.isoformat()
    new_id = "replace(CAST(gen_random_uuid() AS VARCHAR), '-', '')"
    counts: dict[str, int] = {}

    def stage(name: str, query: str, columns: list[tuple[str, str]]) -> int:
        return bulk.stage(session, con, query=query, name=name, columns=columns, scratch=scratch)

    # --- silent certifications, and resumption of overdue suspensions ---------------------
    counts["certified"] = bulk.insert_rows(
        session,
        con,
        scratch=scratch,
        table="certification",
        columns=[
            "id",
            "pensioner_id",
            "method",
            "certified_at",
            "valid_until",
            "evidence",
            "decided_by_type",
            "decided_by_id",
            "created_at",
        ],
        query=(
            f"SELECT {new_id}, pensioner_id, 'data_comparison', '{now}', "
            "strftime(valid_until, '%Y-%m-%d'), to_json(struct_pack("
            f"run_id := '{run_id}', rule := CASE WHEN strong > 0 THEN 'strong' ELSE 'weak' END, "
            "strong := strong, weak_days := weak_days, "
            "last_seen := strftime(last_seen, '%Y-%m-%d'), records := records))::VARCHAR, "
            f"'system', 'matching:{run}', '{now}' FROM to_certify ORDER BY pensioner_id"
        ),
    )
    if counts["certified"]:
        stage(
            "lc_certified",
            "SELECT pensioner_id, strftime(valid_until, '%Y-%m-%d') FROM to_certify",
            [("pensioner_id", "uuid"), ("valid_until", "date")],
        )
        bulk.execute(
            session,
            "UPDATE pensioner SET certified_until = s.valid_until FROM lc_certified s "
            "WHERE pensioner.id = s.pensioner_id AND (pensioner.certified_until IS NULL "
            "OR pensioner.certified_until < s.valid_until)",
        )
        counts["tasks_closed"] = bulk.execute(
            session,
            "UPDATE verification_task SET status = 'done', outcome = 'certified', "
            f"completed_by_id = 'matching:{run}', completed_at = '{now}' FROM lc_certified s "
            "WHERE verification_task.pensioner_id = s.pensioner_id "
            "AND verification_task.status = 'open'",
        )
    resumed = con.execute(
        "SELECT pensioner_id, suspension_id, region_code, strftime(suspended_from, '%Y-%m-%d'), "
        f"greatest(0, datediff('month', suspended_from, DATE '{as_of}'))::BIGINT AS months, "
        "monthly_amount_fen FROM to_certify WHERE suspension_id IS NOT NULL"
    ).fetchall()
    counts["resumed"] = len(resumed)
    if resumed:
        stage(
            "lc_resumed",
            f"SELECT suspension_id, pensioner_id, greatest(0, datediff('month', suspended_from, "
            f"DATE '{as_of}')) AS months, greatest(0, datediff('month', suspended_from, "
            f"DATE '{as_of}')) * monthly_amount_fen AS fen FROM to_certify "
            "WHERE suspension_id IS NOT NULL",
            [
                ("suspension_id", "uuid"),
                ("pensioner_id", "uuid"),
                ("months", "integer"),
                ("fen", "bigint"),
            ],
        )
        bulk.execute(
            session,
            f"UPDATE payment_suspension SET resumed_on = '{as_of}', "
            "resume_reason = 'certified by data_comparison', back_pay_months = s.months, "
            "back_pay_fen = s.fen FROM lc_resumed s WHERE payment_suspension.id = s.suspension_id",
        )
        bulk.execute(
            session,
            "UPDATE pensioner SET benefit_status = 'active' FROM lc_resumed s "
            "WHERE pensioner.id = s.pensioner_id",
        )
    # --- deaths: suspend (or turn an open suspension into a death one) and claim ---------
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE death_out AS SELECT d.*, "
        f"coalesce(d.suspension_id, {new_id}) AS sid, c.payments, c.amount_fen, "
        "c.first_payment_date, c.last_payment_date, "
        f"to_json(struct_pack(run_id := '{run_id}', "
        "date_of_death := strftime(d.date_of_death, '%Y-%m-%d'), records := d.records, "
        "activity_after_death := d.activity_after_death, previous_reason := d.open_reason)"
        ")::VARCHAR AS evidence "
        "FROM deaths d LEFT JOIN claims c ON c.pensioner_id = d.pensioner_id"
    )
    counts["deaths"] = bulk.insert_rows(
        session,
        con,
        scratch=scratch,
        table="payment_suspension",
        columns=[
            "id",
            "pensioner_id",
            "reason",
            "suspended_from",
            "evidence",
            "created_by_type",
            "created_by_id",
            "created_at",
        ],
        query=(
            f"SELECT sid, pensioner_id, 'death', '{params.new_suspension_from.isoformat()}', "
            f"evidence, 'system', 'matching:{run}', '{now}' FROM death_out "
            "WHERE suspension_id IS NULL"
        ),
    )
    escalated = con.execute(
        "SELECT count(*) FROM death_out WHERE suspension_id IS NOT NULL"
    ).fetchone()
    counts["deaths_already_suspended"] = int(escalated[0]) if escalated else 0
    counts["deaths"] += counts["deaths_already_suspended"]
    if counts["deaths"]:
        stage(
            "lc_deaths",
            "SELECT sid, pensioner_id, evidence, suspension_id IS NOT NULL FROM death_out",
            [
                ("sid", "uuid"),
                ("pensioner_id", "uuid"),
                ("evidence", "json"),
                ("escalate", "boolean"),
            ],
        )
        bulk.execute(
            session,
            "UPDATE payment_suspension SET reason = 'death', evidence = s.evidence "
            "FROM lc_deaths s WHERE payment_suspension.id = s.sid AND s.escalate"
            + ("" if pg else " = 1"),
        )
        bulk.execute(
            session,
            "UPDATE pensioner SET benefit_status = 'suspended' FROM lc_deaths s "
            "WHERE pensioner.id = s.pensioner_id",
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
            "recovered_fen",
            "status",
            "evidence",
            "created_at",
            "updated_at",
        ],
        query=(
            f"SELECT {new_id}, pensioner_id, sid, region_code, "
            "strftime(date_of_death, '%Y-%m-%d'), strftime(first_payment_date, '%Y-%m-%d'), "
            "strftime(last_payment_date, '%Y-%m-%d'), payments, amount_fen, 0, 'open', "
            f"evidence, '{now}', '{now}' FROM death_out WHERE payments > 0"
        ),
    )
    row = con.execute("SELECT coalesce(sum(amount_fen), 0) FROM death_out").fetchone()
    counts["claimed_fen"] = int(row[0]) if row else 0
    # --- verification tasks ---------------------------------------------------------------
    due = (params.as_of + timedelta(days=settings.task_due_days)).isoformat()
    counts["tasks"] = bulk.insert_rows(
        session,
        con,
        scratch=scratch,
        table="verification_task",
        columns=[
            "id",
            "pensioner_id",
            "region_code",
            "kind",
            "status",
            "reason",
            "due_date",
            "run_id",
            "created_by_type",
            "created_by_id",
            "created_at",
            "evidence",
        ],
        query=(
            f"SELECT {new_id}, pensioner_id, region_code, kind, 'open', reason, '{due}', "
            f"'{run}', 'system', 'matching:{run}', '{now}', '{{}}' FROM new_tasks"
        ),
    )
    escalate = (
        "SELECT pensioner_id FROM new_tasks WHERE kind <> 'remote_prompt' "
        "AND prompt_since IS NOT NULL"
    )
    if (con.execute(f"SELECT count(*) FROM ({escalate})").fetchone() or (0,))[0]:
        stage("lc_escalate", escalate, [("pensioner_id", "uuid")])
        bulk.execute(
            session,
            "UPDATE verification_task SET status = 'escalated' FROM lc_escalate s "
            "WHERE verification_task.pensioner_id = s.pensioner_id "
            "AND verification_task.kind = 'remote_prompt' AND verification_task.status = 'open'",
        )
    for kind_row in con.execute("SELECT kind, count(*) FROM new_tasks GROUP BY kind").fetchall():
        counts[f"tasks_{kind_row[0]}"] = int(kind_row[1])
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
            "status",
            "record_key",
            "feed_type",
            "event_date",
            "record_name",
            "record_date_of_birth",
            "score",
            "evidence",
            "run_id",
            "created_at",
        ],
        query=(
            f"SELECT {new_id}, pensioner_id, region_code, kind, 'pending', record_key, "
            "feed_type, strftime(event_date, '%Y-%m-%d'), record_name, "
            "strftime(record_dob, '%Y-%m-%d'), round(score, 4), "
            "to_json(struct_pack(source := source_authority))::VARCHAR, "
            f"'{run}', '{now}' FROM candidates"
        ),
    )
    # --- the audit trail: every change of payment, one event each -------------------------
    events: list[dict[str, Any]] = []
    for pid, sid, region, since, months, amount in resumed:
        events.append(
            {
                "action": "payment.resume",
                "entity_type": "pensioner",
                "entity_id": uuid.UUID(pid),
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
                "entity_id": uuid.UUID(pid),
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
    audit.record_many(session=session, actor=actor, events=events)
    for name in ("lc_certified", "lc_resumed", "lc_deaths", "lc_escalate"):
        bulk.execute(session, f"DROP TABLE IF EXISTS {name}")
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
