"""Matching runs and the name-only candidates they leave for staff to confirm."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import enum_type, tz_datetime, utcnow
from models.records import FeedType


class RunKind(enum.StrEnum):
    monthly = "monthly"
    on_demand = "on_demand"
    incremental = "incremental"  # records pushed through the API, matched at once


class MatchingRun(SQLModel, table=True):
    __tablename__ = "matching_run"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: RunKind = Field(sa_type=enum_type(RunKind))
    as_of: date
    region_scope: str = Field(default="", max_length=6)
    counts: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    timings: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    started_by_type: str = Field(max_length=16)
    started_by_id: str = Field(max_length=64)
    started_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
    finished_at: datetime | None = Field(default=None, sa_type=tz_datetime())


class CandidateKind(enum.StrEnum):
    death_by_name = "death_by_name"  # a death record without a usable ID
    death_untrusted = "death_untrusted"  # matched by ID, from a source not trusted to suspend
    activity_by_name = "activity_by_name"  # evidence of life without a usable ID


class CandidateStatus(enum.StrEnum):
    pending = "pending"
    confirmed = "confirmed"
    rejected = "rejected"


class MatchCandidate(SQLModel, table=True):
    """A record that may concern a pensioner; it changes nothing until staff confirm it."""

    __tablename__ = "match_candidate"
    __table_args__ = (sa.UniqueConstraint("record_key", "pensioner_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    pensioner_id: uuid.UUID = Field(foreign_key="pensioner.id", index=True)
    region_code: str = Field(max_length=6, index=True)
    kind: CandidateKind = Field(sa_type=enum_type(CandidateKind))
    status: CandidateStatus = Field(
        default=CandidateStatus.pending, sa_type=enum_type(CandidateStatus), index=True
    )
    # "<batch id>:<row number>" of a file record, "q:<id>" of a quarantined one.
    record_key: str = Field(max_length=80)
    feed_type: FeedType = Field(sa_type=enum_type(FeedType))
    event_date: date
    record_name: str | None = Field(default=None, max_length=100)
    record_date_of_birth: date | None = None
    score: float
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    run_id: uuid.UUID | None = Field(default=None, foreign_key="matching_run.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
    decided_by_id: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    decision_note: str | None = Field(default=None, max_length=500)
