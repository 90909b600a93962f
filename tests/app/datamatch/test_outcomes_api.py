"""Through the API: visits and wrongful suspension, candidates, pushed deaths, recovery, reports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import httpx
from sqlmodel import Session, select

from app.feeds.schemas import FeedReport
from models.certification import Certification, PaymentSuspension, SuspensionReason
from models.matching import MatchCandidate, MatchingRun
from models.overpayment import OverpaymentClaim, RecoveryStatus
from models.pensioner import BenefitStatus, Pensioner
from models.verification import VerificationTask
from tests.conftest import Factory

Import = Callable[..., FeedReport]
Match = Callable[..., MatchingRun]


def _pensioner(factory: Factory, **fields: object) -> Pensioner:
    p = factory.pensioner(**{"certified_until": date(2026, 10, 1), **fields})
    assert isinstance(p, Pensioner)
    return p


async def test_wrongful_death_suspension_is_lifted_by_a_visit_with_back_pay(
    client: httpx.AsyncClient, db: Session, factory: Factory, import_csv: Import, match: Match
) -> None:
    p = _pensioner(factory, monthly_amount_fen=300_000)
    import_csv("death", f"national_id,date_of_death\n{p.national_id},2026-08-20\n")
    match()
    reviewer = factory.auth(factory.staff("reviewer", scope="11"))
    worker = factory.auth(factory.staff("community_worker", scope="1101"))
    far_worker = factory.auth(factory.staff("community_worker", scope="31"))
    made = await client.post(
        "/api/v1/verification-tasks",
        headers=reviewer,
        json={"pensioner_id": str(p.id), "kind": "community_visit", "reason": "says_alive"},
    )
    assert made.status_code == 201, made.text
    task_id = made.json()["id"]
    listed = await client.get("/api/v1/verification-tasks", headers=worker)
    assert [t["id"] for t in listed.json()["items"]] == [task_id]
    assert (await client.get("/api/v1/verification-tasks", headers=far_worker)).json()["total"] == 0
    hidden = await client.post(
        f"/api/v1/verification-tasks/{task_id}/visit",
        headers=far_worker,
        json={"visit_date": "2026-11-29", "outcome": "confirmed_alive"},
    )
    assert hidden.status_code == 404 and hidden.json()["error"] == "VerificationTaskNotFound"
    bad = await client.post(
        f"/api/v1/verification-tasks/{task_id}/visit",
        headers=worker,
        json={"visit_date": "2026-11-29", "outcome": "deceased"},
    )
    assert bad.status_code == 422 and bad.json()["error"] == "InvalidVisit"
    done = await client.post(
        f"/api/v1/verification-tasks/{task_id}/visit",
        headers=worker,
        json={"visit_date": "2026-11-29", "outcome": "confirmed_alive", "notes": "met him at home"},
    )
    assert done.status_code == 200, done.text
    # One person's visit does not restart payment: a second staff member confirms it.
    assert done.json()["status"] == "awaiting_confirmation"
    db.expire_all()
    assert db.exec(select(PaymentSuspension)).one().resumed_on is None
    assert db.exec(select(Certification)).first() is None
    confirmed = await client.post(
        f"/api/v1/verification-tasks/{task_id}/confirmation",
        headers=reviewer,
        json={"confirm": True},
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "done"
    assert confirmed.json()["evidence"]["effect"]["back_pay_fen"] == 0  # resumed the same month
    db.expire_all()
    suspension = db.exec(select(PaymentSuspension)).one()
    assert suspension.resumed_on == date(2026, 11, 29)
    assert db.get(Pensioner, p.id).benefit_status is BenefitStatus.active  # type: ignore[union-attr]
    claim = db.exec(select(OverpaymentClaim)).one()
    assert claim.status is RecoveryStatus.withdrawn
    cert = db.exec(select(Certification)).one()
    assert cert.method.value == "community_visit"
    again = await client.post(
        f"/api/v1/verification-tasks/{task_id}/visit",
        headers=worker,
        json={"visit_date": "2026-11-29", "outcome": "confirmed_alive"},
    )
    assert again.status_code == 409 and again.json()["error"] == "TaskNotOpen"


async def test_visit_finding_a_death_suspends_and_claims(
    client: httpx.AsyncClient, db: Session, factory: Factory, match: Match
) -> None:
    p = _pensioner(factory, mobility_limited=True, monthly_amount_fen=100_000)
    match()
    task = db.exec(select(VerificationTask)).one()
    worker = factory.auth(factory.staff("community_worker", scope="11"))
    done = await client.post(
        f"/api/v1/verification-tasks/{task.id}/visit",
        headers=worker,
        json={
            "visit_date": "2026-11-20",
            "outcome": "deceased",
            "date_of_death": "2026-07-01",
            "death_evidence": "certificate 2026-123",
        },
    )
    assert done.status_code == 200, done.text
    db.expire_all()
    assert db.exec(select(PaymentSuspension)).one().reason is SuspensionReason.death
    claim = db.exec(select(OverpaymentClaim)).one()
    assert claim.payments >= 4 and claim.amount_fen == claim.payments * 100_000
    assert claim.pensioner_id == p.id


async def test_reviewer_confirms_a_name_only_death(
    client: httpx.AsyncClient, db: Session, factory: Factory, import_csv: Import, match: Match
) -> None:
    p = _pensioner(factory, name="王秀英")
    import_csv("death", "name,date_of_birth,date_of_death\n王秀瑛,1950-03-01,2026-10-05\n")
    match()
    reviewer = factory.auth(factory.staff("reviewer", scope="11"))
    outsider = factory.auth(factory.staff("reviewer", scope="31"))
    listed = await client.get("/api/v1/match-candidates", headers=reviewer)
    (candidate,) = listed.json()["items"]
    assert candidate["kind"] == "death_by_name" and 0.8 <= candidate["score"] < 1
    url = f"/api/v1/match-candidates/{candidate['id']}/decision"
    assert (await client.post(url, headers=outsider, json={"confirm": True})).status_code == 404
    decided = await client.post(url, headers=reviewer, json={"confirm": True, "note": "same"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["effect"]["claim_id"]
    db.expire_all()
    assert db.get(Pensioner, p.id).benefit_status is BenefitStatus.suspended  # type: ignore[union-attr]
    twice = await client.post(url, headers=reviewer, json={"confirm": False})
    assert twice.status_code == 409 and twice.json()["error"] == "CandidateAlreadyDecided"
    assert db.exec(select(MatchCandidate)).one().status.value == "confirmed"


async def test_a_pushed_death_suspends_at_once_and_recovery_runs_its_course(
    client: httpx.AsyncClient, db: Session, factory: Factory
) -> None:
    p = _pensioner(factory, monthly_amount_fen=200_000)
    admin = factory.auth(factory.staff("admin"))
    auditor = factory.auth(factory.staff("auditor", scope="11"))
    registry = {"name": "MPS death registry", "source_authority": "public_security"}
    made = await client.post("/api/v1/feeds/clients", json=registry, headers=admin)
    assert made.status_code == 201, made.text
    body = {"records": [{"national_id": p.national_id.lower(), "event_date": "2026-06-15"}]}
    feed_key = {"X-Feed-Key": made.json()["key"]}
    pushed = await client.post("/api/v1/feeds/death/records", json=body, headers=feed_key)
    assert pushed.status_code == 201, pushed.text
    assert pushed.json()["matching"]["deaths"] == 1
    claims = (await client.get("/api/v1/overpayments", headers=auditor)).json()["items"]
    (claim,) = claims
    url = f"/api/v1/overpayments/{claim['id']}/steps"
    amount = claim["amount_fen"]
    assert (await client.post(url, headers=auditor, json={"to": "notified"})).status_code == 403
    wrong = await client.post(url, headers=admin, json={"to": "recovered", "amount_fen": 1})
    assert wrong.status_code == 409 and wrong.json()["error"] == "InvalidRecoveryStep"
    for step in (
        {"to": "notified"},
        {"to": "repaying", "amount_fen": 100_000},
        {"to": "repaying", "amount_fen": amount - 100_000},
    ):
        r = await client.post(url, headers=admin, json=step)
        assert r.status_code == 200, r.text
    detail = (await client.get(f"/api/v1/overpayments/{claim['id']}", headers=auditor)).json()
    assert detail["status"] == "recovered" and detail["recovered_fen"] == amount
    assert [e["to_status"] for e in detail["events"]] == ["notified", "repaying", "recovered"]
    month = date.today().strftime("%Y-%m")
    report = await client.get("/api/v1/reports/monthly", headers=auditor, params={"month": month})
    (row,) = report.json()
    assert row["deaths_found"] == 1 and row["overpayment_claimed_fen"] == amount
    assert row["overpayment_recovered_fen"] == amount and row["suspended"] == 1
    csv = await client.get("/api/v1/reports/monthly.csv", headers=auditor, params={"month": month})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("region_code,region_name,month,recipients")


async def test_report_counts_certifications_by_method(
    client: httpx.AsyncClient, factory: Factory, import_csv: Import
) -> None:
    p = _pensioner(factory)
    _pensioner(factory, region="310115")
    admin = factory.auth(factory.staff("admin", scope="11"))
    import_csv(
        "rail_travel", f"national_id,travel_date\n{p.national_id},2026-11-02\n", source="railway"
    )
    run = await client.post("/api/v1/matching/runs", headers=admin, json={"as_of": "2026-11-29"})
    assert run.status_code == 201, run.text
    assert run.json()["counts"]["certified"] == 1
    outside = await client.post("/api/v1/matching/runs", headers=admin, json={"region_scope": "31"})
    assert outside.status_code == 403
    rows = (
        await client.get(
            "/api/v1/reports/monthly",
            headers=admin,
            params={"month": date.today().strftime("%Y-%m")},
        )
    ).json()
    assert [(r["region_code"], r["certified_data_comparison"]) for r in rows] == [("110105", 1)]
    bad = await client.get("/api/v1/reports/monthly", headers=admin, params={"month": "2026-13"})
    assert bad.status_code == 422
