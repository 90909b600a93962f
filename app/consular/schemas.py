"""Bodies of consular life certificates: the pensioner's upload and staff's decision."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.consular import DocumentStatus


class ConsularDocumentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: DocumentStatus
    file_format: str
    file_bytes: int
    file_sha256: str
    consulate: str | None
    issued_on: date | None
    uploaded_at: datetime
    decided_at: datetime | None
    decision_reason: str | None
    valid_until: date | None = Field(default=None, description="When verified")


class ConsularDocumentStaffRead(ConsularDocumentRead):
    pensioner_id: uuid.UUID
    pensioner_name: str
    region_code: str
    overseas_country: str | None
    decided_by_id: str | None
    scan_url: str


class DocumentVerdict(enum.StrEnum):
    verify = "verify"
    reject = "reject"


class DocumentDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: DocumentVerdict
    reason: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _reason_for_rejection(self) -> Self:
        if self.verdict is DocumentVerdict.reject and not (self.reason and self.reason.strip()):
            raise ValueError("give a reason when rejecting (the pensioner sees it)")
        return self
