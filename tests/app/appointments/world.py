"""Rows for video-call tests: agents with weekly hours, appointments at given times."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from models.video_call import AppointmentStatus, AvailabilityRule, VideoAppointment
from tests.conftest import Factory


def video_agent(
    factory: Factory,
    *,
    scope: str = "11",
    zone: str = "Asia/Shanghai",
    hours: tuple[time, time] = (time(0), time(23, 40)),
    weekdays: range = range(7),
    name: str = "",
) -> Any:
    """A video agent working `hours` (local, in `zone`) on `weekdays`."""
    agent = factory.staff("video_agent", scope=scope)
    agent.full_name = name  # type: ignore[attr-defined]
    factory.session.add(agent)
    for weekday in weekdays:
        factory.session.add(
            AvailabilityRule(
                agent_id=agent.id,  # type: ignore[attr-defined]
                weekday=weekday,
                start_time=hours[0],
                end_time=hours[1],
                timezone=zone,
            )
        )
    factory.session.commit()
    return agent


def appointment(
    factory: Factory,
    pensioner: Any,
    agent: Any,
    *,
    starts_at: datetime,
    minutes: int = 20,
    status: AppointmentStatus = AppointmentStatus.booked,
    zone: str = "Asia/Shanghai",
) -> VideoAppointment:
    """An appointment written directly (any time, no booking rules): for call tests."""
    row = VideoAppointment(
        pensioner_id=pensioner.id,
        agent_id=agent.id,
        region_code=pensioner.region_code,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        status=status,
        eligibility=["overseas"],
        timezone=zone,
    )
    factory.session.add(row)
    factory.session.commit()
    return row


def now_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def days_ahead(days: int, zone: Any = UTC) -> date:
    return (datetime.now(UTC) + timedelta(days=days)).astimezone(zone).date()
