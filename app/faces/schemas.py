"""Bodies of face enrolment and verification results."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.face import FaceCalibration, FaceSource

MIN_TARGET_FMR = 1e-9


class QualityFindingRead(BaseModel):
    issue: str
    zh: str
    en: str
    measured: float | None = None
    limit: float | None = None


class EnrolledFaceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    pensioner_id: uuid.UUID
    source: FaceSource
    photo_format: str
    photo_width: int
    photo_height: int
    photo_sha256: str
    model_name: str
    model_version: str
    quality: dict[str, Any]
    active: bool
    pending: bool = Field(
        description="Waiting for a second staff member before it joins the gallery"
    )
    enrolment_check: dict[str, Any] = Field(
        description="Against the person's own photos (`own`), everyone else on the register "
        "(`others`: closest and flagged), and why it waits (`waits_for`)"
    )
    approved_by_id: str | None
    approved_at: datetime | None
    added_by_type: str
    added_by_id: str
    created_at: datetime
    retired_at: datetime | None


class FaceApproval(BaseModel):
    approve: bool
    reason: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _reason_for_refusals(self) -> FaceApproval:
        if not self.approve and not (self.reason and self.reason.strip()):
            raise ValueError("give a reason when turning a photo away")
        return self


class GalleryRead(BaseModel):
    active_faces: int
    cohort_size: int
    cohort_ready: bool
    faces: list[EnrolledFaceRead]


class MatchThresholds(BaseModel):
    match: float | None = Field(description="Calibrated bar for `match`; null: auto-accept off")
    no_match: float | None = Field(description="Below this (a typical stranger): `no_match`")


class VerificationRead(BaseModel):
    """An explainable face decision: every number that produced it."""

    decision: str
    distance: float
    score: float | None
    template_score: float | None
    probe_score: float | None
    thresholds: MatchThresholds
    model_name: str
    model_version: str
    cohort_size: int
    enrolled_faces: int
    probe_images: int
    reasons: list[str]


class CalibrationRequest(BaseModel):
    # Below one in a billion the pairs needed (and 1/rate) run past any register and, for the
    # smallest floats, past what an integer can hold.
    target_fmr: float | None = Field(
        default=None,
        ge=MIN_TARGET_FMR,
        lt=0.5,
        description="Default: LIFECERT_FACE_TARGET_FMR (0.001); at least 1e-9",
    )


class CalibrationRead(BaseModel):
    id: int
    model_name: str
    model_version: str
    target_fmr: float
    confidence: float
    population: int
    impostor_pairs: int
    relative_pairs: int
    auto_accept: bool
    reason: str | None
    thresholds: dict[str, Any]
    figures: dict[str, Any]
    created_by: str
    created_at: datetime

    @classmethod
    def from_model(cls, c: FaceCalibration) -> CalibrationRead:
        assert c.id is not None
        return cls(
            id=c.id,
            model_name=c.model_name,
            model_version=c.model_version,
            target_fmr=c.target_fmr,
            confidence=c.confidence,
            population=c.population,
            impostor_pairs=c.impostor_pairs,
            relative_pairs=c.relative_pairs,
            auto_accept=c.auto_accept,
            reason=c.reason,
            thresholds=c.thresholds,
            figures=c.figures,
            created_by=c.created_by,
            created_at=c.created_at,
        )


class DuplicateSide(BaseModel):
    pensioner_id: uuid.UUID
    face_id: uuid.UUID
    national_id: str
    name: str
    region_code: str
    benefit_status: str
    enrolled_at: datetime | None


class DuplicateCaseRead(BaseModel):
    """A pair of pensioners whose faces lie closer than the duplicate threshold; `earlier`
    was enrolled first, `later` is the identity a confirmed fraud suspends."""

    id: uuid.UUID
    status: str
    outcome: str | None
    distance: float
    threshold: float
    found_by: str
    earlier: DuplicateSide
    later: DuplicateSide
    first_reviewer_id: str | None
    first_outcome: str | None
    first_note: str | None
    second_reviewer_id: str | None
    second_note: str | None
    created_at: datetime
    decided_at: datetime | None


class DuplicateDecision(BaseModel):
    outcome: Literal["same_person", "relatives", "data_error"]
    note: str | None = Field(default=None, max_length=1000)


class ImportBatchRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    source: str
    kind: str
    status: str
    total: int
    processed: int
    enrolled: int
    refused: int
    skipped: int
    error: str | None
    created_at: datetime
    finished_at: datetime | None
