"""Resumable uploads (tus 1.0) of an attempt's selfie and video: one row per file being sent,
its declared length and how far it has arrived; the bytes are encrypted chunk files under
the media folder until the file is complete."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import enum_type, tz_datetime, utcnow


class UploadPart(enum.StrEnum):
    selfie = "selfie"
    video = "video"


class ResumableUpload(SQLModel, table=True):
    __tablename__ = "resumable_upload"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    attempt_id: uuid.UUID = Field(foreign_key="certification_attempt.id", index=True)
    # The owner: only this pensioner's token may send or read its bytes.
    pensioner_id: uuid.UUID = Field(foreign_key="pensioner.id", index=True)
    part: UploadPart = Field(sa_type=enum_type(UploadPart))
    length: int  # Upload-Length, declared at creation
    offset: int = 0  # bytes stored so far
    # Every body byte the service read for this upload (a byte sent twice counts twice).
    received: int = 0
    chunks: int = 0  # encrypted chunk files under media: uploads/<pensioner>/<id>/<n>
    media_format: str | None = Field(default=None, max_length=16)  # sniffed on the first chunk
    nonce: str = Field(max_length=64)
    mirrored: bool = False
    expires_at: datetime = Field(sa_type=tz_datetime(), index=True)
    completed_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
