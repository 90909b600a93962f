"""One owner per change of state: a matching run applied with the domains' single forms
(certify, record_death, create: one pensioner at a time) and with their bulk forms
(certify_many, record_death_many, create_many) leaves the same rows and the same audit events,
on SQLite and PostgreSQL. A bulk listing event stands for the per-pensioner events it names."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import date, datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, func, select

from app.audit.service import SYSTEM, verify_chain
from app.certifications import service as certifications
from app.config import Settings
from app.feeds.schemas import FeedReport
from app.payments import service as payments
from app.verification_tasks import service as tasks
from models.audit import AuditEvent
from models.certification import SuspensionReason
from models.matching import MatchingRun
from models.pensioner import Pensioner
from models.verification import TaskKind
from tests.app.datamatch.conftest import AS_OF
from tests.conftest import Factory

Import = Callable[..., FeedReport]
Match = Callable[..., MatchingRun]
# The tables a run writes, with the column that names a new row's pensioner (or record).
WRITTEN = {
    "pensioner": "id",
    "certification": "pensioner_id",
    "payment_suspension": "pensioner_id",
    "overpayment_claim": "pensioner_id",
    "verification_task": "pensioner_id",
    "match_candidate": "record_key",
    "matching_run": "kind",
}
STAMPS = {"created_at", "updated_at", "certified_at", "completed_at", "started_at", "finished_at"}
# The run's own timings differ from run to run; everything else in its row must not.
VARYING = STAMPS | {"timings"}


def _pensioner(factory: Factory, **fields: object) -> Pensioner:
    p = factory.pensioner(**{"certified_until": date(2026, 10, 1), **fields})
    assert isinstance(p, Pensioner)
    return p


def _scenarios(db: Session, settings: Settings, factory: Factory, import_csv: Import) -> None:
    """Deaths after and before the last payment, the death of someone already suspended,
    strong and weak activity evidence, a wrongful (overdue) suspension resumed, tasks."""
    after_last = _pensioner(factory, monthly_amount_fen=300_000)
    before_last = _pensioner(factory, monthly_amount_fen=300_000)
    suspended_dies = _pensioner(factory, monthly_amount_fen=280_000)
    strong = _pensioner(factory, certified_until=None)
    weak = _pensioner(factory, region="310115")
    wrongly_suspended = _pensioner(factory, monthly_amount_fen=250_000)
    _pensioner(factory)  # overdue without evidence: a remote prompt
    _pensioner(factory, mobility_limited=True)  # a home visit
    prompted = _pensioner(factory)  # a prompt unanswered: a community visit
    _pensioner(factory, name="王秀英")  # a death by name: a candidate (and a prompt)
    overdue = SuspensionReason.certification_overdue
    for p, since in ((suspended_dies, date(2026, 10, 1)), (wrongly_suspended, date(2026, 9, 1))):
        payments.suspend(
            session=db, pensioner=p, reason=overdue, suspended_from=since, actor=SYSTEM
        )
    prompt = partial(tasks.create, session=db, settings=settings, actor=SYSTEM)
    for p, day in ((wrongly_suspended, AS_OF), (prompted, date(2026, 10, 1))):
        prompt(pensioner=p, kind=TaskKind.remote_prompt, reason="overdue_no_evidence", today=day)
    db.commit()
    import_csv(
        "death",
        "national_id,date_of_death\n"
        f"{after_last.national_id},2026-11-20\n{before_last.national_id},2026-08-20\n"
        f"{suspended_dies.national_id},2026-08-20\n",
    )
    import_csv(
        "hospital_visit",
        "national_id,visit_date,facility\n"
        f"{strong.national_id},2026-11-02,H\n{before_last.national_id},2026-11-02,H\n",
        source="health_commission",
    )
    import_csv(
        "card_use",
        f"national_id,transaction_date\n{weak.national_id},2026-11-20\n"
        f"{weak.national_id},2026-11-21\n",
        source="hrss",
    )
    import_csv(
        "air_travel",
        f"national_id,travel_date\n{wrongly_suspended.national_id},2026-11-15\n",
        source="caac",
    )
    import_csv(
        "cremation",
        "national_id,name,date_of_birth,date_of_death\n,王 秀瑛,1950-03-01,2026-10-05\n",
        source="civil_affairs",
    )


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    if hasattr(value, "value"):  # an enum
        return value.value
    return value


class _Names:
    """Stable names for what differs between two runs of the same decisions: the run's id
    and the ids of the rows it made; everything else is compared as it is."""

    def __init__(self, run_id: uuid.UUID, before: set[str]) -> None:
        self.before = before
        self.names = {str(run_id): "<run>", run_id.hex: "<run>"}

    def add(self, table: str, row_id: str, owner: str) -> None:
        if row_id in self.before:
            return
        name = f"<{table}:{owner}>"
        assert name not in self.names.values(), f"two new {table} rows of {owner}"
        self.names[row_id] = self.names[uuid.UUID(row_id).hex] = name

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items() if k not in VARYING}
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        value = _plain(value)
        if isinstance(value, str):
            if value in self.names:
                return self.names[value]
            for found, name in self.names.items():
                if len(found) == 32 and found in value:  # "matching:<hex>"
                    value = value.replace(found, name)
        return value


def _ids(db: Session) -> set[str]:
    found: set[str] = set()
    for table in WRITTEN:
        found |= {str(_plain(r.id)) for r in db.execute(sa.select(SQLModel.metadata.tables[table]))}
    return found


def _expand(event: dict[str, Any], evidence: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-pensioner events a bulk listing event stands for (as the single forms write
    them); a certification's evidence is in its row, by id."""
    after = event["after"]
    rows = [dict(zip(after["columns"], r, strict=True)) for r in after["rows"]]
    for r in rows:  # ids are listed as 32 hex digits
        for k in ("pensioner_id", "certification_id", "task_id"):
            if k in r:
                r[k] = str(uuid.UUID(r[k]))
    # What the listing event says of every event it stands for: who, from where, and how
    # the chain is hashed.
    common = {k: event[k] for k in ("actor_type", "actor_id", "client_address", "hash_scheme")}
    if event["action"] == certifications.RECORD_MANY:
        return [
            {
                **common,
                "action": certifications.RECORD,
                "entity_type": "pensioner",
                "entity_id": r["pensioner_id"],
                "region_code": r["region_code"],
                "before": {"certified_until": r["before"]},
                "after": {
                    "certification_id": r["certification_id"],
                    "method": after["method"],
                    "certified_until": r["after"],
                    "operated_by": None,
                    "evidence": evidence[r["certification_id"]],
                },
            }
            for r in rows
        ]
    assert event["action"] == tasks.CREATE_MANY
    return [
        {
            **common,
            "action": tasks.CREATE,
            "entity_type": "pensioner",
            "entity_id": r["pensioner_id"],
            "region_code": r["region_code"],
            "before": None,
            "after": {"task_id": r["task_id"], "kind": r["kind"], "reason": r["reason"]},
        }
        for r in rows
    ]


