"""Retention of every kind of stored file, each with its own period from the settings.

Attempts' selfies, videos and key frames follow `app.attempts.retention` (promised on the
consent screen). Call frames, consular scans and photos retired from a gallery are deleted
here; their records stay (scores, hashes, decisions) with an empty path and an audit event.
What is still under review keeps its files: a call awaiting a second staff member, a pending
scan, the retired photos of a pensioner with an open review case. A file is deleted before its
path is cleared, so a crash in between leaves a path to a missing file that the next run
clears, never a file nobody points to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, or_, select

from app import media
from app.attempts.retention import OPEN_REVIEW, purge_media
from app.audit import service as audit
from app.audit.service import Actor
from app.config import Settings
from models.attempt import ReviewCase
from models.consular import ConsularDocument, DocumentStatus
from models.face import EnrolledFace
from models.pensioner import Pensioner
from models.video_call import AppointmentStatus, CallFrame, VideoAppointment

RETENTION = Actor(type="system", id="media-retention")
BATCH = 500
OPEN_CALL = (AppointmentStatus.booked, AppointmentStatus.awaiting_confirmation)


@dataclass(frozen=True)
class Kind:
    """One kind of stored file: which records are due, and where a record keeps its file."""

    name: str
    days_setting: str  # the Settings field with the period in days
    model: Any
    due: Callable[[datetime], Any]  # (record, pensioner id, region code) due, given the cutoff
    path_field: str  # emptied when the file is deleted (the column is not nullable)
    note_field: str | None  # a JSON field that records when
    action: str


def _frames_due(cutoff: datetime) -> Any:
    return (
        select(CallFrame, Pensioner.id, Pensioner.region_code)
        .join(VideoAppointment, col(VideoAppointment.id) == col(CallFrame.appointment_id))
        .join(Pensioner, col(Pensioner.id) == col(VideoAppointment.pensioner_id))
        .where(
            col(CallFrame.path) != "",
            col(CallFrame.created_at) < cutoff,
            col(VideoAppointment.status).not_in(OPEN_CALL),
            or_(
                col(VideoAppointment.decided_at).is_(None),
                col(VideoAppointment.decided_at) < cutoff,
            ),
            or_(
                col(VideoAppointment.confirmed_at).is_(None),
                col(VideoAppointment.confirmed_at) < cutoff,
            ),
        )
    )


def _scans_due(cutoff: datetime) -> Any:
    return (
        select(ConsularDocument, Pensioner.id, Pensioner.region_code)
        .join(Pensioner, col(Pensioner.id) == col(ConsularDocument.pensioner_id))
        .where(
            col(ConsularDocument.file_path) != "",
            col(ConsularDocument.status) != DocumentStatus.pending,
            col(ConsularDocument.decided_at) < cutoff,
        )
    )


def _photos_due(cutoff: datetime) -> Any:
    open_review = select(ReviewCase.id).where(
        col(ReviewCase.pensioner_id) == col(EnrolledFace.pensioner_id),
        col(ReviewCase.status).in_(OPEN_REVIEW),
    )
    return (
        select(EnrolledFace, Pensioner.id, Pensioner.region_code)
        .join(Pensioner, col(Pensioner.id) == col(EnrolledFace.pensioner_id))
        .where(
            col(EnrolledFace.photo_path) != "",
            col(EnrolledFace.active).is_(False),
            col(EnrolledFace.pending).is_(False),
            col(EnrolledFace.retired_at) < cutoff,
            ~open_review.exists(),
        )
    )


KINDS = (
    Kind(
        "call_frames",
        "call_frame_retention_days",
        CallFrame,
        _frames_due,
        "path",
        "details",
        "video_call.frame_image_deleted",
    ),
    Kind(
        "consular_scans",
        "consular_scan_retention_days",
        ConsularDocument,
        _scans_due,
        "file_path",
        None,
        "consular_document.scan_deleted",
    ),
    Kind(
        "retired_photos",
        "retired_photo_retention_days",
        EnrolledFace,
        _photos_due,
        "photo_path",
        "quality",
        "face.photo_deleted",
    ),
)


def run(
    *, session: Session, settings: Settings, now: datetime, dry_run: bool = False
) -> dict[str, int]:
    """Delete every kind's files past its period; returns how many records lost their file
    per kind (with dry_run: how many would; nothing is changed)."""
    counts = {"attempts": purge_media(session=session, settings=settings, now=now, dry_run=dry_run)}
    for kind in KINDS:
        counts[kind.name] = _purge(
            session=session, settings=settings, kind=kind, now=now, dry_run=dry_run
        )
    return counts


def _purge(
    *, session: Session, settings: Settings, kind: Kind, now: datetime, dry_run: bool
) -> int:
    days: int = getattr(settings, kind.days_setting)
    cutoff = now - timedelta(days=days)
    purged = 0
    last_id = None
    while True:
        query = kind.due(cutoff).order_by(col(kind.model.id)).limit(BATCH)
        if last_id is not None:
            query = query.where(col(kind.model.id) > last_id)
        batch: list[Any] = list(session.exec(query).all())
        if not batch:
            return purged
        last_id = batch[-1][0].id
        purged += len(batch)
        if dry_run:
            continue
        for record, pensioner_id, region_code in batch:
            media.remove(settings=settings, relative=getattr(record, kind.path_field))
            setattr(record, kind.path_field, "")
            if kind.note_field:
                note = {"file_deleted_at": now.isoformat()}
                setattr(record, kind.note_field, dict(getattr(record, kind.note_field)) | note)
            session.add(record)
            audit.record(
                session=session,
                actor=RETENTION,
                action=kind.action,
                entity_type="pensioner",
                entity_id=pensioner_id,
                region_code=region_code,
                after={"id": str(record.id), "retention_days": days},
            )
        session.commit()
