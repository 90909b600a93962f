"""One-time login codes sent to a pensioner's registered phone; only their hash is kept."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import tz_datetime, utcnow


class OtpCode(SQLModel, table=True):
    __tablename__ = "otp_code"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    pensioner_id: uuid.UUID = Field(foreign_key="pensioner.id", index=True)
    code_hash: str = Field(max_length=255)
    expires_at: datetime = Field(sa_type=tz_datetime())
    attempts: int = 0
    consumed_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
