"""Issue 16, item 4: staff scope follows the pensioner. Records that copied the pensioner's
region when they were made (review cases, consular documents, video calls, verification tasks,
match candidates, overpayment claims) answer to the region the pensioner lives in now."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import SQLModel

from models.attempt import ReviewCase
from models.certification import PaymentSuspension, SuspensionReason
from models.consular import ConsularDocument
from models.matching import CandidateKind, MatchCandidate
from models.overpayment import OverpaymentClaim
from models.records import FeedType
from models.verification import TaskKind, VerificationTask
from models.video_call import AppointmentStatus
from tests.app.appointments.world import appointment, now_minute, video_agent
from tests.conftest import Factory

OLD, NEW = "110105", "310115"
API = "/api/v1"

# Tables that copy a pensioner's region and what that copy is for. Access to the first set is
# decided by the pensioner's region now (app.kit.scope); the others are history.
SCOPED_BY_PENSIONER = {
    "review_case",
    "consular_document",
    "video_appointment",
    "verification_task",
    "match_candidate",
    "overpayment_claim",
}
HISTORY_ONLY = {"face_label"}  # the calibration slice a reviewer's verdict was made in


def test_every_copy_of_a_pensioners_region_is_accounted_for() -> None:
    copies = {
        name
        for name, table in SQLModel.metadata.tables.items()
        if "region_code" in table.c and "pensioner_id" in table.c
    }
    assert copies == SCOPED_BY_PENSIONER | HISTORY_ONLY


def _records(factory: Factory, pensioner: Any, old_agent: Any, new_agent: Any) -> dict[str, Any]:
    """One record of each kind, made while the pensioner lived in OLD."""
    db = factory.session
    pid = pensioner.id
    attempt = factory.attempt(pensioner)
    suspension = PaymentSuspension(
        pensioner_id=pid,
        reason=SuspensionReason.death,
        suspended_from=date.today().replace(day=1),
        created_by_type="system",
        created_by_id="test",
    )
    db.add(suspension)
    db.flush()
    start = now_minute() + timedelta(days=3)
    rows: dict[str, Any] = {
        "review": ReviewCase(attempt_id=attempt.id, pensioner_id=pid, region_code=OLD),  # type: ignore[attr-defined]
        "document": ConsularDocument(
            pensioner_id=pid,
            region_code=OLD,
            file_path=f"consular/{pid}/x.pdf",
            file_sha256="0" * 64,
            file_format="pdf",
            file_bytes=10,
        ),
        "task": VerificationTask(
            pensioner_id=pid,
            region_code=OLD,
            kind=TaskKind.community_visit,
            reason="test",
            due_date=date.today() + timedelta(days=30),
            created_by_type="system",
            created_by_id="test",
        ),
        "candidate": MatchCandidate(
            pensioner_id=pid,
            region_code=OLD,
            kind=CandidateKind.activity_by_name,
            record_key=f"{uuid.uuid4()}:1",
            feed_type=FeedType.hospital_visit,
            event_date=date.today() - timedelta(days=3),
            score=0.9,
        ),
        "claim": OverpaymentClaim(
            pensioner_id=pid,
            suspension_id=suspension.id,
            region_code=OLD,
            date_of_death=date.today() - timedelta(days=90),
            first_payment_date=date.today() - timedelta(days=60),
            last_payment_date=date.today() - timedelta(days=30),
            payments=2,
            amount_fen=700000,
        ),
    }
    db.add_all(rows.values())
    db.commit()
    rows["old_call"] = appointment(factory, pensioner, old_agent, starts_at=start)
    rows["new_call"] = appointment(  # one booked call per pensioner: the other was cancelled
        factory,
        pensioner,
        new_agent,
        starts_at=start + timedelta(hours=1),
        status=AppointmentStatus.cancelled,
    )
    return rows


async def _status(client: httpx.AsyncClient, headers: dict[str, str], path: str) -> int:
    return (await client.get(API + path, headers=headers)).status_code


async def _listed(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, record_id: uuid.UUID
) -> bool:
    answer = await client.get(API + path, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    items = body["items"] if isinstance(body, dict) else body
    return str(record_id) in {item["id"] for item in items}


async def test_after_a_move_the_new_region_acts_and_the_old_one_gets_404(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    factory.region(OLD)
    factory.region(NEW, "上海市浦东新区")
    pensioner = factory.pensioner(OLD)
    staff = {
        region: {
            "reviewer": factory.auth(factory.staff("reviewer", scope=region)),
            "worker": factory.auth(factory.staff("community_worker", scope=region)),
            "auditor": factory.auth(factory.staff("auditor", scope=region)),
        }
        for region in (OLD, "31")
    }
    old_agent = video_agent(factory, scope=OLD)
    new_agent = video_agent(factory, scope="31")
    rows = _records(factory, pensioner, old_agent, new_agent)

    reads = {  # record -> (who reads it, the detail path, the list path)
        "review": ("reviewer", f"/reviews/{rows['review'].id}", "/reviews"),
        "document": (
            "reviewer",
            f"/consular-documents/{rows['document'].id}",
            "/consular-documents",
        ),
        "task": ("worker", f"/verification-tasks/{rows['task'].id}", "/verification-tasks"),
        "claim": ("auditor", f"/overpayments/{rows['claim'].id}", "/overpayments"),
    }

    async def check(owner: str, other: str) -> None:
        """`owner` (the pensioner's region) sees and acts on everything, `other` nothing."""
        for name, (role, detail, listing) in reads.items():
            assert await _status(client, staff[owner][role], detail) == 200, name
            assert await _status(client, staff[other][role], detail) == 404, name
            assert await _listed(client, staff[owner][role], listing, rows[name].id), name
            assert not await _listed(client, staff[other][role], listing, rows[name].id), name
        candidate = rows["candidate"].id
        assert await _listed(client, staff[owner]["reviewer"], "/match-candidates", candidate)
        assert not await _listed(client, staff[other]["reviewer"], "/match-candidates", candidate)
        refused = await client.post(
            f"{API}/match-candidates/{candidate}/decision",
            json={"confirm": False, "note": "not them"},
            headers=staff[other]["reviewer"],
        )
        assert refused.status_code == 404, refused.text

    agents = {OLD: old_agent, "31": new_agent}
    calls = {OLD: rows["old_call"].id, "31": rows["new_call"].id}

    async def check_calls(owner: str, other: str) -> None:
        """An agent reaches their own call only while the pensioner is in their scope."""
        own, foreign = factory.auth(agents[owner]), factory.auth(agents[other])
        assert await _status(client, own, f"/video-calls/{calls[owner]}") == 200
        assert await _listed(client, own, "/video-calls", calls[owner])
        assert await _status(client, foreign, f"/video-calls/{calls[other]}") == 404
        assert not await _listed(client, foreign, "/video-calls", calls[other])

    await check(OLD, "31")
    await check_calls(OLD, "31")

    moved = await client.patch(
        f"{API}/pensioners/{pensioner.id}",  # type: ignore[attr-defined]
        json={"region_code": NEW},
        headers=factory.auth(factory.staff("admin")),
    )
    assert moved.status_code == 200, moved.text

    await check("31", OLD)
    await check_calls("31", OLD)
    shown = await client.get(f"{API}{reads['task'][1]}", headers=staff["31"]["worker"])
    assert shown.json()["region_code"] == NEW  # the region now, not the copy
    decided = await client.post(
        f"{API}/match-candidates/{rows['candidate'].id}/decision",
        json={"confirm": False, "note": "not them"},
        headers=staff["31"]["reviewer"],
    )
    assert decided.status_code == 200, decided.text
    step = await client.post(
        f"{API}/overpayments/{rows['claim'].id}/steps",
        json={"to": "notified"},
        headers=factory.auth(factory.staff("admin", scope="31")),
    )
    assert step.status_code == 200, step.text
    with factory.session.bind.connect() as conn:  # type: ignore[union-attr]
        # Events after the move are filed under the new region, where its auditors look.
        region = conn.execute(
            sa.select(sa.text("region_code"))
            .select_from(sa.table("audit_event"))
            .where(sa.text("action = 'overpayment.recovery'"))
        ).scalar_one()
    assert region == NEW
    with factory.session.bind.connect() as conn:  # type: ignore[union-attr]
        copied = conn.execute(
            sa.select(sa.text("region_code")).select_from(sa.table("verification_task"))
        ).scalar_one()
    assert copied == OLD  # the copy is history; access no longer reads it
