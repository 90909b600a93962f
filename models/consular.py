"""Consular life certificates uploaded by pensioners abroad, and staff's verification of them."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlmodel import Field, SQLModel

from models.base import enum_type, tz_datetime, utcnow


class DocumentStatus(enum.StrEnum):
    pending = "pending"
    verified = "verified"
    rejected = "rejected"


class ConsularDocument(SQLModel, table=True):
    __tablename__ = "consular_document"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    pensioner_id: uuid.UUID = Field(foreign_key="pensioner.id", index=True)
    region_code: str = Field(max_length=6, index=True)
    status: DocumentStatus = Field(
        default=DocumentStatus.pending, sa_type=enum_type(DocumentStatus), index=True
    )
    file_path: str = Field(max_length=255)  # relative to the media directory
    file_sha256: str = Field(max_length=64)
    file_format: str = Field(max_length=8)  # pdf, jpeg, png
    file_bytes: int
    consulate: str | None = Field(default=None, max_length=200)
    issued_on: date | None = None
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime(), index=True)
    decided_by_id: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    decision_reason: str | None = Field(default=None, max_length=500)
    certification_id: uuid.UUID | None = Field(default=None, foreign_key="certification.id")
