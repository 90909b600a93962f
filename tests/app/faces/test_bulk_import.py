"""Bulk enrolment of an ID-card photo archive (app/faces/bulk.py) with the real dlib engine:
folders, CSVs and ZIPs, every refusal in the report, nothing half-written, resumable."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, func, select

from app.audit.service import SYSTEM
from app.config import Settings
from app.faces import bulk
from app.faces.index import register_index
from biometrics import DlibFaceEngine
from models.audit import AuditEvent
from models.face import EnrolledFace, FaceSource
from models.face_dedup import (
    DuplicateCase,
    FaceImportBatch,
    FaceImportItem,
    FaceIndexChange,
    ImportStatus,
)
from tests.app.faces.test_id_card import chip_of
from tests.conftest import FIXTURES, Factory

FACES = FIXTURES / "faces"
PEOPLE = ["deepface_c01", "deepface_c13", "fr_obama", "ea_Cai_Gang"]


@pytest.fixture(scope="module")
def chips(face_engine: DlibFaceEngine) -> dict[str, bytes]:
    out = {}
    for name in PEOPLE:
        folder = FACES / name if (FACES / name).is_dir() else next(FACES.glob(f"{name}*"))
        out[name] = chip_of(sorted(folder.glob("*.jpg"))[0], face_engine, face_px=80.0)
    return out


def _run(
    db: Session,
    settings: Settings,
    engine: DlibFaceEngine,
    source: Path,
    **overrides: Any,
) -> tuple[bulk.Progress, FaceImportBatch]:
    settings = settings.model_copy(update=overrides)
    items = bulk.open_source(source, settings=settings)
    batch = bulk.start_batch(session=db, source=str(source), kind=FaceSource.id_card, actor=SYSTEM)
    db.commit()
    progress = bulk.run_import(
        session=db, settings=settings, batch=batch, items=items, actor=SYSTEM, engine=engine
    )
    return progress, batch


def _reasons(db: Session, batch: FaceImportBatch) -> dict[str, str]:
    return {r["file"]: r["reason"] for r in bulk.batch_refusals(session=db, batch_id=batch.id)}


def test_folder_named_by_national_id(
    db: Session,
    settings: Settings,
    factory: Factory,
    face_engine: DlibFaceEngine,
    chips: dict[str, bytes],
    tmp_path: Path,
) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    people = [factory.pensioner() for _ in PEOPLE]
    for person, name in zip(people, PEOPLE, strict=True):
        (folder / f"{person.national_id}.jpg").write_bytes(chips[name])  # type: ignore[attr-defined]
    progress, batch = _run(db, settings, face_engine, folder)
    assert (progress.enrolled, progress.refused, progress.skipped) == (4, 0, 0), progress.refusals
    faces = db.exec(select(EnrolledFace)).all()
    assert len(faces) == 4 and all(f.active and f.source is FaceSource.id_card for f in faces)
    assert db.exec(select(func.count()).select_from(FaceIndexChange)).one() == 4
    batch = db.get(FaceImportBatch, batch.id)
    assert batch is not None and batch.status is ImportStatus.done and batch.enrolled == 4
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "face.import_batch")).one()
    assert event.after is not None and len(event.after["face_ids"]) == 4
    # Every imported face is searchable by the 1:N index.
    index = register_index(db, model=(face_engine.model_name, face_engine.model_version))
    assert len(index) == 4
    # A rerun does nothing again.
    again, _ = _run(db, settings, face_engine, folder)
    assert (again.enrolled, again.refused, again.skipped) == (0, 0, 4)
    assert db.exec(select(func.count()).select_from(EnrolledFace)).one() == 4


def test_zip_with_every_kind_of_bad_entry(
    db: Session,
    settings: Settings,
    factory: Factory,
    face_engine: DlibFaceEngine,
    chips: dict[str, bytes],
    tmp_path: Path,
) -> None:
    a, b, c, enrolled = (factory.pensioner() for _ in range(4))
    nid = {k: p.national_id for k, p in zip("abce", (a, b, c, enrolled), strict=True)}  # type: ignore[attr-defined]
    factory.face(enrolled)  # already has a photo on file
    archive = tmp_path / "archive.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{nid['a']}.jpg", chips["deepface_c01"])
        z.writestr(f"photos/{nid['b']}.jpg", chips["deepface_c01"])  # the same photo, another ID
        z.writestr(f"../../etc/{nid['c']}.jpg", chips["deepface_c13"])  # path traversal
        z.writestr(f"{nid['c']}.jpg", b"PK this is a note, not a photo" * 10)  # not an image
        z.writestr("110105190001019999.jpg", chips["fr_obama"])  # nobody has this ID
        z.writestr(f"{nid['e']}.jpg", chips["ea_Cai_Gang"])
        z.writestr("110105190001018888.jpg", b"\0" * 20_000_000)  # a bomb member: ratio ~1000
    progress, batch = _run(db, settings, face_engine, archive)
    reasons = _reasons(db, batch)
    assert reasons == {
        f"photos/{nid['b']}.jpg": "duplicate_of_another_id",
        f"../../etc/{nid['c']}.jpg": "unsafe_name",
        f"{nid['c']}.jpg": "unreadable",
        "110105190001019999.jpg": "unknown_id",
        f"{nid['e']}.jpg": "already_enrolled",
        "110105190001018888.jpg": "zip_bomb",
    }, reasons
    assert progress.enrolled == 1
    # The same photo under a second ID: stored waiting, with a duplicate case; not enrolled.
    case = db.exec(select(DuplicateCase)).one()
    assert (case.earlier_pensioner_id, case.later_pensioner_id) == (a.id, b.id)  # type: ignore[attr-defined]
    assert case.found_by == "import" and case.distance < 0.05
    later = db.get(EnrolledFace, case.later_face_id)
    assert later is not None and later.pending and not later.active
    report = list(
        csv.DictReader(
            io.StringIO(bulk.report_csv(bulk.batch_refusals(session=db, batch_id=batch.id)))
        )
    )
    assert {r["reason"] for r in report} == set(reasons.values())
    assert all(r["detail"] for r in report if r["reason"] != "already_enrolled")


def test_a_declared_bomb_is_refused_unread(
    db: Session, settings: Settings, tmp_path: Path, chips: dict[str, bytes]
) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for i in range(3):
            z.writestr(f"11010519000101{i:04d}.jpg", b"\0" * 5_000_000)
    small = settings.model_copy(update={"face_import_max_archive_bytes": 10_000_000})
    with pytest.raises(bulk.ArchiveRefused) as refused:
        bulk.open_source(archive, settings=small)
    assert refused.value.extra["declared_bytes"] == 15_000_000
    not_zip = tmp_path / "x.zip"
    not_zip.write_bytes(chips["fr_obama"])
    with pytest.raises(bulk.ArchiveRefused):
        bulk.open_source(not_zip, settings=settings)
    assert db.exec(select(func.count()).select_from(FaceImportItem)).one() == 0


def test_csv_source_stays_in_its_folder(
    db: Session,
    settings: Settings,
    factory: Factory,
    face_engine: DlibFaceEngine,
    chips: dict[str, bytes],
    tmp_path: Path,
) -> None:
    folder = tmp_path / "scans"
    (folder / "sub").mkdir(parents=True)
    person, other = factory.pensioner(), factory.pensioner()
    (folder / "sub" / "one.jpg").write_bytes(chips["deepface_c13"])
    (tmp_path / "outside.jpg").write_bytes(chips["fr_obama"])
    mapping = folder / "map.csv"
    mapping.write_text(
        "national_id,file\n"
        f"{person.national_id},sub/one.jpg\n"  # type: ignore[attr-defined]
        f"{other.national_id},../outside.jpg\n"  # type: ignore[attr-defined]
        f"{other.national_id},sub/missing.jpg\n",  # type: ignore[attr-defined]
        encoding="utf-8",
    )
    progress, batch = _run(db, settings, face_engine, mapping)
    assert progress.enrolled == 1
    assert _reasons(db, batch) == {"../outside.jpg": "unsafe_name", "sub/missing.jpg": "unreadable"}


class _Interrupting:
    """The real engine, interrupted (as by Ctrl-C) after `after` embeddings."""

    def __init__(self, inner: DlibFaceEngine, after: int) -> None:
        self.inner, self.left = inner, after

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed(self, *args: Any, **kwargs: Any) -> Any:
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return self.inner.embed(*args, **kwargs)


def test_an_interrupted_import_resumes_without_half_written_batches(
    db: Session,
    settings: Settings,
    factory: Factory,
    face_engine: DlibFaceEngine,
    chips: dict[str, bytes],
    tmp_path: Path,
) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    for name in PEOPLE:
        person = factory.pensioner()
        (folder / f"{person.national_id}.jpg").write_bytes(chips[name])  # type: ignore[attr-defined]
    small = settings.model_copy(update={"face_import_batch_size": 2})
    items = bulk.open_source(folder, settings=small)
    batch = bulk.start_batch(session=db, source="x", kind=FaceSource.id_card, actor=SYSTEM)
    db.commit()
    with pytest.raises(KeyboardInterrupt):
        bulk.run_import(
            session=db,
            settings=small,
            batch=batch,
            items=items,
            actor=SYSTEM,
            engine=_Interrupting(face_engine, after=3),  # type: ignore[arg-type]
        )
    # The first batch of two is in; the second, interrupted after one photo, left nothing.
    assert db.exec(select(func.count()).select_from(EnrolledFace)).one() == 2
    assert db.exec(select(func.count()).select_from(FaceImportItem)).one() == 2
    stored = [p for p in small.resolved_media_dir.rglob("*") if p.is_file()]
    assert len(stored) == 2
    assert db.get(FaceImportBatch, batch.id).status is ImportStatus.failed  # type: ignore[union-attr]
    progress, _ = _run(db, settings, face_engine, folder, face_import_batch_size=2)
    assert (progress.enrolled, progress.skipped, progress.refused) == (2, 2, 0)
    assert db.exec(select(func.count()).select_from(EnrolledFace)).one() == 4


async def test_an_uploaded_archive_is_imported_by_a_job(
    client: httpx.AsyncClient,
    db: Session,
    settings: Settings,
    factory: Factory,
    face_engine: DlibFaceEngine,
    chips: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app import broker
    from app.faces import jobs

    sent: list[tuple[str, tuple[str, ...], str]] = []
    monkeypatch.setattr(
        broker, "send", lambda s, actor, *args, queue_name: sent.append((actor, args, queue_name))
    )
    admin = factory.auth(factory.staff("admin", scope=""))
    person = factory.pensioner()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(f"{person.national_id}.jpg", chips["fr_obama"])  # type: ignore[attr-defined]
        z.writestr("110105190001019999.jpg", chips["deepface_c01"])
    files = {"archive": ("archive.zip", buffer.getvalue(), "application/zip")}
    started = await client.post("/api/v1/faces/imports", files=files, headers=admin)
    assert started.status_code == 202, started.text
    batch = started.json()
    assert batch["status"] == "queued" and batch["total"] == 2
    assert sent == [(jobs.IMPORT_FACES, (batch["id"],), jobs.IMPORTS_QUEUE)]  # after the commit
    # The worker's job, run here with the real engine.
    assert (
        jobs.import_archive(
            session=db, settings=settings, batch_id=uuid.UUID(batch["id"]), engine=face_engine
        )
        == "done"
    )
    progress = await client.get(f"/api/v1/faces/imports/{batch['id']}", headers=admin)
    assert progress.json()["status"] == "done"
    assert (progress.json()["enrolled"], progress.json()["refused"]) == (1, 1)
    report = await client.get(f"/api/v1/faces/imports/{batch['id']}/refusals", headers=admin)
    assert report.status_code == 200 and "unknown_id" in report.text
    assert not jobs.archive_path(settings, uuid.UUID(batch["id"])).exists()

    bad = {"archive": ("archive.zip", b"not a zip at all", "application/zip")}
    refused = await client.post("/api/v1/faces/imports", files=bad, headers=admin)
    assert refused.status_code == 422 and refused.json()["error"] == "ArchiveRefused"
    assert len(sent) == 1