def _outcome(
    db: Session, match: Match, *, one_by_one: bool, before: set[str], since: int
) -> tuple[dict[str, list[str]], list[str], MatchingRun]:
    """Run, and every row of the tables a run writes and every audit event it added, with
    the names of _Names; the listings expanded. Rolled back afterwards."""
    run = match(one_by_one=one_by_one, commit=False)
    names = _Names(run.id, before)
    tables = SQLModel.metadata.tables
    rows: dict[str, list[dict[str, Any]]] = {}
    for table, owner in WRITTEN.items():
        rows[table] = [dict(r) for r in db.execute(sa.select(tables[table])).mappings()]
        for r in rows[table]:
            names.add(table, str(_plain(r["id"])), str(_plain(r[owner])))
    evidence = {str(_plain(c["id"])): c["evidence"] for c in rows["certification"]}
    events: list[dict[str, Any]] = []
    for e in db.exec(select(AuditEvent).where(col(AuditEvent.seq) > since)).all():
        event = e.model_dump(exclude={"seq", "occurred_at", "prev_hash", "hash"})
        if "rows" in (e.after or {}):
            events.extend(_expand(event, evidence))
        else:
            events.append(event)
    assert verify_chain(session=db).ok
    compared = {
        table: sorted(json.dumps(names(r), sort_keys=True, default=str) for r in found)
        for table, found in rows.items()
    }
    logged = sorted(json.dumps(names(e), sort_keys=True, default=str) for e in events)
    db.rollback()
    db.expire_all()
    return compared, logged, run


def test_single_and_bulk_forms_leave_the_same_rows_and_audit_events(
    db: Session, settings: Settings, factory: Factory, import_csv: Import, match: Match
) -> None:
    _scenarios(db, settings, factory, import_csv)
    before = _ids(db)
    since = db.exec(select(func.max(AuditEvent.seq))).one() or 0
    single_rows, single_events, single = _outcome(
        db, match, one_by_one=True, before=before, since=since
    )
    bulk_rows, bulk_events, bulk = _outcome(db, match, one_by_one=False, before=before, since=since)
    # Every scenario happened, so the comparison below is not of two empty runs.
    assert single.counts == bulk.counts
    assert {
        k: bulk.counts[k]
        for k in (
            "certified",
            "resumed",
            "deaths",
            "deaths_already_suspended",
            "claims",
            "tasks",
            "tasks_closed",
            "candidates",
        )
    } == {
        "certified": 3,
        "resumed": 1,
        "deaths": 3,
        "deaths_already_suspended": 1,
        "claims": 2,
        "tasks": 4,
        "tasks_closed": 1,
        "candidates": 1,
    }
    for table in WRITTEN:
        assert single_rows[table] == bulk_rows[table], table
    assert single_events == bulk_events
    actions = [json.loads(e)["action"] for e in bulk_events]
    for action in (
        certifications.RECORD,
        payments.SUSPEND,
        payments.SUSPENSION_REASON,
        payments.RESUME,
        "overpayment.claim",
        tasks.CREATE,
    ):
        assert action in actions, action
    # And the rollbacks left nothing: the database is as the scenarios made it.
    assert _ids(db) == before
