"""Issue 16, item 8: a video-call certification by override (no frame matched) or of a lapsed
call certifies nothing until a second staff member, a reviewer or an administrator in scope
who did not record it, confirms it; the pending calls are listed for them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlmodel import Session, select

from models.audit import AuditEvent
from models.certification import Certification, CertificationMethod
from models.video_call import AppointmentStatus, CallFrame, VideoAppointment
from tests.app.appointments.world import appointment, now_minute, video_agent
from tests.conftest import Factory

CALLS = "/api/v1/video-calls"


def _matched_frame(db: Session, call: VideoAppointment, agent: Any) -> None:
    db.add(
        CallFrame(
            appointment_id=call.id,
            path=f"video_calls/{call.id}/f.jpg",
            sha256="0" * 64,
            format="jpeg",
            decision="match",
            score=3.2,
            distance=0.3,
            captured_by_id=str(agent.id),
        )
    )
    db.commit()


def _certifications(db: Session, pensioner: Any) -> list[Certification]:
    db.expire_all()
    return list(
        db.exec(select(Certification).where(Certification.pensioner_id == pensioner.id)).all()
    )


async def test_an_override_waits_for_a_second_person(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    agent = video_agent(factory)
    agent.roles = ["video_agent", "reviewer"]  # may confirm others' calls, not their own
    db.add(agent)
    db.commit()
    pensioner = factory.pensioner()
    call = appointment(factory, pensioner, agent, starts_at=now_minute() - timedelta(minutes=2))
    recorded = await client.post(
        f"{CALLS}/{call.id}/outcome",
        json={"outcome": "certified", "override_reason": "passport shown, matches"},
        headers=factory.auth(agent),
    )
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["status"] == "awaiting_confirmation"
    assert recorded.json()["certification_id"] is None
    assert _certifications(db, pensioner) == []
    seen = await client.get(
        f"/api/v1/appointments/{call.id}", headers=factory.auth(pensioner, "pensioner")
    )
    assert seen.json()["status"] == "awaiting_confirmation"

    far = factory.auth(factory.staff("reviewer", scope="31"))
    assert (await client.get(f"{CALLS}/awaiting-confirmation", headers=far)).json() == []
    hidden = await client.post(
        f"{CALLS}/{call.id}/confirmation", json={"confirm": True}, headers=far
    )
    assert hidden.status_code == 404
    own = await client.post(
        f"{CALLS}/{call.id}/confirmation", json={"confirm": True}, headers=factory.auth(agent)
    )
    assert own.status_code == 403 and "another staff member" in own.json()["detail"]
    other_agent = factory.auth(video_agent(factory))
    not_a_confirmer = await client.post(
        f"{CALLS}/{call.id}/confirmation", json={"confirm": True}, headers=other_agent
    )
    assert not_a_confirmer.status_code == 403
    assert _certifications(db, pensioner) == []

    reviewer = factory.staff("reviewer", scope="1101")
    pending = await client.get(f"{CALLS}/awaiting-confirmation", headers=factory.auth(reviewer))
    assert [c["id"] for c in pending.json()] == [str(call.id)]
    assert pending.json()[0]["confirmation_needed"] == ["override"]
    assert pending.json()[0]["override_reason"] == "passport shown, matches"
    confirmed = await client.post(
        f"{CALLS}/{call.id}/confirmation",
        json={"confirm": True, "reason": "watched the recording of the passport"},
        headers=factory.auth(reviewer),
    )
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["status"] == "certified" and body["confirmed_by_id"] == str(reviewer.id)  # type: ignore[attr-defined]
    (certification,) = _certifications(db, pensioner)
    assert certification.id.hex == body["certification_id"].replace("-", "")
    assert certification.method is CertificationMethod.video_call
    assert certification.evidence["agent_id"] == str(agent.id)
    assert certification.evidence["confirmed_by"] == str(reviewer.id)  # type: ignore[attr-defined]
    actions = db.exec(select(AuditEvent.action)).all()
    assert "video_call.awaiting_confirmation" in actions and "video_call.confirm" in actions
    twice = await client.post(
        f"{CALLS}/{call.id}/confirmation", json={"confirm": True}, headers=factory.auth(reviewer)
    )
    assert twice.status_code == 404
    assert (
        await client.get(f"{CALLS}/awaiting-confirmation", headers=factory.auth(reviewer))
    ).json() == []


async def test_a_lapsed_call_waits_even_with_a_matching_frame_and_can_be_refused(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    agent = video_agent(factory)
    pensioner = factory.pensioner()
    call = appointment(
        factory,
        pensioner,
        agent,
        starts_at=now_minute() - timedelta(hours=3),
        status=AppointmentStatus.lapsed,
    )
    _matched_frame(db, call, agent)
    recorded = await client.post(
        f"{CALLS}/{call.id}/outcome", json={"outcome": "certified"}, headers=factory.auth(agent)
    )
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["status"] == "awaiting_confirmation"
    admin = factory.auth(factory.staff("admin", scope="11"))
    (item,) = (await client.get(f"{CALLS}/awaiting-confirmation", headers=admin)).json()
    assert item["confirmation_needed"] == ["lapsed"] and item["agent_id"] == str(agent.id)
    no_reason = await client.post(
        f"{CALLS}/{call.id}/confirmation", json={"confirm": False}, headers=admin
    )
    assert no_reason.status_code == 422
    refused = await client.post(
        f"{CALLS}/{call.id}/confirmation",
        json={"confirm": False, "reason": "recorded three hours after the call"},
        headers=admin,
    )
    assert refused.status_code == 200, refused.text
    assert refused.json()["status"] == "not_certified"
    assert refused.json()["outcome_reason"] == "recorded three hours after the call"
    assert _certifications(db, pensioner) == []
    assert "video_call.confirmation_refused" in db.exec(select(AuditEvent.action)).all()


async def test_a_booked_call_past_its_window_counts_as_lapsed(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    agent = video_agent(factory)
    pensioner = factory.pensioner()
    call = appointment(factory, pensioner, agent, starts_at=now_minute() - timedelta(hours=2))
    _matched_frame(db, call, agent)
    recorded = await client.post(
        f"{CALLS}/{call.id}/outcome", json={"outcome": "certified"}, headers=factory.auth(agent)
    )
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["status"] == "awaiting_confirmation"
    assert _certifications(db, pensioner) == []
