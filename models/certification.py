"""Certifications of continued entitlement, and suspensions of payment with their resumption."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import enum_type, tz_datetime, utcnow


class CertificationMethod(enum.StrEnum):
    data_comparison = "data_comparison"  # silent: activity records show the person alive
    remote_self_service = "remote_self_service"  # selfie + liveness video
    video_call = "video_call"
    community_visit = "community_visit"
    home_visit = "home_visit"
    consular_document = "consular_document"


class Certification(SQLModel, table=True):
    __tablename__ = "certification"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    pensioner_id: uuid.UUID = Field(foreign_key="pensioner.id", index=True)
    method: CertificationMethod = Field(sa_type=enum_type(CertificationMethod))
    certified_at: datetime = Field(sa_type=tz_datetime(), index=True)
    valid_until: date
    # What the decision rests on: record ids, scores and thresholds, the agent's notes.
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    decided_by_type: str = Field(max_length=16)  # staff, system, pensioner
    decided_by_id: str = Field(max_length=64)
    # Assisted capture: who held the device (a relative, a staff member), when not the person.
    operated_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())


class SuspensionReason(enum.StrEnum):
    death = "death"
    certification_overdue = "certification_overdue"
    ineligible = "ineligible"  # confirmed by staff after a fraud check
    fraud_suspected = "fraud_suspected"


class PaymentSuspension(SQLModel, table=True):
    """A period without payment; resuming it records the back-pay owed, if any."""

    __tablename__ = "payment_suspension"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    pensioner_id: uuid.UUID = Field(foreign_key="pensioner.id", index=True)
    reason: SuspensionReason = Field(sa_type=enum_type(SuspensionReason))
    suspended_from: date  # the first month not paid
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    resumed_on: date | None = None
    resume_reason: str | None = Field(default=None, max_length=200)
    back_pay_months: int | None = None
    back_pay_fen: int | None = None
    created_by_type: str = Field(max_length=16)
    created_by_id: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
