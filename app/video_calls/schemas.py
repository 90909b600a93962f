"""Bodies of the agent's side of video calls: the call list, the call, frames and outcomes."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.pensioner import BenefitStatus, BenefitType, Language, Residence, Sex
from models.video_call import AppointmentStatus


class CallOutcome(enum.StrEnum):
    certified = "certified"
    not_certified = "not_certified"
    no_show = "no_show"


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: CallOutcome
    reason: str | None = Field(
        default=None, max_length=500, description="Required for not_certified"
    )
    override_reason: str | None = Field(
        default=None,
        max_length=500,
        description="Certify without a matching frame: how identity was confirmed instead",
    )
    notes: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _reasons(self) -> Self:
        if self.outcome is CallOutcome.not_certified and not (self.reason and self.reason.strip()):
            raise ValueError("give a reason when the pensioner is not certified")
        if self.override_reason is not None and self.outcome is not CallOutcome.certified:
            raise ValueError("override_reason is only for the outcome 'certified'")
        return self


class ReadCode(BaseModel):
    code: str = Field(description="4 digits the pensioner reads aloud")
    issued_at: datetime
    delivered: bool = Field(description="Whether the pensioner's page was connected to get it")


class FrameCheck(BaseModel):
    id: uuid.UUID
    decision: str = Field(description="match, review or no_match")
    score: float | None = Field(description="Cohort-normalised score (None: cohort too small)")
    distance: float
    reasons: list[str]
    thresholds: dict[str, float]
    quality_findings: list[dict[str, Any]]
    cohort_size: int
    model: str
    image_url: str
    created_at: datetime


class CallSummary(BaseModel):
    id: uuid.UUID
    status: AppointmentStatus
    starts_at: datetime
    ends_at: datetime
    join_opens_at: datetime
    join_closes_at: datetime
    pensioner_id: uuid.UUID
    pensioner_name: str
    region_code: str
    pensioner_timezone: str
    eligibility: list[str]


class PensionerCard(BaseModel):
    """The register data the agent checks the person on camera against."""

    id: uuid.UUID
    national_id: str
    name: str
    date_of_birth: date
    sex: Sex
    phone: str
    region_code: str
    residence: Residence
    overseas_country: str | None
    overseas_timezone: str | None
    benefit_type: BenefitType
    benefit_status: BenefitStatus
    preferred_language: Language
    certified_until: date | None


class EnrolledPhoto(BaseModel):
    face_id: uuid.UUID
    url: str
    source: str
    created_at: datetime


class CallDetail(CallSummary):
    pensioner: PensionerCard
    enrolled_photos: list[EnrolledPhoto]
    frames: list[FrameCheck]
    read_codes: list[dict[str, Any]]
    outcome_reason: str | None
    override_reason: str | None
    notes: str | None
    decided_by_id: str | None
    decided_at: datetime | None
    certification_id: uuid.UUID | None
    valid_until: date | None
    follow_up_task_id: str | None


class ConfirmationIn(BaseModel):
    """A second staff member's word on an outcome that one person may not settle alone."""

    model_config = ConfigDict(extra="forbid")

    confirm: bool
    reason: str | None = Field(
        default=None, max_length=500, description="Required when refusing; shown as the reason"
    )

    @model_validator(mode="after")
    def _reason_for_refusals(self) -> Self:
        if not self.confirm and not (self.reason and self.reason.strip()):
            raise ValueError("give a reason when refusing")
        return self


class CallConfirmation(CallSummary):
    """A call certified by override or after its time, awaiting (or given) confirmation."""

    agent_id: uuid.UUID
    decided_by_id: str | None = Field(description="The agent who recorded the outcome")
    decided_at: datetime | None
    override_reason: str | None
    notes: str | None
    outcome_reason: str | None
    confirmation_needed: list[str] = Field(
        description="override (no frame matched the enrolled photos), lapsed (recorded after "
        "the call's window)"
    )
    evidence: dict[str, Any] = Field(description="Frames with hashes and scores, read codes")
    confirmed_by_id: str | None
    confirmed_at: datetime | None
    certification_id: uuid.UUID | None
