"""Stored files over their life: served decrypted, refused clearly when damaged, deleted once
the deletion of their record commits, deleted by retention per kind (what is under review
stays), and checked against the records by `lifecert media verify`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, select
from typer.testing import CliRunner

from app import media
from app.attempts.processing import process_attempt
from app.audit.service import Actor
from app.cli import cli
from app.config import Settings, get_settings, parse_media_key
from app.faces.service import CohortCache
from app.media import inventory, retention
from app.pensioners import service as pensioners
from biometrics import DlibFaceEngine
from models.attempt import AttemptStatus, CertificationAttempt, ReviewCase, ReviewStatus
from models.audit import AuditEvent
from models.consular import ConsularDocument, DocumentStatus
from models.face import EnrolledFace
from models.pensioner import Pensioner
from models.video_call import AppointmentStatus, CallFrame, VideoAppointment
from tests.app.appointments import matrix as calls
from tests.conftest import Backend, Factory

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0 a stored picture"


def _saved(factory: Factory, row: Any, **values: Any) -> Any:
    for name, value in values.items():
        setattr(row, name, value)
    factory.session.add(row)
    factory.session.commit()
    return row


def _ago(days: int | None) -> datetime | None:
    return None if days is None else NOW - timedelta(days=days)


def _call(
    factory: Factory, pensioner: Any, status: AppointmentStatus, decided_days_ago: int | None
) -> VideoAppointment:
    agent = factory.staff("video_agent", scope="11")
    call = calls._appointment(factory, pensioner, agent, NOW - timedelta(days=400))
    return _saved(factory, call, status=status, decided_at=_ago(decided_days_ago))


def _frame(factory: Factory, call: VideoAppointment) -> CallFrame:
    return _saved(factory, calls._frame(factory, call), created_at=_ago(400))


def _scan(
    factory: Factory, pensioner: Any, status: DocumentStatus, decided_days_ago: int | None
) -> ConsularDocument:
    document = calls._document(factory, pensioner)
    return _saved(factory, document, status=status, decided_at=_ago(decided_days_ago))


def _attempt_with_media(
    factory: Factory, pensioner: Any, status: AttemptStatus = AttemptStatus.needs_review
) -> CertificationAttempt:
    attempt = factory.attempt(pensioner)
    assert isinstance(attempt, CertificationAttempt)
    base = f"attempts/{pensioner.id}/{attempt.id}"
    attempt.selfie_path, attempt.video_path = f"{base}/selfie", f"{base}/video"
    frames = [f"{base}/frame_0.jpg", f"{base}/frame_1.jpg"]
    for relative in [attempt.selfie_path, attempt.video_path, *frames]:
        media.store(settings=factory.settings, relative=relative, data=JPEG)
    attempt.decision = {"key_frames": frames}
    attempt.status = status
    factory.session.add(attempt)
    factory.session.commit()
    return attempt


def _everything(factory: Factory, pensioner: Any) -> list[str]:
    """A face, an attempt's media, a call frame and a consular scan; their relative paths."""
    face = factory.face(pensioner)
    assert isinstance(face, EnrolledFace)
    attempt = _attempt_with_media(factory, pensioner)
    frame = _frame(factory, _call(factory, pensioner, AppointmentStatus.certified, 1))
    scan = _scan(factory, pensioner, DocumentStatus.pending, None)
    return [
        face.photo_path,
        str(attempt.selfie_path),
        str(attempt.video_path),
        *attempt.decision["key_frames"],
        frame.path,
        scan.file_path,
    ]


def _exists(settings: Settings, relative: str) -> bool:
    return (settings.resolved_media_dir / relative).exists()


