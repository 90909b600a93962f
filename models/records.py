"""Records from other agencies: imported batches, pushed single records and quarantined rows."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import enum_type, tz_datetime, utcnow


class FeedType(enum.StrEnum):
    death = "death"
    cremation = "cremation"
    hospital_visit = "hospital_visit"
    insurance_claim = "insurance_claim"
    air_travel = "air_travel"
    rail_travel = "rail_travel"
    card_use = "card_use"  # social security card transactions
    benefit_payment = "benefit_payment"  # other benefits paid to the person

    @property
    def is_death(self) -> bool:
        return self in (FeedType.death, FeedType.cremation)


class FeedFormat(enum.StrEnum):
    csv = "csv"
    jsonl = "jsonl"
    parquet = "parquet"
    api = "api"  # records pushed one request at a time


class FeedBatch(SQLModel, table=True):
    """One imported file or one API push; its content hash makes re-imports a no-op."""

    __tablename__ = "feed_batch"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    feed_type: FeedType = Field(sa_type=enum_type(FeedType), index=True)
    format: FeedFormat = Field(sa_type=enum_type(FeedFormat))
    source_authority: str = Field(max_length=64)
    file_name: str | None = Field(default=None, max_length=255)
    content_sha256: str = Field(max_length=64, unique=True)
    # The file as received (kept unchanged) and its valid rows, normalised, as Parquet.
    source_path: str | None = Field(default=None, max_length=500)
    records_path: str | None = Field(default=None, max_length=500)
    rows: int = 0
    accepted: int = 0
    quarantined: int = 0
    report: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    imported_by_type: str = Field(max_length=16)
    imported_by_id: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())


class FeedRecord(SQLModel, table=True):
    """A valid record pushed through the API (file batches keep theirs in Parquet)."""

    __tablename__ = "feed_record"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: uuid.UUID = Field(foreign_key="feed_batch.id", index=True)
    row_number: int
    feed_type: FeedType = Field(sa_type=enum_type(FeedType))
    national_id: str | None = Field(default=None, max_length=18, index=True)
    name: str | None = Field(default=None, max_length=100)
    date_of_birth: date | None = None
    event_date: date = Field(index=True)
    facility: str | None = Field(default=None, max_length=200)
    source_authority: str = Field(max_length=64)


class QuarantinedRecord(SQLModel, table=True):
    """A row that failed validation (most often a mistyped ID): kept for correction and review."""

    __tablename__ = "quarantined_record"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: uuid.UUID = Field(foreign_key="feed_batch.id", index=True)
    row_number: int
    feed_type: FeedType = Field(sa_type=enum_type(FeedType))
    problem: str = Field(max_length=32)  # bad_check_character, bad_format, bad_date, ...
    message: str = Field(max_length=300)
    raw_national_id: str | None = Field(default=None, max_length=64)
    # Parsed where possible so a name and date of birth can still suggest a candidate.
    name: str | None = Field(default=None, max_length=100)
    date_of_birth: date | None = None
    event_date: date | None = None
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
