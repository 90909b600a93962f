"""Bodies of the review queue."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from models.attempt import ReviewStatus


class ReviewSummary(BaseModel):
    id: uuid.UUID
    attempt_id: uuid.UUID
    pensioner_id: uuid.UUID
    pensioner_name: str
    region_code: str
    status: ReviewStatus
    low_score: bool
    reasons: list[str]
    created_at: datetime
    age_hours: float


class ReviewCaseRead(ReviewSummary):
    operated_by: str | None
    decision: dict[str, Any] = Field(description="Scores, thresholds, models and reasons")
    enrolled_photos: list[str] = Field(description="URLs of the enrolled photos")
    selfie: str | None
    key_frames: list[str]
    first_approver_id: str | None
    decided_by_id: str | None
    decision_reason: str | None


class Verdict(enum.StrEnum):
    approve = "approve"
    reject = "reject"
    new_attempt = "new_attempt"


class ReviewDecision(BaseModel):
    verdict: Verdict
    reason: str | None = Field(default=None, max_length=500)
    same_person: bool | None = Field(
        default=None,
        description="Rejecting: false when the selfie or video shows someone other than the "
        "enrolled person (kept as a labelled impostor comparison for the face calibration); "
        "an approval counts as the same person.",
    )

    @model_validator(mode="after")
    def _reason_for_refusals(self) -> ReviewDecision:
        if self.verdict is not Verdict.approve and not (self.reason and self.reason.strip()):
            raise ValueError("give a reason when rejecting or asking for a new attempt")
        if self.verdict is Verdict.approve and self.same_person is False:
            raise ValueError("an approval is for the enrolled person: same_person cannot be false")
        return self
