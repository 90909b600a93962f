"""Bodies of matching runs and of name-only candidates."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from models.matching import CandidateKind, CandidateStatus, RunKind
from models.records import FeedType


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: date | None = Field(default=None, description="Default: today")
    region_scope: str | None = Field(
        default=None, pattern=r"^\d{0,6}$", description="Default: your whole region scope"
    )


class RunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: RunKind
    as_of: date
    region_scope: str
    counts: dict[str, Any]
    timings: dict[str, Any]
    started_by_id: str
    started_at: datetime
    finished_at: datetime | None


class CandidateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    pensioner_id: uuid.UUID
    region_code: str
    kind: CandidateKind
    status: CandidateStatus
    record_key: str
    feed_type: FeedType
    event_date: date
    record_name: str | None
    record_date_of_birth: date | None
    score: float
    evidence: dict[str, Any]
    created_at: datetime
    decided_by_id: str | None
    decided_at: datetime | None
    decision_note: str | None


class CandidateDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: bool = Field(description="true: the record is this pensioner's; false: it is not")
    note: str | None = Field(default=None, max_length=500)


class CandidateDecided(BaseModel):
    candidate: CandidateRead
    effect: dict[str, Any]
