"""The declared schema of each feed type, the validation report and the pushed-record body."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from models.records import FeedFormat, FeedType, HoldReason, HoldStatus


@dataclass(frozen=True)
class FeedSpec:
    """Columns of one feed type. Every type also takes national_id, name and date_of_birth;
    a row needs a national_id, or a name and date_of_birth (then it can only suggest a
    candidate for staff to confirm)."""

    date_column: str
    facility_column: str | None = None
    facility_required: bool = False


FEED_SPECS: dict[FeedType, FeedSpec] = {
    FeedType.death: FeedSpec("date_of_death"),
    FeedType.cremation: FeedSpec("date_of_death", "facility"),
    FeedType.hospital_visit: FeedSpec("visit_date", "facility", facility_required=True),
    FeedType.insurance_claim: FeedSpec("claim_date", "facility", facility_required=True),
    FeedType.air_travel: FeedSpec("travel_date", "carrier"),
    FeedType.rail_travel: FeedSpec("travel_date", "carrier"),
    FeedType.card_use: FeedSpec("transaction_date", "terminal"),
    FeedType.benefit_payment: FeedSpec("payment_date", "payer"),
}
IDENTITY_COLUMNS = ("national_id", "name", "date_of_birth", "source_authority")


def columns_of(feed_type: FeedType) -> list[str]:
    spec = FEED_SPECS[feed_type]
    cols = [*IDENTITY_COLUMNS, spec.date_column]
    if spec.facility_column:
        cols.append(spec.facility_column)
    return cols


class RowProblem(BaseModel):
    row: int = Field(description="1-based record number in the batch (for CSV: line - 1)")
    national_id: str | None
    problem: str
    message: str


class FeedReport(BaseModel):
    batch_id: uuid.UUID
    feed_type: FeedType
    format: FeedFormat
    source_authority: str
    content_sha256: str
    duplicate: bool = Field(description="True when this exact content was imported before")
    rows: int
    accepted: int
    quarantined: int
    ids_normalised: int = Field(description="IDs accepted after removing spaces or upper-casing")
    without_id: int = Field(description="Rows with name and date of birth only")
    problems: dict[str, int]
    awaiting_confirmation: int = Field(
        default=0,
        description="Valid death records held until a second staff member confirms them "
        "(GET /feeds/held-deaths); they suspend nothing before",
    )
    examples: list[RowProblem]
    ignored_columns: list[str]
    created_at: datetime
    matching: dict[str, Any] | None = None


class FeedBatchRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    feed_type: FeedType
    format: FeedFormat
    source_authority: str
    file_name: str | None
    content_sha256: str
    rows: int
    accepted: int
    quarantined: int
    imported_by_type: str
    imported_by_id: str
    region_scope: str
    created_at: datetime


class QuarantinedRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    row_number: int
    problem: str
    message: str
    raw_national_id: str | None
    name: str | None
    date_of_birth: date | None
    event_date: date | None
    raw: dict[str, Any]


Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class PushedRecord(BaseModel):
    """One record; the date is `event_date` whatever the feed type (date of death, visit...)."""

    model_config = ConfigDict(extra="forbid")

    national_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    date_of_birth: str | None = Field(default=None, max_length=10)
    event_date: str = Field(max_length=10, examples=["2026-11-02"])
    facility: Text | None = None


SourceAuthority = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
]


class RecordPush(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_authority: SourceAuthority | None = Field(
        default=None,
        description="Where a staff member got the records (required from staff); with a feed "
        "key it is ignored: the key's source authority is the source",
    )
    records: list[PushedRecord] = Field(min_length=1, max_length=1000)
    match: bool = Field(default=True, description="Match the records against the register now")


class FeedClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    source_authority: SourceAuthority


class FeedClientRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    source_authority: str
    key_prefix: str
    created_by_id: uuid.UUID
    created_at: datetime
    revoked_at: datetime | None
    revoked_by_id: uuid.UUID | None


class FeedClientCreated(FeedClientRead):
    key: str = Field(
        description="Send it as the X-Feed-Key header. Shown once: only its hash is kept"
    )


class HeldDeathRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    batch_id: uuid.UUID
    row_number: int
    feed_type: FeedType
    national_id: str | None
    name: str | None
    date_of_birth: date | None
    event_date: date
    source_authority: str
    pensioner_id: uuid.UUID | None
    reasons: list[HoldReason]
    status: HoldStatus
    decided_by_id: str | None
    decided_at: datetime | None
    decision_reason: str | None
    created_at: datetime
    matching: dict[str, Any] | None = None
