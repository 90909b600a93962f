"""Photos and videos of decided attempts are deleted after the retention period, as promised
on the consent screen; the decision, the hashes and an audit event stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from app import media
from app.attempts.retention import purge_media
from app.config import Settings
from models.attempt import AttemptStatus, CertificationAttempt, ReviewCase, ReviewStatus
from models.audit import AuditEvent
from tests.conftest import Factory

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def _decided(
    db: Session, factory: Factory, settings: Settings, *, days_ago: int, status: AttemptStatus
) -> CertificationAttempt:
    pensioner = factory.pensioner()
    attempt = factory.attempt(pensioner)
    assert isinstance(attempt, CertificationAttempt)
    base = f"attempts/{attempt.pensioner_id}/{attempt.id}"
    attempt.selfie_path, attempt.video_path = f"{base}/selfie", f"{base}/video"
    attempt.selfie_sha256 = attempt.video_sha256 = f"{attempt.id.hex}{'0' * 32}"
    frames = [f"{base}/frame_0.jpg", f"{base}/frame_1.jpg"]
    for relative in [attempt.selfie_path, attempt.video_path, *frames]:
        media.store(settings=settings, relative=relative, data=b"x")
    attempt.decision = {"key_frames": frames, "face_selfie": {"score": 5.1}}
    attempt.status = status
    attempt.decided_at = NOW - timedelta(days=days_ago)
    db.add(attempt)
    db.commit()
    return attempt


def _files(settings: Settings, attempt: CertificationAttempt) -> list[str]:
    folder = settings.resolved_media_dir / f"attempts/{attempt.pensioner_id}/{attempt.id}"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_old_media_is_deleted_and_the_record_kept(
    db: Session, factory: Factory, settings: Settings
) -> None:
    days = settings.media_retention_days
    old = _decided(db, factory, settings, days_ago=days + 1, status=AttemptStatus.certified)
    recent = _decided(db, factory, settings, days_ago=days - 1, status=AttemptStatus.rejected)
    in_review = _decided(
        db, factory, settings, days_ago=days + 5, status=AttemptStatus.needs_review
    )
    reviewed_lately = _decided(
        db, factory, settings, days_ago=days + 5, status=AttemptStatus.needs_review
    )
    for attempt, status, decided in (
        (in_review, ReviewStatus.open, None),
        (reviewed_lately, ReviewStatus.approved, NOW - timedelta(days=2)),
    ):
        db.add(
            ReviewCase(
                attempt_id=attempt.id,
                pensioner_id=attempt.pensioner_id,
                region_code="110105",
                status=status,
                decided_at=decided,
            )
        )
    db.commit()

    assert purge_media(session=db, settings=settings, now=NOW) == 1
    db.expire_all()
    gone = db.get(CertificationAttempt, old.id)
    assert gone is not None
    assert _files(settings, gone) == []
    assert gone.selfie_path is None and gone.video_path is None
    assert gone.selfie_sha256 and gone.video_sha256  # the replay check still works
    assert gone.decision["key_frames"] == [] and gone.decision["face_selfie"] == {"score": 5.1}
    assert gone.decision["media_deleted_at"].startswith("2026-11-29")
    for kept in (recent, in_review, reviewed_lately):
        assert _files(settings, kept) == ["frame_0.jpg", "frame_1.jpg", "selfie", "video"]
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "attempt.media_deleted")).one()
    assert event.entity_id == str(old.pensioner_id)
    assert event.after == {"attempt_id": str(old.id), "files": 4, "retention_days": days}

    # Idempotent; and a file already missing (a crash between delete and commit) is fine.
    assert purge_media(session=db, settings=settings, now=NOW) == 0
    (settings.resolved_media_dir / str(recent.selfie_path)).unlink()
    assert purge_media(session=db, settings=settings, now=NOW + timedelta(days=2)) == 1
