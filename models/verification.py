"""Verification tasks: a prompt to certify remotely, or a community or home visit."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import enum_type, tz_datetime, utcnow


class TaskKind(enum.StrEnum):
    remote_prompt = "remote_prompt"
    community_visit = "community_visit"
    home_visit = "home_visit"  # mobility is limited: the worker goes to the door


class TaskStatus(enum.StrEnum):
    open = "open"
    done = "done"
    escalated = "escalated"  # a prompt left unanswered, replaced by a visit
    # A visit found alive a pensioner suspended for death: payment resumes (with back-pay)
    # only when a second staff member confirms the visit.
    awaiting_confirmation = "awaiting_confirmation"
    cancelled = "cancelled"


class VisitOutcome(enum.StrEnum):
    confirmed_alive = "confirmed_alive"
    deceased = "deceased"
    moved = "moved"
    unreachable = "unreachable"
    certified = "certified"  # closed because the pensioner certified another way


class VerificationTask(SQLModel, table=True):
    __tablename__ = "verification_task"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    pensioner_id: uuid.UUID = Field(foreign_key="pensioner.id", index=True)
    region_code: str = Field(max_length=6, index=True)
    kind: TaskKind = Field(sa_type=enum_type(TaskKind))
    status: TaskStatus = Field(default=TaskStatus.open, sa_type=enum_type(TaskStatus), index=True)
    reason: str = Field(max_length=64)
    due_date: date
    run_id: uuid.UUID | None = Field(default=None, foreign_key="matching_run.id")
    created_by_type: str = Field(max_length=16)
    created_by_id: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
    outcome: VisitOutcome | None = Field(default=None, sa_type=enum_type(VisitOutcome))
    visit_date: date | None = None
    date_of_death: date | None = None
    notes: str | None = Field(default=None, max_length=1000)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    completed_by_id: str | None = Field(default=None, max_length=64)
    completed_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    confirmed_by_id: str | None = Field(default=None, max_length=64)
    confirmed_at: datetime | None = Field(default=None, sa_type=tz_datetime())
