"""The write phase of a matching run: the decisions engine.py left in DuckDB, applied by the
domains' state changes. Each change has one owner, in its bulk form (certify_many,
record_death_many, create_many; resume_many within certify_many) or, with `one_by_one`, in its
single form for every row (certify, record_death, create: the reference the bulk forms are
tested against, fine for a handful of rows). What only a run does stays here: closing the
tasks of the certified, escalating unanswered prompts, and candidates for staff."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

import duckdb
from sqlmodel import Session

from app.audit.service import Actor
from app.certifications import service as certifications
from app.config import Settings
from app.matching import bulk, engine
from app.overpayments import service as overpayments
from app.verification_tasks import service as tasks
from models.certification import CertificationMethod, SuspensionReason
from models.pensioner import Pensioner
from models.verification import TaskKind, TaskStatus, VisitOutcome

METHOD = CertificationMethod.data_comparison


def run_actor(run_id: uuid.UUID) -> Actor:
    """Who a run's changes are by: the run itself (the run's own event names who started it)."""
    return Actor(type="system", id=f"matching:{run_id.hex}")


class Certify(NamedTuple):
    pensioner_id: str
    evidence: str
    suspension_id: str | None
    open_reason: str | None


class Death(NamedTuple):
    pensioner_id: str
    date_of_death: date
    evidence: str
    suspension_id: str | None


class NewTask(NamedTuple):
    pensioner_id: str
    kind: str
    reason: str


def write(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    run_id: uuid.UUID,
    params: engine.RunParams,
    lap: Callable[[str], None],
    one_by_one: bool = False,
) -> dict[str, int]:
    w = bulk.Writer(session=session, con=con, scratch=settings.resolved_feeds_dir / "tmp")
    actor = run_actor(run_id)
    _evidence(con, run_id=run_id, as_of=params.as_of)
    apply = _one_by_one if one_by_one else _bulk
    counts = apply(_Run(w=w, settings=settings, run_id=run_id, params=params, lap=lap))
    counts["tasks_closed"] = w.set_keys(
        "verification_task",
        "id",
        f"status = '{TaskStatus.done.value}', outcome = '{VisitOutcome.certified.value}', "
        f"completed_by_id = {bulk.literal(actor.id)}, completed_at = '{w.now}'",
        "SELECT t.id FROM open_tasks t JOIN to_certify c ON c.pensioner_id = t.pensioner_id",
    )
    w.set_keys(
        "verification_task",
        "id",
        f"status = '{TaskStatus.escalated.value}'",
        "SELECT t.id FROM open_tasks t JOIN new_tasks n ON n.pensioner_id = t.pensioner_id "
        "WHERE n.kind <> 'remote_prompt' AND n.prompt_since IS NOT NULL "
        "AND t.kind = 'remote_prompt'",
    )
    for kind, count in con.execute("SELECT kind, count(*) FROM new_tasks GROUP BY kind").fetchall():
        counts[f"tasks_{kind}"] = int(count)
    lap("write_tasks_closed_s")
    counts["candidates"] = _candidates(w, run_id)
    lap("write_candidates_s")
    return counts


def _evidence(con: duckdb.DuckDBPyConnection, *, run_id: uuid.UUID, as_of: date) -> None:
    """What each certification and death rests on, as the domains' row tables: the view
    certify_rows and the table death_rows."""
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
        f"date := strftime(DATE '{as_of.isoformat()}' - ((x >> 52) & 1023)::INTEGER, "
        "'%Y-%m-%d')))"
    )
    # The records joined once; the evidence is made only where it is read (the insert).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE certified AS SELECT c.*, c.rowid AS pos, s.records "
        "FROM to_certify c JOIN shown s ON s.rn = c.rn ORDER BY pos"
    )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW certify_rows AS SELECT rn, pos, pensioner_id, "
        "region_code, certified_until, valid_until, monthly_amount_fen, suspension_id, "
        f"open_reason, suspended_from, to_json(struct_pack(run_id := '{run_id}', "
        "rule := CASE WHEN strong > 0 THEN 'strong' ELSE 'weak' END, strong := strong, "
        "weak_days := weak_days, last_seen := strftime(last_seen, '%Y-%m-%d'), "
        f"records := {records}))::VARCHAR AS evidence FROM certified"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE death_rows AS SELECT rn, pensioner_id, region_code, "
        "benefit_status, monthly_amount_fen, date_of_death, suspension_id, open_reason, "
        f"suspended_from, to_json(struct_pack(run_id := '{run_id}', "
        "date_of_death := strftime(date_of_death, '%Y-%m-%d'), records := records, "
        "activity_after_death := activity_after_death))::VARCHAR AS evidence "
        "FROM deaths ORDER BY pensioner_id"
    )


@dataclass(frozen=True)
class _Run:
    """What applying a run's decisions needs."""

    w: bulk.Writer
    settings: Settings
    run_id: uuid.UUID
    params: engine.RunParams
    lap: Callable[[str], None]


