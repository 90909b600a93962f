"""Bodies of face enrolment and verification results."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from models.face import FaceSource


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
    added_by_type: str
    added_by_id: str
    created_at: datetime
    retired_at: datetime | None


class GalleryRead(BaseModel):
    active_faces: int
    cohort_size: int
    cohort_ready: bool
    faces: list[EnrolledFaceRead]


class MatchThresholds(BaseModel):
    match_score: float
    review_score: float
    match_max_distance: float
    review_max_distance: float


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
