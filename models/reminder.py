"""Certification reminders sent, one per stage and validity date, so daily runs repeat none."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import enum_type, tz_datetime, utcnow


class ReminderStage(enum.StrEnum):
    due_soon = "due_soon"
    overdue = "overdue"


class CertificationReminder(SQLModel, table=True):
    __tablename__ = "certification_reminder"
    __table_args__ = (sa.UniqueConstraint("pensioner_id", "stage", "due_date"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    pensioner_id: uuid.UUID = Field(foreign_key="pensioner.id", index=True)
    stage: ReminderStage = Field(sa_type=enum_type(ReminderStage))
    # The certified_until the reminder was about (a new certification starts a new cycle).
    due_date: date
    sent_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
