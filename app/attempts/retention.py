"""Deleting the photos and videos of decided attempts once they are no longer needed.

The consent screen promises that the selfie, the video and the key frames are deleted
`media_retention_days` after the decision; this is the job that keeps that promise (run by
`lifecert run-schedule`). The decision record, the scores and the files' SHA-256 hashes stay,
so the audit trail and the replay check still work. An attempt whose review is still open
keeps its media until the reviewer has decided and the same period has passed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, or_, select

from app import media
from app.audit import service as audit
from app.audit.service import Actor
from app.config import Settings
from models.attempt import FINAL_STATUSES, CertificationAttempt, ReviewCase, ReviewStatus
from models.pensioner import Pensioner

RETENTION = Actor(type="system", id="media-retention")
BATCH = 500
OPEN_REVIEW = (ReviewStatus.open, ReviewStatus.awaiting_second_review)


def purge_media(
    *, session: Session, settings: Settings, now: datetime, dry_run: bool = False
) -> int:
    """Delete the media of attempts decided more than the retention period ago; returns how
    many attempts (with dry_run: how many would lose their media; nothing is changed)."""
    cutoff = now - timedelta(days=settings.media_retention_days)
    review_pending = select(ReviewCase.id).where(
        ReviewCase.attempt_id == CertificationAttempt.id,
        or_(
            col(ReviewCase.status).in_(OPEN_REVIEW),
            col(ReviewCase.decided_at) >= cutoff,
        ),
    )
    purged = 0
    last_id = None
    while True:
        query = (
            select(CertificationAttempt, Pensioner.region_code)
            .join(Pensioner, col(Pensioner.id) == col(CertificationAttempt.pensioner_id))
            .where(
                col(CertificationAttempt.status).in_(FINAL_STATUSES),
                col(CertificationAttempt.decided_at) < cutoff,
                or_(
                    col(CertificationAttempt.selfie_path).is_not(None),
                    col(CertificationAttempt.video_path).is_not(None),
                ),
                ~review_pending.exists(),
            )
            .order_by(col(CertificationAttempt.id))
            .limit(BATCH)
        )
        if last_id is not None:
            query = query.where(col(CertificationAttempt.id) > last_id)
        batch = list(session.exec(query).all())
        if not batch:
            return purged
        if dry_run:
            last_id = batch[-1][0].id
            purged += len(batch)
            continue
        for attempt, region_code in batch:
            last_id = attempt.id
            frames: list[str] = list(attempt.decision.get("key_frames", []))
            for relative in [attempt.selfie_path, attempt.video_path, *frames]:
                if relative:
                    media.remove(settings=settings, relative=relative)
            decision: dict[str, Any] = dict(attempt.decision)
            decision["key_frames"] = []
            decision["media_deleted_at"] = now.isoformat()
            attempt.decision = decision
            attempt.selfie_path = attempt.video_path = None
            session.add(attempt)
            audit.record(
                session=session,
                actor=RETENTION,
                action="attempt.media_deleted",
                entity_type="pensioner",
                entity_id=attempt.pensioner_id,
                region_code=region_code,
                after={
                    "attempt_id": str(attempt.id),
                    "files": len(frames) + 2,
                    "retention_days": settings.media_retention_days,
                },
            )
            purged += 1
        # Per batch: files are gone before their paths are cleared, so a crash in between
        # leaves paths to files that no longer exist, which the next run clears.
        session.commit()
