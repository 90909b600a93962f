"""Bodies of the remote self-certification API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from models.attempt import AttemptStatus


class AttemptStart(BaseModel):
    operated_by: str | None = Field(
        default=None,
        max_length=200,
        description="Who holds the phone when it is not the pensioner (e.g. 'daughter Li Na')",
    )


class Challenge(BaseModel):
    actions: list[str] = Field(description="Do these in this order, e.g. ['blink', 'turn_left']")
    nonce: str = Field(description="Send it back with the upload")
    expires_at: datetime


class Instruction(BaseModel):
    zh: str
    en: str


class AttemptRead(BaseModel):
    id: uuid.UUID
    status: AttemptStatus
    challenge: Challenge | None
    operated_by: str | None
    created_at: datetime
    uploaded_at: datetime | None
    decided_at: datetime | None
    reasons: list[str]
    next_steps: list[Instruction]
    valid_until: date | None = None
    decision: dict[str, Any] | None = Field(
        default=None, description="Scores, thresholds and model versions (staff only)"
    )


class Hint(BaseModel):
    issue: str = Field(description="Stable code, e.g. `face_too_small`, `too_dark`, `no_face`")
    zh: str
    en: str


class FaceFrame(BaseModel):
    """Where the face is, as fractions of the photo's width and height (for an outline)."""

    left: float
    top: float
    width: float
    height: float


class SelfieCheck(BaseModel):
    ok: bool = Field(description="True when this photo would pass the selfie quality gate")
    faces: int
    hints: list[Hint] = Field(description="What to change, most important first; empty when ok")
    face: FaceFrame | None = None
