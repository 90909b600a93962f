"""Video-call booking for the signed-in pensioner, and agents' own availability."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import AfterValidator

from app.appointments import service
from app.appointments.schemas import (
    AppointmentRead,
    AvailabilityIn,
    AvailabilityRead,
    BookingRequest,
    CancelRequest,
    Eligibility,
    RoomToken,
    SlotList,
    SlotRead,
)
from app.db import SessionDep
from app.deps import CurrentPensioner, PensionerActor, RequireVideoAgent, SettingsDep, StaffActor
from app.video_calls import service as calls

router = APIRouter(prefix="/appointments", tags=["video-call booking"])
agent_router = APIRouter(prefix="/video-agents/me", tags=["video calls"])

TimeZoneQuery = Annotated[
    str | None,
    Query(max_length=64, description="IANA time zone to show times in (default: yours)"),
]


def _now() -> datetime:
    return datetime.now(UTC)


def _plausible_day(day: date | None) -> date | None:
    # Days at the ends of the calendar (0001-01-01, 9999-12-31) overflow when turned into
    # instants in a time zone; a booking is never near them.
    if day is not None and not 1900 <= day.year <= 2999:
        raise ValueError("give a date between 1900-01-01 and 2999-12-31")
    return day


@router.get(
    "/eligibility",
    response_model=Eligibility,
    summary="Whether you can book a video call, and why",
)
def read_eligibility(
    session: SessionDep,
    settings: SettingsDep,
    pensioner: CurrentPensioner,
    tz: TimeZoneQuery = None,
) -> Eligibility:
    return service.eligibility(
        session=session,
        settings=settings,
        pensioner=pensioner,
        zone_name=service.pensioner_zone(pensioner, settings, tz),
    )


@router.get(
    "/slots",
    response_model=SlotList,
    summary="Open slots on your local dates, shown in your time zone",
    description="`from` is a date in the time zone used (default: today there); `days` up to "
    "31. Slots closer than the booking notice or beyond the horizon are left out.",
)
def list_slots(
    session: SessionDep,
    settings: SettingsDep,
    pensioner: CurrentPensioner,
    tz: TimeZoneQuery = None,
    from_date: Annotated[date | None, Query(alias="from"), AfterValidator(_plausible_day)] = None,
    days: Annotated[int, Query(ge=1, le=31)] = 7,
) -> SlotList:
    if service.booked_for(session=session, pensioner_id=pensioner.id) is None:
        # With a booked call the slots are shown for rescheduling whatever the reasons now.
        service.require_eligible(session=session, settings=settings, pensioner=pensioner)
    zone_name = service.pensioner_zone(pensioner, settings, tz)
    zone = service.zone(zone_name)
    now = _now()
    first_day = from_date or now.astimezone(zone).date()
    found = service.open_slots(
        session=session,
        settings=settings,
        pensioner=pensioner,
        zone_name=zone_name,
        first_day=first_day,
        days=days,
        now=now,
    )
    return SlotList(
        timezone=zone_name,
        slot_minutes=settings.video_slot_minutes,
        from_date=first_day,
        days=days,
        slots=[
            SlotRead(
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                local_starts_at=slot.starts_at.astimezone(zone),
                local_ends_at=slot.ends_at.astimezone(zone),
                local_date=slot.starts_at.astimezone(zone).date(),
            )
            for slot in found
        ],
    )


@router.post(
    "",
    response_model=AppointmentRead,
    status_code=status.HTTP_201_CREATED,
    summary="Book a slot",
    description="409 `SlotTaken` if someone booked it first, `SlotNotAvailable` if it is not an "
    "open slot (or inside the booking notice), `AlreadyBooked` if you have a booked call.",
)
def book(
    body: BookingRequest,
    session: SessionDep,
    settings: SettingsDep,
    pensioner: CurrentPensioner,
    actor: PensionerActor,
) -> AppointmentRead:
    zone_name = service.pensioner_zone(pensioner, settings, body.timezone)
    appointment = service.book(
        session=session,
        settings=settings,
        pensioner=pensioner,
        starts_at=body.starts_at,
        zone_name=zone_name,
        actor=actor,
        now=_now(),
    )
    return service.to_read(session=session, settings=settings, appointment=appointment)


@router.get("", response_model=list[AppointmentRead], summary="Your appointments, latest first")
def list_appointments(
    session: SessionDep,
    settings: SettingsDep,
    pensioner: CurrentPensioner,
    tz: TimeZoneQuery = None,
) -> list[AppointmentRead]:
    zone_name = service.pensioner_zone(pensioner, settings, tz) if tz else None
    return [
        service.to_read(session=session, settings=settings, appointment=a, zone_name=zone_name)
        for a in service.list_own(session=session, pensioner=pensioner)
    ]


@router.get(
    "/{appointment_id}",
    response_model=AppointmentRead,
    summary="One of your appointments",
)
def read_appointment(
    appointment_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    pensioner: CurrentPensioner,
    tz: TimeZoneQuery = None,
) -> AppointmentRead:
    appointment = service.get_own(
        session=session, pensioner=pensioner, appointment_id=appointment_id
    )
    zone_name = service.pensioner_zone(pensioner, settings, tz) if tz else None
    return service.to_read(
        session=session, settings=settings, appointment=appointment, zone_name=zone_name
    )


@router.post(
    "/{appointment_id}/cancel",
    response_model=AppointmentRead,
    summary="Cancel, up to the change notice before the start (409 `TooLateToChange` after)",
)
def cancel(
    appointment_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    pensioner: CurrentPensioner,
    actor: PensionerActor,
    body: CancelRequest | None = None,
) -> AppointmentRead:
    appointment = service.get_own(
        session=session, pensioner=pensioner, appointment_id=appointment_id
    )
    service.cancel(
        session=session,
        settings=settings,
        pensioner=pensioner,
        appointment=appointment,
        reason=body.reason if body else None,
        actor=actor,
        now=_now(),
    )
    return service.to_read(session=session, settings=settings, appointment=appointment)


@router.post(
    "/{appointment_id}/reschedule",
    response_model=AppointmentRead,
    status_code=status.HTTP_201_CREATED,
    summary="Move to another slot: returns the new appointment (the old one is `rescheduled`)",
)
def reschedule(
    appointment_id: uuid.UUID,
    body: BookingRequest,
    session: SessionDep,
    settings: SettingsDep,
    pensioner: CurrentPensioner,
    actor: PensionerActor,
) -> AppointmentRead:
    appointment = service.get_own(
        session=session, pensioner=pensioner, appointment_id=appointment_id
    )
    zone_name = service.pensioner_zone(pensioner, settings, body.timezone or appointment.timezone)
    new = service.reschedule(
        session=session,
        settings=settings,
        pensioner=pensioner,
        appointment=appointment,
        starts_at=body.starts_at,
        zone_name=zone_name,
        actor=actor,
        now=_now(),
    )
    return service.to_read(session=session, settings=settings, appointment=new)


@router.post(
    "/{appointment_id}/room-token",
    response_model=RoomToken,
    summary="A token for the call's signalling WebSocket, valid only in the call's window",
)
def pensioner_room_token(
    appointment_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    pensioner: CurrentPensioner,
) -> RoomToken:
    appointment = service.get_own(
        session=session, pensioner=pensioner, appointment_id=appointment_id
    )
    return calls.issue_room_token(
        settings=settings,
        appointment=appointment,
        subject=str(pensioner.id),
        role="pensioner",
        now=_now(),
    )


@agent_router.get("/availability", response_model=AvailabilityRead, summary="Your weekly hours")
def read_availability(
    session: SessionDep, settings: SettingsDep, agent: RequireVideoAgent
) -> AvailabilityRead:
    return service.availability_read(session=session, settings=settings, agent=agent)


@agent_router.put(
    "/availability",
    response_model=AvailabilityRead,
    summary="Replace your weekly hours and exceptions (local times in your time zone)",
    description="Booked calls stay booked. Weekdays: 0 Monday ... 6 Sunday. Exceptions are "
    "local date ranges: `unavailable` (whole days, or `start`-`end` on each day) or `extra` "
    "hours.",
)
def replace_availability(
    body: AvailabilityIn,
    session: SessionDep,
    settings: SettingsDep,
    agent: RequireVideoAgent,
    actor: StaffActor,
) -> AvailabilityRead:
    return service.set_availability(
        session=session, settings=settings, agent=agent, data=body, actor=actor
    )
