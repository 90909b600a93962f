"""Remote self-certification attempts: the server's liveness challenge, uploads and decision."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import enum_type, tz_datetime, utcnow


class AttemptStatus(enum.StrEnum):
    awaiting_upload = "awaiting_upload"
    processing = "processing"
    certified = "certified"
    needs_review = "needs_review"
    rejected = "rejected"
    retry = "retry"  # a quality problem the person can fix; counts as a failed try
    expired = "expired"


FINAL_STATUSES = frozenset(
    {
        AttemptStatus.certified,
        AttemptStatus.needs_review,
        AttemptStatus.rejected,
        AttemptStatus.retry,
        AttemptStatus.expired,
    }
)


class CertificationAttempt(SQLModel, table=True):
    __tablename__ = "certification_attempt"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    pensioner_id: uuid.UUID = Field(foreign_key="pensioner.id", index=True)
    status: AttemptStatus = Field(
        default=AttemptStatus.awaiting_upload, sa_type=enum_type(AttemptStatus), index=True
    )
    # The liveness challenge: actions in order, a nonce the upload must echo, single use.
    challenge_actions: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    challenge_nonce: str = Field(max_length=64, unique=True)
    challenge_expires_at: datetime = Field(sa_type=tz_datetime())
    challenge_used_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    mirrored: bool = False
    # Assisted capture: who held the phone when it was not the pensioner.
    operated_by: str | None = Field(default=None, max_length=200)
    client_address: str | None = Field(default=None, max_length=64)
    selfie_path: str | None = Field(default=None, max_length=255)
    selfie_sha256: str | None = Field(default=None, max_length=64)
    video_path: str | None = Field(default=None, max_length=255)
    video_sha256: str | None = Field(default=None, max_length=64, index=True)
    uploaded_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    # Job bookkeeping: workers may die; the decision is written once, guarded by status.
    job_runs: int = 0
    job_started_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    decided_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    # Every score, threshold, model version and reason behind the outcome.
    decision: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    reasons: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    certification_id: uuid.UUID | None = Field(default=None, foreign_key="certification.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime(), index=True)


class ReviewStatus(enum.StrEnum):
    open = "open"
    awaiting_second_review = "awaiting_second_review"
    approved = "approved"
    rejected = "rejected"
    new_attempt_requested = "new_attempt_requested"


class ReviewCase(SQLModel, table=True):
    """A borderline attempt waiting for a person; low-score approvals need two reviewers."""

    __tablename__ = "review_case"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    attempt_id: uuid.UUID = Field(foreign_key="certification_attempt.id", unique=True)
    pensioner_id: uuid.UUID = Field(foreign_key="pensioner.id", index=True)
    region_code: str = Field(max_length=6, index=True)
    status: ReviewStatus = Field(
        default=ReviewStatus.open, sa_type=enum_type(ReviewStatus), index=True
    )
    low_score: bool = False
    first_approver_id: str | None = Field(default=None, max_length=64)
    first_approved_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    decided_by_id: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    decision_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime(), index=True)