async def test_deleting_a_pensioner_leaves_no_file_after_commit(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    pensioner = factory.pensioner()
    files = _everything(factory, pensioner)
    assert len(files) == 7 and all(_exists(settings, f) for f in files)
    neighbour = factory.pensioner()
    kept = factory.face(neighbour)
    assert isinstance(kept, EnrolledFace)

    admin = factory.auth(factory.staff("admin"))
    deleted = await client.delete(f"/api/v1/pensioners/{pensioner.id}", headers=admin)  # type: ignore[attr-defined]
    assert deleted.status_code == 204, deleted.text
    assert [f for f in files if _exists(settings, f)] == []
    assert _exists(settings, kept.photo_path)


def test_files_stay_until_the_deletion_commits(
    backend: Backend, factory: Factory, settings: Settings, app: FastAPI
) -> None:
    pensioner = factory.pensioner()
    files = _everything(factory, pensioner)
    actor = Actor(type="system", id="test")
    with Session(backend.engine, expire_on_commit=False) as session:
        row = session.get(Pensioner, pensioner.id)  # type: ignore[attr-defined]
        assert row is not None
        pensioners.delete(session=session, settings=settings, actor=actor, pensioner=row)
        assert all(_exists(settings, f) for f in files)  # flushed, not committed
        session.rollback()
        assert all(_exists(settings, f) for f in files)  # the record stays, so its files do

        row = session.get(Pensioner, pensioner.id)  # type: ignore[attr-defined]
        assert row is not None
        pensioners.delete(session=session, settings=settings, actor=actor, pensioner=row)
        session.commit()
    assert [f for f in files if _exists(settings, f)] == []


async def test_photos_are_served_decrypted_and_a_tampered_one_is_a_clear_error(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    pensioner = factory.pensioner()
    face = factory.face(pensioner, photo=JPEG)
    assert isinstance(face, EnrolledFace)
    url = f"/api/v1/pensioners/{pensioner.id}/faces/{face.id}/photo"  # type: ignore[attr-defined]
    admin = factory.auth(factory.staff("admin"))

    served = await client.get(url, headers=admin)
    assert served.status_code == 200 and served.content == JPEG
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["cache-control"] == "no-store"

    path = settings.resolved_media_dir / face.photo_path
    blob = bytearray(path.read_bytes())
    blob[-3] ^= 0x40
    path.write_bytes(bytes(blob))
    refused = await client.get(url, headers=admin)
    assert refused.status_code == 500
    assert refused.json()["error"] == "MediaUnreadable"
    assert "integrity check" in refused.json()["detail"]

    path.unlink()
    missing = await client.get(url, headers=admin)
    assert missing.status_code == 500 and missing.json()["error"] == "MediaMissing"


def test_an_attempt_whose_selfie_was_tampered_with_goes_to_review(
    backend: Backend,
    factory: Factory,
    settings: Settings,
    face_engine: DlibFaceEngine,
    db: Session,
) -> None:
    pensioner = factory.pensioner()
    attempt = _attempt_with_media(factory, pensioner, status=AttemptStatus.processing)
    selfie = settings.resolved_media_dir / str(attempt.selfie_path)
    selfie.write_bytes(selfie.read_bytes()[:-1] + b"\x00")

    status = process_attempt(
        attempt.id,
        db=backend.engine,
        settings=settings,
        engine=face_engine,
        cohort_cache=CohortCache(),
    )
    assert status is AttemptStatus.needs_review
    db.expire_all()
    decided = db.get(CertificationAttempt, attempt.id)
    assert decided is not None and decided.reasons == ["media_unreadable"]
    assert decided.decision["media_error"] == "MediaUnreadable"
    case = db.exec(select(ReviewCase).where(ReviewCase.attempt_id == attempt.id)).one()
    assert case.status is ReviewStatus.open


def test_retention_per_kind_keeps_what_is_under_review(
    db: Session, factory: Factory, settings: Settings
) -> None:
    pensioner = factory.pensioner()
    old_frame = _frame(factory, _call(factory, pensioner, AppointmentStatus.certified, 400))
    awaiting = _frame(
        factory, _call(factory, pensioner, AppointmentStatus.awaiting_confirmation, 400)
    )
    decided_lately = _frame(factory, _call(factory, pensioner, AppointmentStatus.certified, 10))
    old_scan = _scan(factory, pensioner, DocumentStatus.verified, 400)
    pending_scan = _scan(factory, pensioner, DocumentStatus.pending, None)
    recent_scan = _scan(factory, pensioner, DocumentStatus.rejected, 10)
    retired = factory.face(pensioner)
    active = factory.face(pensioner)
    reviewed = factory.pensioner()
    retired_in_review = factory.face(reviewed)
    for face in (retired, retired_in_review):
        assert isinstance(face, EnrolledFace)
        face.active, face.retired_at = False, NOW - timedelta(days=100)
        db.add(face)
    attempt = factory.attempt(reviewed)
    db.add(
        ReviewCase(
            attempt_id=attempt.id,  # type: ignore[attr-defined]
            pensioner_id=reviewed.id,  # type: ignore[attr-defined]
            region_code="110105",
            status=ReviewStatus.open,
        )
    )
    db.commit()
    assert isinstance(retired, EnrolledFace) and isinstance(active, EnrolledFace)
    assert isinstance(retired_in_review, EnrolledFace)
    due = [old_frame.path, old_scan.file_path, retired.photo_path]
    kept = [
        awaiting.path,
        decided_lately.path,
        pending_scan.file_path,
        recent_scan.file_path,
        active.photo_path,
        retired_in_review.photo_path,
    ]
    expected = {"attempts": 0, "call_frames": 1, "consular_scans": 1, "retired_photos": 1}

    assert retention.run(session=db, settings=settings, now=NOW, dry_run=True) == expected
    assert all(_exists(settings, f) for f in due + kept)
    assert not db.exec(select(AuditEvent)).all()

    assert retention.run(session=db, settings=settings, now=NOW) == expected
    assert [f for f in due if _exists(settings, f)] == []
    assert all(_exists(settings, f) for f in kept)
    db.expire_all()
    frame = db.get(CallFrame, old_frame.id)
    scan = db.get(ConsularDocument, old_scan.id)
    photo = db.get(EnrolledFace, retired.id)
    assert frame is not None and scan is not None and photo is not None
    assert frame.path == "" and frame.details["file_deleted_at"].startswith("2026-11-29")
    assert scan.file_path == "" and scan.file_sha256 == "0" * 64
    assert photo.photo_path == "" and photo.quality["file_deleted_at"]
    with pytest.raises(media.MediaDeleted):
        media.read(settings=settings, relative=frame.path)
    actions = sorted(e.action for e in db.exec(select(AuditEvent)).all())
    assert actions == [
        "consular_document.scan_deleted",
        "face.photo_deleted",
        "video_call.frame_image_deleted",
    ]
    zero = dict.fromkeys(expected, 0)
    assert retention.run(session=db, settings=settings, now=NOW) == zero
    # Each kind has its own period; a decided review lets the retired photo go.
    later = NOW + timedelta(days=360)
    longer = settings.model_copy(update={"call_frame_retention_days": 500})
    assert retention.run(session=db, settings=longer, now=later) == zero | {"consular_scans": 1}
    assert _exists(settings, kept[1]) and not _exists(settings, kept[3])
    case = db.exec(select(ReviewCase)).one()
    case.status = ReviewStatus.approved
    db.add(case)
    db.commit()
    assert retention.run(session=db, settings=longer, now=later) == zero | {"retired_photos": 1}
    assert not _exists(settings, kept[5])


def test_verify_reports_orphan_and_missing_files(
    db: Session, factory: Factory, settings: Settings
) -> None:
    pensioner = factory.pensioner()
    files = _everything(factory, pensioner)
    report = inventory.verify(session=db, settings=settings, deep=True)
    assert report.ok, report
    assert report.files == report.records == len(files)

    orphan = "faces/nobody/left-behind.jpg"
    media.store(settings=settings, relative=orphan, data=JPEG)
    photo, selfie, video, frame_0, frame_1, call_frame, scan = files
    (settings.resolved_media_dir / scan).unlink()
    (settings.resolved_media_dir / (photo + ".part")).write_bytes(b"half")
    (settings.resolved_media_dir / selfie).chmod(0o644)
    (settings.resolved_media_dir / video).write_bytes(b"plain video bytes")
    frame_path = settings.resolved_media_dir / call_frame
    frame_path.write_bytes(frame_path.read_bytes()[:-1] + b"\x00")
    cut = settings.resolved_media_dir / frame_1
    cut.write_bytes(cut.read_bytes()[:10])

    shallow = inventory.verify(session=db, settings=settings)
    assert not shallow.ok
    assert shallow.orphan_files == [orphan]
    assert shallow.missing_files == [{"kind": "consular_scan", "path": scan}]
    assert shallow.partial_files == [photo + ".part"]
    assert shallow.not_encrypted == [video]
    assert selfie in shallow.loose_permissions
    assert shallow.unreadable == [frame_1]  # a damaged header; only a deep check decrypts
    deep = inventory.verify(session=db, settings=settings, deep=True)
    assert sorted(deep.unreadable) == sorted([call_frame, frame_1])
    assert frame_0 not in deep.unreadable


def _media_command(settings: Settings, *args: str, **env: str) -> Any:
    """`lifecert media ...` against the test database, with these settings from the environment."""
    environment = {
        "LIFECERT_DATA_DIR": str(settings.data_dir),
        "LIFECERT_DATABASE_URL": settings.resolved_database_url,
        **env,
    }
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, ["media", *args], env=environment, catch_exceptions=False)
    finally:
        get_settings.cache_clear()


def test_media_commands(app: FastAPI, factory: Factory, settings: Settings) -> None:
    def run(*args: str, env: dict[str, str] | None = None) -> Any:
        return _media_command(settings, *args, **(env or {}))

    pensioner = factory.pensioner()
    files = _everything(factory, pensioner)
    clean = run("verify")
    assert clean.exit_code == 0, clean.output
    assert "agree" in clean.output

    orphan = "consular/nobody/stray.pdf"
    media.store(settings=settings, relative=orphan, data=b"%PDF")
    (settings.resolved_media_dir / files[0]).unlink()
    found = run("verify", "--json")
    assert found.exit_code == 1
    report = json.loads(found.output)
    assert report["ok"] is False and report["orphan_files"] == [orphan]
    assert report["missing_files"] == [{"kind": "photo", "path": files[0]}]
    text = run("verify")
    assert "Files without a record (1):" in text.output and orphan in text.output

    dry = run("retention", "--dry-run")
    assert dry.exit_code == 0 and json.loads(dry.output)["dry_run"] is True

    new_key = run("generate-key").output.strip()
    assert len(parse_media_key(new_key)) == 32
    dev_key = settings.media_keys[0]
    rotated = run(
        "rotate-keys",
        env={
            "LIFECERT_MEDIA_MASTER_KEY": new_key,
            "LIFECERT_MEDIA_OLD_MASTER_KEYS": json.dumps([dev_key]),
        },
    )
    assert rotated.exit_code == 0, rotated.output
    assert json.loads(rotated.output)["rewrapped"] == len(files)  # one deleted, one orphan
    only_new = run("verify", "--json", "--deep", env={"LIFECERT_MEDIA_MASTER_KEY": new_key})
    after = json.loads(only_new.output)
    assert after["unknown_key"] == [] and after["unreadable"] == []
    assert after["orphan_files"] == [orphan]
