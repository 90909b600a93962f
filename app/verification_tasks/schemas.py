"""Bodies of verification tasks and visit reports."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from models.verification import TaskKind, TaskStatus, VisitOutcome


class TaskRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    pensioner_id: uuid.UUID
    region_code: str
    kind: TaskKind
    status: TaskStatus
    reason: str
    due_date: date
    run_id: uuid.UUID | None
    created_at: datetime
    outcome: VisitOutcome | None
    visit_date: date | None
    date_of_death: date | None
    notes: str | None
    evidence: dict[str, Any]
    completed_by_id: str | None
    completed_at: datetime | None


class TaskPage(BaseModel):
    items: list[TaskRead]
    total: int
    limit: int
    offset: int


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pensioner_id: uuid.UUID
    kind: TaskKind = TaskKind.community_visit
    reason: str = Field(default="requested_by_staff", min_length=1, max_length=64)


class VisitReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visit_date: date
    outcome: VisitOutcome
    date_of_death: date | None = None
    death_evidence: str | None = Field(
        default=None, max_length=200, description="e.g. the death certificate number"
    )
    notes: str | None = Field(default=None, max_length=1000)
