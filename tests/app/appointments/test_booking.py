"""Booking video calls: who may book, slots in the pensioner's zone, the booking rules, and
double booking refused by the database under concurrency."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.config import Settings
from models.attempt import AttemptStatus
from models.audit import AuditEvent
from models.pensioner import Residence
from models.video_call import AppointmentStatus, VideoAppointment
from tests.app.appointments.world import appointment, days_ahead, now_minute, video_agent
from tests.conftest import Backend, Factory

BASE = "/api/v1/appointments"


def overseas(factory: Factory, zone: str = "Pacific/Tongatapu", **fields: Any) -> Any:
    return factory.pensioner(
        residence=Residence.overseas, overseas_country="TO", overseas_timezone=zone, **fields
    )


async def _slots(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await client.get(f"{BASE}/slots", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def _first_slot(
    client: httpx.AsyncClient, headers: dict[str, str], days_from_now: int = 3
) -> dict[str, Any]:
    found = await _slots(client, headers, **{"from": str(days_ahead(days_from_now)), "days": 1})
    assert found["slots"], found
    return found["slots"][0]  # type: ignore[no-any-return]


async def test_who_is_offered_a_call(
    client: httpx.AsyncClient, factory: Factory, db: Session, settings: Settings
) -> None:
    video_agent(factory)
    at_home = factory.pensioner()
    factory.face(at_home)
    headers = factory.auth(at_home, "pensioner")
    offer = (await client.get(f"{BASE}/eligibility", headers=headers)).json()
    assert offer["eligible"] is False and offer["reasons"] == []
    assert offer["timezone"] == "Asia/Shanghai"
    refused = await client.get(f"{BASE}/slots", headers=headers)
    assert refused.status_code == 403 and refused.json()["error"] == "VideoCallNotOffered"
    booking = await client.post(BASE, json={"starts_at": "2030-01-01T00:00:00Z"}, headers=headers)
    assert booking.status_code == 403

    # Three failed remote tries lock remote attempts: a call is offered.
    for status in (AttemptStatus.rejected, AttemptStatus.retry, AttemptStatus.retry):
        attempt = factory.attempt(at_home)
        attempt.status = status  # type: ignore[attr-defined]
        db.add(attempt)
    db.commit()
    offer = (await client.get(f"{BASE}/eligibility", headers=headers)).json()
    assert offer["eligible"] is True and "locked_out" in offer["reasons"]

    rejected_once = factory.pensioner()
    factory.face(rejected_once)
    attempt = factory.attempt(rejected_once)
    attempt.status = AttemptStatus.rejected  # type: ignore[attr-defined]
    db.add(attempt)
    db.commit()
    offer = (
        await client.get(f"{BASE}/eligibility", headers=factory.auth(rejected_once, "pensioner"))
    ).json()
    assert offer["reasons"] == ["remote_rejected"]

    abroad = overseas(factory)
    factory.face(abroad)
    offer = (
        await client.get(f"{BASE}/eligibility", headers=factory.auth(abroad, "pensioner"))
    ).json()
    assert offer["reasons"] == ["overseas"] and offer["timezone"] == "Pacific/Tongatapu"
    no_photo = factory.pensioner()
    offer = (
        await client.get(f"{BASE}/eligibility", headers=factory.auth(no_photo, "pensioner"))
    ).json()
    assert offer["reasons"] == ["not_enrolled"]


async def test_slots_in_utc_plus_13_from_an_agent_in_utc_plus_8(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    # The agent works Mondays 20:00-21:00 in Shanghai: Tuesdays 01:00-02:00 in Tonga.
    video_agent(factory, hours=(time(20), time(21)), weekdays=range(0, 1), name="Agent Wang")
    pensioner = overseas(factory, "Pacific/Tongatapu")
    headers = factory.auth(pensioner, "pensioner")
    tonga = ZoneInfo("Pacific/Tongatapu")
    tuesday = days_ahead(3, tonga)
    while tuesday.weekday() != 1:
        tuesday += timedelta(days=1)
    found = await _slots(client, headers, **{"from": str(tuesday), "days": 1})
    assert found["timezone"] == "Pacific/Tongatapu" and found["slot_minutes"] == 20
    local = [s["local_starts_at"] for s in found["slots"]]
    assert local == [f"{tuesday}T01:{m}:00+13:00" for m in ("00", "20", "40")]
    assert {s["local_date"] for s in found["slots"]} == {str(tuesday)}
    assert found["slots"][0]["starts_at"] == f"{tuesday - timedelta(days=1)}T12:00:00Z"
    assert "agent_name" not in found["slots"][0]  # the service assigns the agent
    # The Monday of the pensioner has none of them.
    monday = await _slots(client, headers, **{"from": str(tuesday - timedelta(days=1)), "days": 1})
    assert monday["slots"] == []
    # Another zone on request; a bad zone is named.
    shown = await _slots(client, headers, **{"from": str(tuesday), "days": 1, "tz": "UTC"})
    assert shown["slots"] == [] and shown["timezone"] == "UTC"
    bad = await client.get(f"{BASE}/slots", params={"tz": "Mars/Olympus"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["error"] == "UnknownTimeZone"
    assert "Mars/Olympus" in bad.json()["detail"]


async def test_pensioner_changes_their_time_zone(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    pensioner = overseas(factory, "Pacific/Tongatapu")
    headers = factory.auth(pensioner, "pensioner")
    me = (await client.get("/api/v1/me", headers=headers)).json()
    assert me["timezone"] == "Pacific/Tongatapu" and me["display_timezone"] is None
    changed = await client.patch(
        "/api/v1/me",
        json={"display_timezone": "Europe/Berlin", "preferred_language": "en"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["timezone"] == "Europe/Berlin"
    assert changed.json()["preferred_language"] == "en"
    assert (await client.get(f"{BASE}/eligibility", headers=headers)).json()[
        "timezone"
    ] == "Europe/Berlin"
    bad = await client.patch("/api/v1/me", json={"display_timezone": "Nowhere"}, headers=headers)
    assert bad.status_code == 422 and "Nowhere" in bad.json()["detail"]
    back = await client.patch("/api/v1/me", json={"display_timezone": None}, headers=headers)
    assert back.json()["timezone"] == "Pacific/Tongatapu"
    events = db.exec(select(AuditEvent).where(AuditEvent.action == "pensioner.self_update")).all()
    assert len(events) == 2


async def test_slots_across_a_daylight_saving_change_keep_their_utc_time(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    """The agent (no DST) works the same hours; a pensioner in a DST zone sees them move by
    an hour on the day the clocks change."""
    settings.video_booking_horizon_days = 180
    today = datetime.now(UTC).date()
    change: tuple[str, date] | None = None
    for name in ("America/New_York", "Europe/Berlin", "Australia/Sydney"):
        zone = ZoneInfo(name)
        for offset in range(3, 170):
            day = today + timedelta(days=offset)
            noon = datetime.combine(day, time(12), tzinfo=zone)
            if noon.utcoffset() != (noon - timedelta(days=1)).utcoffset():
                change = (name, day)
                break
        if change:
            break
    # New York, Berlin and Sydney change their clocks in March/April and October/November, so
    # one of them always does within 170 days.
    assert change is not None
    name, day = change
    video_agent(factory, hours=(time(9), time(9, 20)))  # one 09:00 Shanghai slot a day
    pensioner = overseas(factory, name)
    headers = factory.auth(pensioner, "pensioner")
    found = await _slots(client, headers, **{"from": str(day - timedelta(days=3)), "days": 6})
    slots = found["slots"]
    assert len(slots) >= 5
    utc_times = {s["starts_at"][11:] for s in slots}
    assert utc_times == {"01:00:00Z"}
    local_times = {s["local_starts_at"][11:16] for s in slots}
    assert len(local_times) == 2  # the local time shifts by an hour at the change
    offsets = {s["local_starts_at"][19:] for s in slots}
    assert len(offsets) == 2


async def test_booking_rules(
    client: httpx.AsyncClient, factory: Factory, db: Session, settings: Settings
) -> None:
    agent = video_agent(factory, name="Agent Li")
    video_agent(factory, scope="31")  # serves Shanghai only: never offered to Beijing
    pensioner = overseas(factory)
    headers = factory.auth(pensioner, "pensioner")
    slot = await _first_slot(client, headers)
    assert "agent_id" not in slot

    booked = await client.post(BASE, json={"starts_at": slot["starts_at"]}, headers=headers)
    assert booked.status_code == 201, booked.text
    body = booked.json()
    assert body["status"] == "booked" and body["agent_name"] == "Agent Li"
    assert body["timezone"] == "Pacific/Tongatapu" and body["local_starts_at"].endswith("+13:00")
    assert body["eligibility"] == ["overseas", "not_enrolled"]
    starts = datetime.fromisoformat(body["starts_at"])
    assert datetime.fromisoformat(body["join_opens_at"]) == starts - timedelta(minutes=10)
    assert datetime.fromisoformat(body["change_deadline"]) == starts - timedelta(hours=12)

    # The slot is no longer offered, and a second booking of one's own is refused.
    again = await _slots(client, headers, **{"from": str(days_ahead(3)), "days": 1})
    assert slot["starts_at"] not in {s["starts_at"] for s in again["slots"]}
    twice = await client.post(
        BASE, json={"starts_at": again["slots"][0]["starts_at"]}, headers=headers
    )
    assert twice.status_code == 409 and twice.json()["error"] == "AlreadyBooked"

    other = overseas(factory)
    other_headers = factory.auth(other, "pensioner")
    taken = await client.post(BASE, json={"starts_at": slot["starts_at"]}, headers=other_headers)
    assert taken.status_code == 409
    assert taken.json() == {
        "error": "SlotTaken",
        "detail": "This time was just taken, please pick another.",
    }
    odd = starts + timedelta(minutes=7)
    not_slot = await client.post(BASE, json={"starts_at": odd.isoformat()}, headers=other_headers)
    assert not_slot.status_code == 409 and not_slot.json()["error"] == "SlotNotAvailable"
    soon = now_minute() + timedelta(minutes=40)
    too_soon = await client.post(BASE, json={"starts_at": soon.isoformat()}, headers=other_headers)
    assert too_soon.status_code == 409 and "at least 2 hours ahead" in too_soon.json()["detail"]
    far = now_minute() + timedelta(days=60)
    too_far = await client.post(BASE, json={"starts_at": far.isoformat()}, headers=other_headers)
    assert too_far.status_code == 409 and "28 days ahead" in too_far.json()["detail"]
    naive = await client.post(
        BASE, json={"starts_at": "2030-01-01T09:00:00"}, headers=other_headers
    )
    assert naive.status_code == 422 and "UTC offset" in naive.json()["detail"]
    picked = await client.post(  # the pensioner cannot pick the agent
        BASE,
        json={"starts_at": again["slots"][0]["starts_at"], "agent_id": str(agent.id)},
        headers=other_headers,
    )
    assert picked.status_code == 422 and "agent_id" in picked.text

    mine = (await client.get(BASE, headers=headers)).json()
    assert [a["id"] for a in mine] == [body["id"]]
    assert (await client.get(f"{BASE}/{body['id']}", headers=other_headers)).status_code == 404
    shown = (await client.get(f"{BASE}/{body['id']}", params={"tz": "UTC"}, headers=headers)).json()
    assert shown["local_starts_at"] == shown["starts_at"]
    events = db.exec(select(AuditEvent).where(AuditEvent.action == "video_appointment.book")).all()
    assert len(events) == 1


async def test_agents_are_assigned_in_turn_among_those_free(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    """Issue 16, item 8: the service takes turns among the agents free at the time; two agents
    free at one time are one slot, and nobody can ask for a particular agent."""
    first, second = sorted((video_agent(factory), video_agent(factory)), key=lambda a: str(a.id))
    people = [overseas(factory) for _ in range(4)]
    found = await _slots(
        client, factory.auth(people[0], "pensioner"), **{"from": str(days_ahead(3)), "days": 1}
    )
    times = [s["starts_at"] for s in found["slots"]]
    assert len(times) == len(set(times))  # once each, whoever is free
    assigned = []
    for person, starts_at in zip(people[:3], times[:3], strict=True):
        booked = await client.post(
            BASE, json={"starts_at": starts_at}, headers=factory.auth(person, "pensioner")
        )
        assert booked.status_code == 201, booked.text
        assigned.append(db.get(VideoAppointment, uuid.UUID(booked.json()["id"])))
    assert [a.agent_id for a in assigned] == [first.id, second.id, first.id]  # type: ignore[union-attr]
    # The same time as the third call: only the second agent is free then.
    same_time = await client.post(
        BASE, json={"starts_at": times[2]}, headers=factory.auth(people[3], "pensioner")
    )
    assert same_time.status_code == 201, same_time.text
    assert same_time.json()["agent_name"] == second.username  # type: ignore[attr-defined]


async def test_cancel_and_reschedule_within_notice(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    video_agent(factory)
    pensioner = overseas(factory)
    headers = factory.auth(pensioner, "pensioner")
    first = await _first_slot(client, headers)
    booked = (
        await client.post(BASE, json={"starts_at": first["starts_at"]}, headers=headers)
    ).json()

    later = (await _slots(client, headers, **{"from": str(days_ahead(4)), "days": 1}))["slots"]
    moved = await client.post(
        f"{BASE}/{booked['id']}/reschedule",
        json={"starts_at": later[0]["starts_at"]},
        headers=headers,
    )
    assert moved.status_code == 201, moved.text
    new = moved.json()
    assert new["rescheduled_from_id"] == booked["id"] and new["status"] == "booked"
    old = (await client.get(f"{BASE}/{booked['id']}", headers=headers)).json()
    assert old["status"] == "rescheduled"
    # The freed slot is offered again.
    again = await _slots(client, headers, **{"from": str(days_ahead(3)), "days": 1})
    assert first["starts_at"] in {s["starts_at"] for s in again["slots"]}
    closed = await client.post(f"{BASE}/{booked['id']}/cancel", headers=headers)
    assert closed.status_code == 409 and closed.json()["error"] == "AppointmentClosed"

    # Rescheduling onto a taken slot fails and keeps the booking.
    rival = overseas(factory)
    rival_headers = factory.auth(rival, "pensioner")
    rival_booking = await client.post(
        BASE, json={"starts_at": later[1]["starts_at"]}, headers=rival_headers
    )
    assert rival_booking.status_code == 201
    clash = await client.post(
        f"{BASE}/{new['id']}/reschedule", json={"starts_at": later[1]["starts_at"]}, headers=headers
    )
    assert clash.status_code == 409 and clash.json()["error"] == "SlotTaken"
    assert (await client.get(f"{BASE}/{new['id']}", headers=headers)).json()["status"] == "booked"

    cancelled = await client.post(
        f"{BASE}/{new['id']}/cancel", json={"reason": "travelling"}, headers=headers
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

    # Inside the change notice (12 hours): too late to cancel or move.
    agent = video_agent(factory)
    close = appointment(
        factory, pensioner, agent, starts_at=now_minute() + timedelta(hours=5), zone="UTC"
    )
    late = await client.post(f"{BASE}/{close.id}/cancel", headers=headers)
    assert late.status_code == 409 and late.json()["error"] == "TooLateToChange"
    assert "12 hours before" in late.json()["detail"]
    late_move = await client.post(
        f"{BASE}/{close.id}/reschedule", json={"starts_at": later[2]["starts_at"]}, headers=headers
    )
    assert late_move.status_code == 409 and late_move.json()["error"] == "TooLateToChange"
    audited = db.exec(select(AuditEvent.action)).all()
    actions = [a for a in audited if a.startswith("video_appointment")]
    assert actions.count("video_appointment.reschedule") == 1
    assert actions.count("video_appointment.cancel") == 1


async def test_a_past_call_without_outcome_does_not_block_booking(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    agent = video_agent(factory)
    pensioner = overseas(factory)
    past = appointment(factory, pensioner, agent, starts_at=now_minute() - timedelta(days=2))
    headers = factory.auth(pensioner, "pensioner")
    slot = await _first_slot(client, headers)
    booked = await client.post(BASE, json={"starts_at": slot["starts_at"]}, headers=headers)
    assert booked.status_code == 201, booked.text
    db.expire_all()
    assert db.get(VideoAppointment, past.id).status is AppointmentStatus.lapsed  # type: ignore[union-attr]


async def test_concurrent_bookings_of_one_slot_exactly_one_wins(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    video_agent(factory)
    people = [overseas(factory) for _ in range(8)]
    slot = await _first_slot(client, factory.auth(people[0], "pensioner"))

    async def book(person: Any) -> httpx.Response:
        return await client.post(
            BASE, json={"starts_at": slot["starts_at"]}, headers=factory.auth(person, "pensioner")
        )

    # Sync routes run in the server's thread pool: these requests really overlap.
    responses = await asyncio.gather(*(book(p) for p in people))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 7, [r.text for r in responses]
    assert {r.json()["error"] for r in responses if r.status_code == 409} == {"SlotTaken"}
    rows = db.exec(
        select(VideoAppointment).where(VideoAppointment.status == AppointmentStatus.booked)
    ).all()
    assert len(rows) == 1


def test_the_database_refuses_double_booking(backend: Backend, factory: Factory) -> None:
    agent = video_agent(factory)
    first, second = overseas(factory), overseas(factory)
    starts = now_minute() + timedelta(days=3)
    appointment(factory, first, agent, starts_at=starts)
    with pytest.raises(IntegrityError):
        appointment(factory, second, agent, starts_at=starts)
    factory.session.rollback()
    # The same person twice (another agent), also refused; history does not count.
    other_agent = video_agent(factory)
    with pytest.raises(IntegrityError):
        appointment(factory, first, other_agent, starts_at=starts + timedelta(hours=1))
    factory.session.rollback()
    appointment(factory, second, agent, starts_at=starts, status=AppointmentStatus.cancelled)
    assert len(factory.session.exec(select(VideoAppointment)).all()) == 2


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.parametrize("threads", [12])
def test_threads_racing_past_the_check_meet_the_index(
    backend: Backend, factory: Factory, settings: Settings, threads: int
) -> None:
    """On PostgreSQL, many transactions insert the same agent and start at once: the partial
    unique index lets exactly one commit, the others get SlotTaken."""
    # Only PostgreSQL: SQLite serialises writers, and the API race test covers it there.
    import threading

    from app.appointments import service
    from app.appointments.errors import SlotTaken
    from app.audit.service import Actor

    video_agent(factory)  # the one agent every thread wants
    people = [overseas(factory) for _ in range(threads)]
    probe = Session(backend.engine)
    now = datetime.now(UTC)
    found = service.open_slots(
        session=probe,
        settings=settings,
        pensioner=people[0],
        zone_name="UTC",
        first_day=days_ahead(3),
        days=1,
        now=now,
    )
    probe.close()
    starts_at = found[0].starts_at
    barrier = threading.Barrier(threads)
    results: list[str] = []
    lock = threading.Lock()
    original = service._agent_slots

    def checked_then_wait(**kwargs: Any) -> Any:
        result = original(**kwargs)
        barrier.wait(timeout=30)  # everyone has passed the code check before anyone inserts
        return result

    def run(person: Any) -> None:
        with Session(backend.engine, expire_on_commit=False) as session:
            try:
                service.book(
                    session=session,
                    settings=settings,
                    pensioner=session.get(type(person), person.id),
                    starts_at=starts_at,
                    zone_name="UTC",
                    actor=Actor(type="pensioner", id=str(person.id)),
                    now=now,
                )
                session.commit()
                outcome = "booked"
            except SlotTaken:
                session.rollback()
                outcome = "taken"
        with lock:
            results.append(outcome)

    service._agent_slots = checked_then_wait  # type: ignore[assignment]
    try:
        workers = [threading.Thread(target=run, args=(p,)) for p in people]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=60)
    finally:
        service._agent_slots = original  # type: ignore[assignment]
    assert sorted(results) == ["booked"] + ["taken"] * (threads - 1)
