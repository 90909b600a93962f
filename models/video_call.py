"""Video-call certification: agents' availability, booked appointments, reminders, call frames."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import enum_type, tz_datetime, utcnow


class AvailabilityRule(SQLModel, table=True):
    """Weekly working hours of a video agent, in the agent's own time zone (wall-clock)."""

    __tablename__ = "video_availability_rule"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    agent_id: uuid.UUID = Field(foreign_key="staff_user.id", index=True)
    weekday: int = Field(ge=0, le=6)  # 0 Monday ... 6 Sunday, as date.weekday()
    start_time: time
    end_time: time
    timezone: str = Field(max_length=64)  # IANA name
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())


class ExceptionKind(enum.StrEnum):
    unavailable = "unavailable"  # leave, a training day: no slots (all day or some hours)
    extra = "extra"  # hours on top of the weekly ones


class AvailabilityException(SQLModel, table=True):
    """A date range (agent's local dates) of unavailability or of extra hours."""

    __tablename__ = "video_availability_exception"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    agent_id: uuid.UUID = Field(foreign_key="staff_user.id", index=True)
    kind: ExceptionKind = Field(sa_type=enum_type(ExceptionKind))
    starts_on: date
    ends_on: date  # inclusive
    # Unavailable without times: the whole days. Extra hours always have times.
    start_time: time | None = None
    end_time: time | None = None
    timezone: str = Field(max_length=64)
    reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())


class AppointmentStatus(enum.StrEnum):
    booked = "booked"
    cancelled = "cancelled"
    rescheduled = "rescheduled"  # replaced by a new appointment (rescheduled_from_id)
    certified = "certified"
    not_certified = "not_certified"
    no_show = "no_show"
    lapsed = "lapsed"  # the time passed and no outcome was recorded
    # Certified by an override (no matching frame) or after the call's time: nothing is
    # certified until a second staff member confirms (or refuses) the agent's outcome.
    awaiting_confirmation = "awaiting_confirmation"


class VideoAppointment(SQLModel, table=True):
    """One booked video call between a pensioner and an agent; instants are UTC."""

    __tablename__ = "video_appointment"
    __table_args__ = (
        # No double booking, enforced by the database: one booked call per agent and start
        # time, and one booked call per pensioner. Partial indexes, so history does not count.
        sa.Index(
            "uq_video_appointment_agent_slot",
            "agent_id",
            "starts_at",
            unique=True,
            sqlite_where=sa.text("status = 'booked'"),
            postgresql_where=sa.text("status = 'booked'"),
        ),
        sa.Index(
            "uq_video_appointment_pensioner_booked",
            "pensioner_id",
            unique=True,
            sqlite_where=sa.text("status = 'booked'"),
            postgresql_where=sa.text("status = 'booked'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    pensioner_id: uuid.UUID = Field(foreign_key="pensioner.id", index=True)
    agent_id: uuid.UUID = Field(foreign_key="staff_user.id", index=True)
    region_code: str = Field(max_length=6, index=True)
    starts_at: datetime = Field(sa_type=tz_datetime(), index=True)
    ends_at: datetime = Field(sa_type=tz_datetime())
    status: AppointmentStatus = Field(
        default=AppointmentStatus.booked, sa_type=enum_type(AppointmentStatus), index=True
    )
    # Why the pensioner was offered a call (overseas, locked_out, remote_rejected, not_enrolled).
    eligibility: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    # The pensioner's time zone when booking: reminders state the time in it.
    timezone: str = Field(max_length=64)
    # No foreign key: an id kept for history, and a self-reference would complicate deletion.
    rescheduled_from_id: uuid.UUID | None = Field(default=None)
    cancelled_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    cancel_reason: str | None = Field(default=None, max_length=200)
    # Codes the pensioner was asked to read aloud: [{"code": "4821", "issued_at": ...}].
    read_codes: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    outcome_reason: str | None = Field(default=None, max_length=500)
    override_reason: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=1000)
    decided_by_id: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    # The second staff member who confirmed or refused an outcome awaiting confirmation.
    confirmed_by_id: str | None = Field(default=None, max_length=64)
    confirmed_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    certification_id: uuid.UUID | None = Field(default=None, foreign_key="certification.id")
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
    updated_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())


class CallReminderKind(enum.StrEnum):
    day_before = "day_before"
    hour_before = "hour_before"


class AppointmentReminder(SQLModel, table=True):
    """A reminder sent for an appointment: once per kind, so repeated runs send none twice."""

    __tablename__ = "video_appointment_reminder"
    __table_args__ = (sa.UniqueConstraint("appointment_id", "kind"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    appointment_id: uuid.UUID = Field(foreign_key="video_appointment.id", index=True)
    kind: CallReminderKind = Field(sa_type=enum_type(CallReminderKind))
    sent_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())


class CallFrame(SQLModel, table=True):
    """A frame the agent captured from the incoming video, with its face check: evidence."""

    __tablename__ = "video_call_frame"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    appointment_id: uuid.UUID = Field(foreign_key="video_appointment.id", index=True)
    path: str = Field(max_length=255)  # relative to the media directory
    sha256: str = Field(max_length=64)
    format: str = Field(max_length=8)
    decision: str = Field(max_length=16)  # match, review, no_match
    score: float | None = None
    distance: float
    reasons: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    # Every number behind the decision: scores, thresholds, model, cohort, quality findings.
    details: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    captured_by_id: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
