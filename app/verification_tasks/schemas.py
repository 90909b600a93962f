"""Bodies of verification tasks and visit reports."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    confirmed_by_id: str | None = None
    confirmed_at: datetime | None = None


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


class VisitConfirmation(BaseModel):
    """A second staff member's word on a visit that would lift a death suspension."""

    model_config = ConfigDict(extra="forbid")

    confirm: bool
    reason: str | None = Field(default=None, max_length=500, description="Required when refusing")

    @model_validator(mode="after")
    def _reason_for_refusals(self) -> VisitConfirmation:
        if not self.confirm and not (self.reason and self.reason.strip()):
            raise ValueError("give a reason when refusing")
        return self
