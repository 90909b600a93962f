"""Agents publish weekly hours and exceptions in their own zone; bad schedules are explained."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlmodel import Session, select

from models.audit import AuditEvent
from models.pensioner import Residence
from tests.app.appointments.world import days_ahead
from tests.conftest import Factory

URL = "/api/v1/video-agents/me/availability"


def _schedule(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "timezone": "Europe/Berlin",
        "weekly": [{"weekday": d, "start": "09:00", "end": "12:00"} for d in range(7)],
        "exceptions": [],
    }
    body.update(changes)
    return body


async def test_publish_read_and_see_the_slots(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    agent = factory.staff("video_agent", scope="11")
    headers = factory.auth(agent)
    empty = (await client.get(URL, headers=headers)).json()
    assert empty["weekly"] == [] and empty["timezone"] == "Asia/Shanghai"
    leave_day = days_ahead(4, ZoneInfo("Europe/Berlin"))
    extra_day = days_ahead(5, ZoneInfo("Europe/Berlin"))
    body = _schedule(
        exceptions=[
            {"kind": "unavailable", "starts_on": str(leave_day), "ends_on": str(leave_day)},
            {
                "kind": "extra",
                "starts_on": str(extra_day),
                "ends_on": str(extra_day),
                "start": "18:00",
                "end": "18:40",
                "reason": "evening for Canada",
            },
        ]
    )
    saved = await client.put(URL, json=body, headers=headers)
    assert saved.status_code == 200, saved.text
    read = (await client.get(URL, headers=headers)).json()
    assert read["timezone"] == "Europe/Berlin" and read["slot_minutes"] == 20
    assert len(read["weekly"]) == 7 and read["weekly"][0]["start"] == "09:00:00"
    assert [e["kind"] for e in read["exceptions"]] == ["unavailable", "extra"]
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "video_agent.availability")).one()

    pensioner = factory.pensioner(
        residence=Residence.overseas, overseas_country="DE", overseas_timezone="Europe/Berlin"
    )
    pensioner_headers = factory.auth(pensioner, "pensioner")

    async def local_times(day: Any) -> list[str]:
        found = (
            await client.get(
                "/api/v1/appointments/slots",
                params={"from": str(day), "days": 1},
                headers=pensioner_headers,
            )
        ).json()
        return [s["local_starts_at"][11:16] for s in found["slots"]]

    assert await local_times(leave_day) == []
    extra = await local_times(extra_day)
    assert extra[:9] == [
        "09:00",
        "09:20",
        "09:40",
        "10:00",
        "10:20",
        "10:40",
        "11:00",
        "11:20",
        "11:40",
    ]
    assert extra[9:] == ["18:00", "18:20"]
    assert len(await local_times(leave_day + timedelta(days=2))) == 9


async def test_bad_schedules_are_explained(client: httpx.AsyncClient, factory: Factory) -> None:
    headers = factory.auth(factory.staff("video_agent", scope="11"))
    cases = [
        (_schedule(timezone="Berlin"), "UnknownTimeZone", "'Berlin'"),
        (
            _schedule(weekly=[{"weekday": 0, "start": "12:00", "end": "09:00"}]),
            "ValidationError",
            "Monday: end 09:00 is not after start 12:00",
        ),
        (
            _schedule(
                weekly=[
                    {"weekday": 2, "start": "09:00", "end": "12:00"},
                    {"weekday": 2, "start": "11:00", "end": "13:00"},
                ]
            ),
            "ValidationError",
            "Wednesday: 09:00-12:00 overlaps 11:00-13:00",
        ),
        (
            _schedule(weekly=[{"weekday": 7, "start": "09:00", "end": "10:00"}]),
            "ValidationError",
            "weekly.0.weekday",
        ),
        (
            _schedule(
                exceptions=[{"kind": "extra", "starts_on": "2027-01-05", "ends_on": "2027-01-05"}]
            ),
            "ValidationError",
            "extra hours need start and end",
        ),
        (
            _schedule(
                exceptions=[
                    {"kind": "unavailable", "starts_on": "2027-01-05", "ends_on": "2027-01-01"}
                ]
            ),
            "ValidationError",
            "ends_on 2027-01-01 is before starts_on 2027-01-05",
        ),
        (
            _schedule(weekly=[{"weekday": 1, "start": "09:00:30", "end": "10:00"}]),
            "ValidationError",
            "whole minutes",
        ),
    ]
    for body, error, words in cases:
        response = await client.put(URL, json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"] == error and words in response.json()["detail"], (
            response.text
        )
    reviewer = await client.put(
        URL, json=_schedule(), headers=factory.auth(factory.staff("reviewer"))
    )
    assert reviewer.status_code == 403
