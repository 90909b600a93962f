"""Bodies of video-call booking (pensioners) and of agents' availability."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from app.attempts.schemas import Instruction
from app.config import IceServer
from models.video_call import AppointmentStatus, ExceptionKind

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _whole_minutes(value: time) -> time:
    if value.second or value.microsecond or value.tzinfo:
        raise ValueError("give a local time in whole minutes such as 09:30, without a zone")
    return value


LocalTime = Annotated[time, AfterValidator(_whole_minutes)]


class Eligibility(BaseModel):
    eligible: bool
    reasons: list[str] = Field(
        description="Why a call is offered: overseas, locked_out, remote_rejected, not_enrolled"
    )
    timezone: str = Field(description="The time zone times are shown in")
    message: Instruction


class SlotRead(BaseModel):
    """A time at which an agent is free; the service assigns the agent when booking."""

    starts_at: datetime = Field(description="UTC")
    ends_at: datetime = Field(description="UTC")
    local_starts_at: datetime = Field(description="The same instant in the requested time zone")
    local_ends_at: datetime
    local_date: date


class SlotList(BaseModel):
    timezone: str
    slot_minutes: int
    from_date: date
    days: int
    slots: list[SlotRead]


class BookingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: datetime = Field(
        description="A slot's starts_at (with its offset or Z); the service assigns the agent, "
        "in turn among those free at that time"
    )
    timezone: str | None = Field(
        default=None, description="Show and remind in this zone (default: your own)"
    )

    @field_validator("starts_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give the time with its UTC offset, e.g. 2026-12-01T01:00:00Z")
        return value


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=200)


class AppointmentRead(BaseModel):
    id: uuid.UUID
    status: AppointmentStatus
    starts_at: datetime
    ends_at: datetime
    timezone: str
    local_starts_at: datetime
    local_ends_at: datetime
    agent_name: str
    join_opens_at: datetime = Field(description="The room can be joined from this instant")
    join_closes_at: datetime
    change_deadline: datetime = Field(description="Cancel or reschedule before this instant")
    eligibility: list[str]
    rescheduled_from_id: uuid.UUID | None
    cancelled_at: datetime | None
    outcome_reason: str | None
    valid_until: date | None = Field(default=None, description="When certified by this call")
    created_at: datetime


class RoomToken(BaseModel):
    appointment_id: uuid.UUID
    role: str = Field(description="pensioner or agent")
    token: str
    not_before: datetime
    expires_at: datetime
    signal_path: str = Field(description="WebSocket path; add ?token=...")
    ice_servers: list[IceServer] = Field(
        description="Pass as RTCPeerConnection({iceServers}); empty on a local network"
    )


class WeeklyHoursIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weekday: int = Field(ge=0, le=6, description="0 Monday ... 6 Sunday")
    start: LocalTime = Field(description="Local time, e.g. 09:00")
    end: LocalTime = Field(description="Local time, e.g. 12:30; after start, same day")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError(
                f"{WEEKDAYS[self.weekday]}: end {self.end:%H:%M} is not after start "
                f"{self.start:%H:%M}"
            )
        return self


class ExceptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ExceptionKind
    starts_on: date
    ends_on: date = Field(description="Inclusive")
    start: LocalTime | None = Field(default=None, description="Leave out for whole days off")
    end: LocalTime | None = None
    reason: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.ends_on < self.starts_on:
            raise ValueError(f"ends_on {self.ends_on} is before starts_on {self.starts_on}")
        if (self.ends_on - self.starts_on).days > 366:
            raise ValueError("an exception covers at most a year")
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither (whole days)")
        if self.kind is ExceptionKind.extra and self.start is None:
            raise ValueError("extra hours need start and end")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end {self.end:%H:%M} is not after start {self.start:%H:%M}")
        return self


class AvailabilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = Field(description="Your IANA time zone, e.g. Asia/Shanghai")
    weekly: list[WeeklyHoursIn] = Field(default_factory=list, max_length=100)
    exceptions: list[ExceptionIn] = Field(default_factory=list, max_length=500)

    @model_validator(mode="after")
    def _no_overlaps(self) -> Self:
        by_day: dict[int, list[WeeklyHoursIn]] = {}
        for hours in self.weekly:
            by_day.setdefault(hours.weekday, []).append(hours)
        for day, windows in by_day.items():
            ordered = sorted(windows, key=lambda h: h.start)
            for a, b in zip(ordered, ordered[1:], strict=False):
                if b.start < a.end:
                    raise ValueError(
                        f"{WEEKDAYS[day]}: {a.start:%H:%M}-{a.end:%H:%M} overlaps "
                        f"{b.start:%H:%M}-{b.end:%H:%M}"
                    )
        return self


class ExceptionRead(ExceptionIn):
    id: uuid.UUID


class AvailabilityRead(BaseModel):
    agent_id: uuid.UUID
    timezone: str
    slot_minutes: int
    weekly: list[WeeklyHoursIn]
    exceptions: list[ExceptionRead]
