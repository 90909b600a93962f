"""Overpayment claims for payments made after a death, and their recovery case."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import enum_type, tz_datetime, utcnow


class RecoveryStatus(enum.StrEnum):
    open = "open"
    notified = "notified"
    repaying = "repaying"
    recovered = "recovered"
    written_off = "written_off"
    referred_to_judiciary = "referred_to_judiciary"
    withdrawn = "withdrawn"  # the death record was wrong: nothing is owed


class OverpaymentClaim(SQLModel, table=True):
    __tablename__ = "overpayment_claim"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    pensioner_id: uuid.UUID = Field(foreign_key="pensioner.id", index=True)
    suspension_id: uuid.UUID = Field(foreign_key="payment_suspension.id", unique=True)
    region_code: str = Field(max_length=6, index=True)
    date_of_death: date
    first_payment_date: date
    last_payment_date: date
    payments: int
    amount_fen: int
    recovered_fen: int = 0
    status: RecoveryStatus = Field(
        default=RecoveryStatus.open, sa_type=enum_type(RecoveryStatus), index=True
    )
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime(), index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())


class RecoveryEvent(SQLModel, table=True):
    """One step of a recovery case: a change of status and/or an amount repaid."""

    __tablename__ = "recovery_event"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    claim_id: uuid.UUID = Field(foreign_key="overpayment_claim.id", index=True)
    from_status: RecoveryStatus = Field(sa_type=enum_type(RecoveryStatus))
    to_status: RecoveryStatus = Field(sa_type=enum_type(RecoveryStatus))
    amount_fen: int = 0
    note: str | None = Field(default=None, max_length=500)
    actor_type: str = Field(max_length=16)
    actor_id: str = Field(max_length=64)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime(), index=True)
