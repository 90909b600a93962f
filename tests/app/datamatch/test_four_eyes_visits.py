"""Issue 16, item 8: a community worker's visit that finds alive a pensioner suspended for death
lifts the suspension (with back-pay) only once a second staff member, a reviewer or an
administrator in scope who did not record the visit, confirms it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
from sqlmodel import Session, select

from app.feeds.schemas import FeedReport
from models.audit import AuditEvent
from models.certification import Certification, PaymentSuspension
from models.matching import MatchingRun
from models.overpayment import OverpaymentClaim, RecoveryStatus
from models.pensioner import BenefitStatus, Pensioner
from models.verification import TaskStatus, VerificationTask
from tests.conftest import Factory

Import = Callable[..., FeedReport]
Match = Callable[..., MatchingRun]
TASKS = "/api/v1/verification-tasks"


async def _suspended_with_a_visit(
    client: httpx.AsyncClient, factory: Factory, import_csv: Import, match: Match, worker: Any
) -> tuple[Pensioner, str]:
    """A pensioner suspended for a (wrong) death, and a visit task the worker reported on."""
    p = factory.pensioner(certified_until=date(2026, 10, 1), monthly_amount_fen=300_000)
    assert isinstance(p, Pensioner)
    import_csv("death", f"national_id,date_of_death\n{p.national_id},2026-06-20\n")
    match(as_of=date(2026, 9, 1))  # suspended from September
    made = await client.post(
        TASKS,
        headers=factory.auth(factory.staff("admin")),
        json={"pensioner_id": str(p.id), "kind": "community_visit", "reason": "says_alive"},
    )
    task_id = made.json()["id"]
    visit = await client.post(
        f"{TASKS}/{task_id}/visit",
        headers=factory.auth(worker),
        json={"visit_date": "2026-11-29", "outcome": "confirmed_alive", "notes": "at home"},
    )
    assert visit.status_code == 200, visit.text
    assert visit.json()["status"] == "awaiting_confirmation"
    assert visit.json()["evidence"]["effect"] == {"awaiting_confirmation": "death_suspension_lift"}
    return p, task_id


def _unchanged(db: Session, p: Pensioner) -> None:
    db.expire_all()
    assert db.exec(select(PaymentSuspension)).one().resumed_on is None
    assert db.get(Pensioner, p.id).benefit_status is BenefitStatus.suspended  # type: ignore[union-attr]
    assert db.exec(select(OverpaymentClaim)).one().status is RecoveryStatus.open
    assert db.exec(select(Certification)).first() is None


async def test_a_second_person_confirms_before_payment_resumes_with_back_pay(
    client: httpx.AsyncClient, db: Session, factory: Factory, import_csv: Import, match: Match
) -> None:
    # The worker is also a reviewer: still not allowed to confirm their own visit.
    worker = factory.staff("community_worker", "reviewer", scope="1101")
    p, task_id = await _suspended_with_a_visit(client, factory, import_csv, match, worker)
    _unchanged(db, p)

    far = factory.auth(factory.staff("reviewer", scope="31"))
    assert (await client.get(f"{TASKS}/awaiting-confirmation", headers=far)).json()["total"] == 0
    hidden = await client.post(
        f"{TASKS}/{task_id}/confirmation", headers=far, json={"confirm": True}
    )
    assert hidden.status_code == 404
    own = await client.post(
        f"{TASKS}/{task_id}/confirmation", headers=factory.auth(worker), json={"confirm": True}
    )
    assert own.status_code == 403 and "another staff member" in own.json()["detail"]
    plain_worker = factory.auth(factory.staff("community_worker", scope="11"))
    not_a_confirmer = await client.post(
        f"{TASKS}/{task_id}/confirmation", headers=plain_worker, json={"confirm": True}
    )
    assert not_a_confirmer.status_code == 403
    _unchanged(db, p)

    reviewer = factory.staff("reviewer", scope="11")
    listed = await client.get(f"{TASKS}/awaiting-confirmation", headers=factory.auth(reviewer))
    assert [t["id"] for t in listed.json()["items"]] == [task_id]
    confirmed = await client.post(
        f"{TASKS}/{task_id}/confirmation",
        headers=factory.auth(reviewer),
        json={"confirm": True, "reason": "called her on the phone too"},
    )
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["status"] == "done" and body["confirmed_by_id"] == str(reviewer.id)  # type: ignore[attr-defined]
    assert body["completed_by_id"] == str(worker.id)  # type: ignore[attr-defined]
    db.expire_all()
    suspension = db.exec(select(PaymentSuspension)).one()
    assert suspension.resumed_on == date(2026, 11, 29)
    assert body["evidence"]["effect"]["back_pay_fen"] == suspension.back_pay_fen > 0
    assert db.get(Pensioner, p.id).benefit_status is BenefitStatus.active  # type: ignore[union-attr]
    assert db.exec(select(OverpaymentClaim)).one().status is RecoveryStatus.withdrawn
    cert = db.exec(select(Certification)).one()
    assert cert.decided_by_id == str(reviewer.id)  # type: ignore[attr-defined]
    assert cert.evidence["visited_by"] == str(worker.id)  # type: ignore[attr-defined]
    actions = db.exec(select(AuditEvent.action)).all()
    assert "verification_task.confirm" in actions and "payment.resume" in actions
    twice = await client.post(
        f"{TASKS}/{task_id}/confirmation", headers=factory.auth(reviewer), json={"confirm": True}
    )
    assert twice.status_code == 404  # nothing awaits confirmation any more


async def test_a_refused_visit_changes_nothing_and_the_task_opens_again(
    client: httpx.AsyncClient, db: Session, factory: Factory, import_csv: Import, match: Match
) -> None:
    worker = factory.staff("community_worker", scope="1101")
    p, task_id = await _suspended_with_a_visit(client, factory, import_csv, match, worker)
    admin = factory.auth(factory.staff("admin", scope="11"))
    no_reason = await client.post(
        f"{TASKS}/{task_id}/confirmation", headers=admin, json={"confirm": False}
    )
    assert no_reason.status_code == 422
    refused = await client.post(
        f"{TASKS}/{task_id}/confirmation",
        headers=admin,
        json={"confirm": False, "reason": "visit date is before the task existed"},
    )
    assert refused.status_code == 200, refused.text
    body = refused.json()
    assert body["status"] == "open" and body["outcome"] is None
    assert body["evidence"]["refused"][0]["visited_by"] == str(worker.id)  # type: ignore[attr-defined]
    _unchanged(db, p)
    assert "verification_task.confirmation_refused" in db.exec(select(AuditEvent.action)).all()
    task = db.get(VerificationTask, uuid.UUID(task_id))
    assert task is not None and task.status is TaskStatus.open
