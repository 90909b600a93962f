"""Records from other agencies: imported batches, pushed single records, quarantined rows,
death records held for a second staff member, and the agencies' feed keys."""

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
    imported_by_type: str = Field(max_length=16)  # staff, feed_client, system
    imported_by_id: str = Field(max_length=64)
    # The sender's region scope: a staff member's ("" national); agencies' feeds are national.
    # Staff see the batches of their scope and below.
    region_scope: str = Field(default="", max_length=6, sa_column_kwargs={"server_default": ""})
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


class FeedClient(SQLModel, table=True):
    """An agency's system sending feeds with its own key: the key, not the body, says which
    source authority the records come from. Only a hash of the key is kept."""

    __tablename__ = "feed_client"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    source_authority: str = Field(max_length=64, index=True)
    key_hash: str = Field(max_length=64, unique=True, index=True)
    key_prefix: str = Field(max_length=16)  # the key's first characters, to tell keys apart
    created_by_id: uuid.UUID = Field(foreign_key="staff_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
    revoked_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    revoked_by_id: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")


class HoldStatus(enum.StrEnum):
    awaiting_confirmation = "awaiting_confirmation"
    confirmed = "confirmed"  # released to feed_record: the next matching run applies it
    refused = "refused"


class HoldReason(enum.StrEnum):
    sent_by_person = "sent_by_person"  # a staff member, not an agency's feed key
    recently_certified = "recently_certified"  # by face or video call in the last 90 days


class HeldDeathRecord(SQLModel, table=True):
    """A valid death record that suspends nothing until a second staff member confirms it.
    Matching never reads this table; a confirmation copies the record into feed_record."""

    __tablename__ = "held_death_record"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    batch_id: uuid.UUID = Field(foreign_key="feed_batch.id", index=True)
    row_number: int
    feed_type: FeedType = Field(sa_type=enum_type(FeedType))
    national_id: str | None = Field(default=None, max_length=18)
    name: str | None = Field(default=None, max_length=100)
    date_of_birth: date | None = None
    event_date: date
    facility: str | None = Field(default=None, max_length=200)
    source_authority: str = Field(max_length=64)
    # The registered pensioner the ID names when held (None: not registered, or no ID); the
    # confirmer's scope is checked against that pensioner's region now.
    pensioner_id: uuid.UUID | None = Field(default=None, foreign_key="pensioner.id", index=True)
    reasons: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    status: HoldStatus = Field(
        default=HoldStatus.awaiting_confirmation, sa_type=enum_type(HoldStatus), index=True
    )
    decided_by_id: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    decision_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