def _bulk(run: _Run) -> dict[str, int]:
    w, params, run_id, lap, actor = run.w, run.params, run.run_id, run.lap, run_actor(run.run_id)
    certified, resumed = certifications.certify_many(
        w,
        rows="certify_rows",
        method=METHOD,
        actor=actor,
        valid_from=params.as_of,
        run_id=run_id,
    )
    counts = {"certified": certified, "resumed": resumed}
    lap("write_certifications_s")
    counts |= overpayments.record_death_many(
        w, rows="death_rows", as_of=params.as_of, payment_day=params.payment_day, actor=actor
    )
    lap("write_deaths_s")
    counts["tasks"] = tasks.create_many(
        w, settings=run.settings, rows="new_tasks", actor=actor, today=params.as_of, run_id=run_id
    )
    lap("write_tasks_s")
    return counts


def _one_by_one(run: _Run) -> dict[str, int]:
    w, params, lap, actor = run.w, run.params, run.lap, run_actor(run.run_id)
    session = w.session

    def pensioner(pensioner_id: str) -> Pensioner:
        found = session.get(Pensioner, uuid.UUID(pensioner_id))
        assert found is not None, pensioner_id  # loaded from the register in this transaction
        return found

    counts = dict.fromkeys(
        ("certified", "resumed", "deaths", "deaths_already_suspended", "claims", "claimed_fen"),
        0,
    )
    for c in bulk.fetch(w.con, Certify, "FROM certify_rows ORDER BY pos"):
        certifications.certify(
            session=session,
            pensioner=pensioner(c.pensioner_id),
            method=METHOD,
            evidence=json.loads(c.evidence),
            actor=actor,
            default_period_months=params.default_period_months,
            certified_at=w.moment,
            valid_from=params.as_of,
        )
        counts["certified"] += 1
        overdue = c.open_reason == SuspensionReason.certification_overdue.value
        counts["resumed"] += c.suspension_id is not None and overdue
    lap("write_certifications_s")
    for d in bulk.fetch(w.con, Death, "FROM death_rows ORDER BY pensioner_id"):
        _, claim = overpayments.record_death(
            session=session,
            pensioner=pensioner(d.pensioner_id),
            date_of_death=d.date_of_death,
            as_of=params.as_of,
            payment_day=params.payment_day,
            evidence=json.loads(d.evidence),
            actor=actor,
        )
        counts["deaths"] += 1
        counts["deaths_already_suspended"] += d.suspension_id is not None
        counts["claims"] += claim is not None
        counts["claimed_fen"] += claim.amount_fen if claim else 0
    lap("write_deaths_s")
    new = bulk.fetch(w.con, NewTask, "FROM new_tasks ORDER BY rowid")
    for t in new:
        tasks.create(
            session=session,
            settings=run.settings,
            actor=actor,
            pensioner=pensioner(t.pensioner_id),
            kind=TaskKind(t.kind),
            reason=t.reason,
            today=params.as_of,
            run_id=run.run_id,
        )
    counts["tasks"] = len(new)
    lap("write_tasks_s")
    return counts


def _candidates(w: bulk.Writer, run_id: uuid.UUID) -> int:
    """Name-only and untrusted-source matches, for staff to confirm or reject."""
    return w.insert(
        "match_candidate",
        [
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
        f"SELECT {w.new_id()}, pensioner_id, region_code, kind, record_key, "
        "feed_type, strftime(event_date, '%Y-%m-%d'), record_name, "
        "strftime(record_dob, '%Y-%m-%d'), round(score, 4), "
        "to_json(struct_pack(source := source_authority))::VARCHAR FROM candidates",
        constants={"status": "'pending'", "run_id": f"'{run_id.hex}'", "created_at": f"'{w.now}'"},
    )
