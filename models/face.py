"""Enrolled face photos and templates of pensioners, and the cohort statistics of each gallery."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import enum_type, tz_datetime, utcnow


class FaceSource(enum.StrEnum):
    enrolment = "enrolment"  # a photo taken or checked by staff
    certification = "certification"  # a confident remote selfie added so the gallery ages too
    # The photo on an ID card's chip (about 102x126): enrolled in bulk from the register's
    # archive; low resolution, so a gallery of only these decides at best `review`.
    id_card = "id_card"


class EnrolledFace(SQLModel, table=True):
    """One photo and its embedding; retired faces stay as history."""

    __tablename__ = "enrolled_face"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    pensioner_id: uuid.UUID = Field(foreign_key="pensioner.id", index=True)
    source: FaceSource = Field(sa_type=enum_type(FaceSource))
    photo_path: str = Field(max_length=255)  # relative to the media directory
    photo_sha256: str = Field(max_length=64)
    photo_format: str = Field(max_length=16)
    photo_width: int
    photo_height: int
    embedding: bytes = Field(sa_type=sa.LargeBinary)  # float64 little-endian
    model_name: str = Field(max_length=64)
    model_version: str = Field(max_length=64)
    quality: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    active: bool = Field(default=True, index=True)
    # A staff enrolment that did not match the person's photos already on file (or was the
    # first, or looks like someone enrolled under another ID) waits for a second staff member.
    pending: bool = Field(default=False, index=True)
    # What the enrolment check found: decision and score against the person's own photos,
    # other pensioners it resembles, the reasons it waits.
    enrolment_check: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    approved_by_id: str | None = Field(default=None, max_length=64)
    approved_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    added_by_type: str = Field(max_length=16)
    added_by_id: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
    retired_at: datetime | None = Field(default=None, sa_type=tz_datetime())


class FaceGallery(SQLModel, table=True):
    """Impostor statistics of a pensioner's active faces against the enrolled cohort.

    Kept beside the templates so a verification is one comparison, not a cohort scan.
    """

    __tablename__ = "face_gallery"

    pensioner_id: uuid.UUID = Field(foreign_key="pensioner.id", primary_key=True)
    model_name: str = Field(max_length=64)
    model_version: str = Field(max_length=64)
    faces: int
    cohort_mean: float | None = None
    cohort_std: float | None = None
    cohort_size: int = 0
    tail_fraction: float | None = None
    computed_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())


class FaceCalibration(SQLModel, table=True):
    """Decision thresholds measured on the enrolled population for a target false-match rate.

    Versioned: each calibration is kept; the newest active one of the running model (and
    score normalisation) is the one verification uses. Made by an admin, audited.
    """

    __tablename__ = "face_calibration"

    id: int | None = Field(default=None, primary_key=True)
    model_name: str = Field(max_length=64)
    model_version: str = Field(max_length=64)
    tail_fraction: float
    target_fmr: float
    confidence: float
    population: int  # enrolled people scored
    impostor_pairs: int
    relative_pairs: int  # same surname and phone or district: counted apart
    auto_accept: bool  # False: too few pairs to support the target; review at best
    reason: str | None = Field(default=None, max_length=500)
    # {"overall": SliceThreshold.as_dict(), "slices": {"region:11": {...}, ...}}
    thresholds: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    # Impostor score quantiles and relatives' figures, for the drift report.
    figures: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    active: bool = Field(default=True)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())


class FaceLabel(SQLModel, table=True):
    """A reviewer's verdict on a face comparison: ground truth for live error rates."""

    __tablename__ = "face_label"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    attempt_id: uuid.UUID = Field(foreign_key="certification_attempt.id", unique=True)
    pensioner_id: uuid.UUID = Field(foreign_key="pensioner.id", index=True)
    genuine: bool  # approved: the same person; rejected as another person: an impostor
    score: float | None = None  # the fused score the attempt was decided on
    components: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    model_name: str = Field(max_length=64)
    model_version: str = Field(max_length=64)
    calibration_id: int | None = None
    region_code: str = Field(max_length=6)
    age_band: str = Field(max_length=8)
    sex: str = Field(max_length=8)
    decided_by: str = Field(max_length=64)
    decided_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
