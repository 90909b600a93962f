"""Enrolment at scale: bulk imports of the photo archive, the 1:N index's change log, and the
duplicate cases staff decide (one face enrolled under two identities)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import enum_type, tz_datetime, utcnow


class FaceIndexChange(SQLModel, table=True):
    """One face joining or leaving the set of active templates, in order.

    Every process keeps its own 1:N index built from the database and replays this log
    from the last sequence number it has seen, so indexes in several API and worker
    processes follow the galleries without talking to each other.
    """

    __tablename__ = "face_index_change"

    seq: int | None = Field(default=None, primary_key=True)
    # Not a foreign key: the log outlives the faces it names (a deleted pensioner's faces
    # leave the indexes through it).
    face_id: uuid.UUID = Field(index=True)
    joined: bool  # True: became active; False: retired, rejected or deleted
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())


class ImportStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class FaceImportBatch(SQLModel, table=True):
    """One run of a bulk enrolment (command line or uploaded archive) and its progress."""

    __tablename__ = "face_import_batch"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    source: str = Field(max_length=255)  # the folder, CSV or archive name
    kind: str = Field(max_length=16)  # the FaceSource given to the photos
    status: ImportStatus = Field(sa_type=enum_type(ImportStatus), default=ImportStatus.queued)
    total: int = 0
    processed: int = 0
    enrolled: int = 0
    refused: int = 0
    skipped: int = 0  # already imported by an earlier run (same content, same ID)
    error: str | None = Field(default=None, max_length=500)
    created_by_type: str = Field(max_length=16)
    created_by_id: str = Field(max_length=64)
    region_scope: str = Field(default="", max_length=6)
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
    finished_at: datetime | None = Field(default=None, sa_type=tz_datetime())


class FaceImportItem(SQLModel, table=True):
    """One photo of an import, kept so a rerun processes each photo once (content hash)."""

    __tablename__ = "face_import_item"
    __table_args__ = (sa.UniqueConstraint("photo_sha256", "national_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    batch_id: uuid.UUID = Field(foreign_key="face_import_batch.id", index=True)
    photo_sha256: str = Field(max_length=64, index=True)
    national_id: str = Field(max_length=32)
    name: str = Field(max_length=255)  # the file's name in the source
    outcome: str = Field(max_length=32)  # enrolled or the refusal reason
    detail: str | None = Field(default=None, max_length=500)
    pensioner_id: uuid.UUID | None = Field(default=None, foreign_key="pensioner.id")
    face_id: uuid.UUID | None = Field(default=None, foreign_key="enrolled_face.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())


class DuplicateStatus(enum.StrEnum):
    open = "open"
    awaiting_second = "awaiting_second"  # one reviewer said same person; a second must agree
    closed = "closed"


class DuplicateOutcome(enum.StrEnum):
    same_person = "same_person"  # fraud: the later identity's payments are suspended
    relatives = "relatives"  # twins or relatives: kept apart, never raised again
    data_error = "data_error"  # a photo filed under the wrong ID, to be corrected


class DuplicateCase(SQLModel, table=True):
    """Two pensioners whose faces are closer than the duplicate threshold.

    `earlier` is the identity enrolled first, `later` the one whose face arrived second
    (whose payments a confirmed fraud suspends). One case per pair of people, ever: a pair
    decided as relatives is not raised again.
    """

    __tablename__ = "duplicate_case"
    __table_args__ = (sa.UniqueConstraint("pair_key"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    pair_key: str = Field(max_length=80)  # both pensioner ids, sorted: one case per pair
    earlier_pensioner_id: uuid.UUID = Field(foreign_key="pensioner.id", index=True)
    later_pensioner_id: uuid.UUID = Field(foreign_key="pensioner.id", index=True)
    earlier_face_id: uuid.UUID = Field(foreign_key="enrolled_face.id")
    later_face_id: uuid.UUID = Field(foreign_key="enrolled_face.id")
    distance: float
    threshold: float
    found_by: str = Field(max_length=16)  # enrolment, import or dedup
    status: DuplicateStatus = Field(
        sa_type=enum_type(DuplicateStatus), default=DuplicateStatus.open, index=True
    )
    outcome: DuplicateOutcome | None = Field(default=None, sa_type=enum_type(DuplicateOutcome))
    first_reviewer_id: str | None = Field(default=None, max_length=64)
    first_outcome: DuplicateOutcome | None = Field(
        default=None, sa_type=enum_type(DuplicateOutcome)
    )
    first_note: str | None = Field(default=None, max_length=1000)
    first_decided_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    second_reviewer_id: str | None = Field(default=None, max_length=64)
    second_note: str | None = Field(default=None, max_length=1000)
    decided_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
