"""1:N duplicate search with the real dlib engine: the index follows the galleries, a face
enrolled under a second ID opens a case (at enrolment, import and dedup), staff decide it
with four eyes before any payment stops, and the commands run end to end."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from app.audit.service import SYSTEM
from app.cli import cli
from app.config import Settings, get_settings
from app.faces import duplicates, service
from app.faces.index import RegisterIndex, register_index
from app.pensioners import service as pensioners
from biometrics import DlibFaceEngine, FaceEmbedding
from models.certification import PaymentSuspension, SuspensionReason
from models.face import EnrolledFace, FaceSource
from models.face_dedup import DuplicateCase, DuplicateStatus
from models.pensioner import BenefitStatus, Pensioner
from tests.app.faces.test_id_card import chip_of
from tests.app.faces.test_verification import _embed, cohort_embeddings  # noqa: F401
from tests.conftest import FIXTURES, Factory

FACES = FIXTURES / "faces"
MODEL = (DlibFaceEngine.model_name, DlibFaceEngine.model_version)


def _row(pensioner: object, embedding: FaceEmbedding) -> EnrolledFace:
    return EnrolledFace(
        pensioner_id=pensioner.id,  # type: ignore[attr-defined]
        source=FaceSource.enrolment,
        photo_path="x",
        photo_sha256=uuid.uuid4().hex,
        photo_format="jpeg",
        photo_width=1,
        photo_height=1,
        embedding=np.asarray(embedding.vector, dtype="<f8").tobytes(),
        model_name=embedding.model_name,
        model_version=embedding.model_version,
        added_by_type="system",
        added_by_id="test",
    )


@pytest.fixture
def register(
    db: Session,
    factory: Factory,
    cohort_embeddings: list[FaceEmbedding],  # noqa: F811
) -> list[object]:
    """60 people with one real template each, written without the change log (as a restore)."""
    people = []
    for embedding in cohort_embeddings:
        person = factory.pensioner("110108")
        db.add(_row(person, embedding))
        people.append(person)
    db.commit()
    return people


def test_the_index_follows_the_galleries(
    db: Session,
    settings: Settings,
    factory: Factory,
    face_engine: DlibFaceEngine,
    register: list[object],
) -> None:
    index = register_index(db, model=MODEL)
    assert len(index) == 60  # built from the templates themselves
    probe = _embed(face_engine, FACES / "deepface_c01" / "3.jpg")
    person = factory.pensioner()
    face = service.enrol(
        session=db,
        settings=settings,
        engine=face_engine,
        pensioner=person,
        data=(FACES / "deepface_c01" / "1.jpg").read_bytes(),
        actor=SYSTEM,
    )
    db.commit()
    # A process that had its index already follows the log: the new face joins ...
    assert index.sync(db) == 1 and len(index) == 61
    nearest = index.nearest(np.asarray(probe.vector), k=3)
    assert nearest[0].pensioner_id == person.id  # type: ignore[attr-defined]
    # ... the person's own faces are never their own duplicate ...
    assert all(
        n.pensioner_id != person.id  # type: ignore[attr-defined]
        for n in index.nearest(np.asarray(probe.vector), k=5, exclude=person.id)  # type: ignore[attr-defined]
    )
    # ... and a retired one leaves.
    service.retire(
        session=db, settings=settings, pensioner=person, face=face, actor=SYSTEM, reason="test"
    )
    db.commit()
    assert index.sync(db) == 1 and len(index) == 60
    assert index.nearest(np.asarray(probe.vector), k=1)[0].pensioner_id != person.id  # type: ignore[attr-defined]
    # A fresh index built from the database agrees with the one that followed the log.
    fresh = RegisterIndex(model=MODEL)
    assert fresh.rebuild(db) == 60
    assert [n.face_id for n in fresh.nearest(np.asarray(probe.vector), k=10)] == [
        n.face_id for n in index.nearest(np.asarray(probe.vector), k=10)
    ]


def test_one_face_under_two_ids_opens_one_case(
    db: Session,
    settings: Settings,
    factory: Factory,
    face_engine: DlibFaceEngine,
    register: list[object],
) -> None:
    first, second = factory.pensioner(), factory.pensioner()
    chip = chip_of(FACES / "deepface_c13" / "1.jpg", face_engine, face_px=80.0)
    for person, data, source in (
        (first, chip, FaceSource.id_card),
        # The photo the chip was cut from, enrolled under a second identity.
        (second, (FACES / "deepface_c13" / "1.jpg").read_bytes(), FaceSource.enrolment),
    ):
        service.enrol(
            session=db,
            settings=settings,
            engine=face_engine,
            pensioner=person,
            data=data,
            actor=SYSTEM,
            source=source,
        )
        db.commit()
    case = db.exec(select(DuplicateCase)).one()
    assert (case.earlier_pensioner_id, case.later_pensioner_id) == (first.id, second.id)  # type: ignore[attr-defined]
    assert case.found_by == "enrolment" and case.distance < settings.face_duplicate_case_distance
    later = db.get(EnrolledFace, case.later_face_id)
    assert later is not None and "duplicate_case" in later.enrolment_check["waits_for"]
    # The whole-register dedup finds the same pair and does not raise it again.
    result = duplicates.run_dedup(
        session=db, settings=settings, index=register_index(db, model=MODEL), actor=SYSTEM
    )
    assert result["cases_opened"] == 0 and result["pairs_already_known"] >= 1
    assert db.exec(select(func.count()).select_from(DuplicateCase)).one() == 1
    # Deleting the second record takes its case with it and its face out of every index.
    index = register_index(db, model=MODEL)
    assert any(n.face_id == later.id for n in index.nearest(_vector(later), k=3))
    pensioners.delete(session=db, settings=settings, actor=SYSTEM, pensioner=second)  # type: ignore[arg-type]
    db.commit()
    assert db.exec(select(func.count()).select_from(DuplicateCase)).one() == 0
    assert db.get(EnrolledFace, later.id) is None
    index.sync(db)
    assert all(n.face_id != later.id for n in index.nearest(_vector(later), k=3))
    assert RegisterIndex(model=MODEL).rebuild(db) == len(index)


def _vector(face: EnrolledFace) -> np.ndarray:
    return np.frombuffer(face.embedding, dtype="<f8").astype(np.float32)


def test_dedup_finds_planted_pairs_and_nobody_else(
    db: Session,
    settings: Settings,
    factory: Factory,
    face_engine: DlibFaceEngine,
    register: list[object],
) -> None:
    planted = []
    for name in ("deepface_c01", "deepface_c03"):
        # A press photo under one ID and the same face as a grey ID-card chip under another.
        a, b = factory.pensioner(), factory.pensioner()
        photo = FACES / name / "1.jpg"
        chip = chip_of(photo, face_engine, face_px=80.0, grey=True)
        analysed = service.analyze(chip, engine=face_engine, settings=settings, gate="selfie")
        assert analysed.embedding is not None
        original = _embed(face_engine, photo)
        db.add(_row(a, original))
        db.add(_row(b, analysed.embedding))
        distance = float(np.linalg.norm(original.vector - analysed.embedding.vector))
        planted.append(({a.id, b.id}, distance))  # type: ignore[attr-defined]
    db.commit()
    index = register_index(db, model=MODEL)
    result = duplicates.run_dedup(session=db, settings=settings, index=index, actor=SYSTEM)
    cases = db.exec(select(DuplicateCase)).all()
    found = [{c.earlier_pensioner_id, c.later_pensioner_id} for c in cases]
    # Each planted pair is a case exactly when its two faces lie under the threshold (a
    # chip is usually within 0.1-0.28 of its photo).
    bar = settings.face_duplicate_case_distance
    assert [pair in found for pair, _ in planted] == [d < bar for _, d in planted], planted
    assert any(d < bar for _, d in planted), planted
    # The 60 different people of the register: at this threshold none of them is a case.
    strangers = [f for f in found if f not in [pair for pair, _ in planted]]
    assert strangers == [], result
    assert result["cases_opened"] == len(cases)


async def test_four_eyes_before_a_suspension(
    client: httpx.AsyncClient, db: Session, factory: Factory, face_engine: DlibFaceEngine
) -> None:
    cases = []
    for _ in range(2):
        a, b = factory.pensioner(), factory.pensioner()
        fa = _row(a, _embed(face_engine, FACES / "deepface_c01" / "1.jpg"))
        fb = _row(b, _embed(face_engine, FACES / "deepface_c01" / "2.jpg"))
        db.add_all([fa, fb])
        db.flush()
        case = DuplicateCase(
            pair_key=duplicates.pair_key(a.id, b.id),  # type: ignore[attr-defined]
            earlier_pensioner_id=a.id,  # type: ignore[attr-defined]
            later_pensioner_id=b.id,  # type: ignore[attr-defined]
            earlier_face_id=fa.id,
            later_face_id=fb.id,
            distance=0.3,
            threshold=0.4,
            found_by="dedup",
        )
        db.add(case)
        cases.append(case)
    db.commit()
    first = factory.auth(factory.staff("reviewer", scope="11"))
    second = factory.auth(factory.staff("reviewer", scope="11"))
    url = f"/api/v1/faces/duplicates/{cases[0].id}"
    listed = await client.get("/api/v1/faces/duplicates", headers=first)
    assert listed.status_code == 200 and len(listed.json()) == 2
    assert listed.json()[0]["earlier"]["national_id"] and listed.json()[0]["later"]["face_id"]

    said = await client.post(f"{url}/decision", json={"outcome": "same_person"}, headers=first)
    assert said.status_code == 200 and said.json()["status"] == "awaiting_second"
    later = db.get(Pensioner, cases[0].later_pensioner_id)
    db.refresh(later)
    assert later is not None and later.benefit_status is BenefitStatus.active  # not yet
    alone = await client.post(f"{url}/decision", json={"outcome": "same_person"}, headers=first)
    assert alone.status_code == 403
    agreed = await client.post(f"{url}/decision", json={"outcome": "same_person"}, headers=second)
    assert agreed.status_code == 200, agreed.text
    assert agreed.json()["status"] == "closed" and agreed.json()["outcome"] == "same_person"
    db.refresh(later)
    assert later.benefit_status is BenefitStatus.suspended
    suspension = db.exec(
        select(PaymentSuspension).where(PaymentSuspension.pensioner_id == later.id)
    ).one()
    assert suspension.reason is SuspensionReason.fraud_suspected
    assert suspension.evidence["duplicate_case_id"] == str(cases[0].id)
    earlier = db.get(Pensioner, cases[0].earlier_pensioner_id)
    assert earlier is not None and earlier.benefit_status is BenefitStatus.active
    again = await client.post(f"{url}/decision", json={"outcome": "relatives"}, headers=second)
    assert again.status_code == 409 and again.json()["error"] == "DuplicateCaseClosed"

    # Twins: one reviewer closes it, nothing is suspended, and the pair stays remembered.
    twins = f"/api/v1/faces/duplicates/{cases[1].id}"
    kept = await client.post(
        f"{twins}/decision", json={"outcome": "relatives", "note": "twin brothers"}, headers=first
    )
    assert kept.status_code == 200 and kept.json()["outcome"] == "relatives"
    other = db.get(Pensioner, cases[1].later_pensioner_id)
    db.refresh(other)
    assert other is not None and other.benefit_status is BenefitStatus.active
    assert duplicates.known_pair(
        session=db, a=cases[1].earlier_pensioner_id, b=cases[1].later_pensioner_id
    )
    bad = await client.post(f"{twins}/decision", json={"outcome": "maybe"}, headers=first)
    assert bad.status_code == 422
    missing = await client.get(f"/api/v1/faces/duplicates/{uuid.uuid4()}", headers=first)
    assert missing.status_code == 404 and missing.json()["error"] == "DuplicateCaseNotFound"


@pytest.fixture
def run(settings: Settings, app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("LIFECERT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LIFECERT_DATABASE_URL", settings.resolved_database_url)
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str) -> object:
        return runner.invoke(cli, list(args), catch_exceptions=False)

    yield invoke
    get_settings.cache_clear()


def test_import_faces_and_dedup_commands(
    run,  # type: ignore[no-untyped-def]
    db: Session,
    factory: Factory,
    face_engine: DlibFaceEngine,
    tmp_path: Path,
) -> None:
    admin = factory.staff("admin", scope="")
    regional = factory.staff("admin", scope="11")
    a, b, c = factory.pensioner(), factory.pensioner(), factory.pensioner()
    folder = tmp_path / "chips"
    folder.mkdir()
    chip = chip_of(FACES / "deepface_c13" / "1.jpg", face_engine, face_px=80.0)
    (folder / f"{a.national_id}.jpg").write_bytes(chip)  # type: ignore[attr-defined]
    (folder / f"{b.national_id}.jpg").write_bytes(chip)  # type: ignore[attr-defined]
    (folder / "110105190001017777.jpg").write_bytes(chip)  # nobody has this ID
    (folder / f"{c.national_id}.jpg").write_bytes(b"not a photo")  # type: ignore[attr-defined]
    refused = run("import-faces", str(folder), "--as", regional.username)  # type: ignore[attr-defined,operator]
    assert refused.exit_code == 1 and "PermissionDenied" in refused.output  # type: ignore[attr-defined]
    report = tmp_path / "refusals.csv"
    done = run(  # type: ignore[operator]
        "import-faces",
        str(folder),
        "--as",
        admin.username,
        "--workers",
        "1",  # type: ignore[attr-defined]
        "--report",
        str(report),
        "--quiet",
    )
    assert done.exit_code == 0, done.output  # type: ignore[attr-defined]
    summary = json.loads(done.stdout)  # type: ignore[attr-defined]
    assert summary["enrolled"] == 1 and summary["refused"] == 3
    assert summary["reasons"] == {
        "unreadable": 1,
        "unknown_id": 1,
        "duplicate_of_another_id": 1,
    }
    assert 0 < summary["worker_max_rss_mb"] < 500
    rows = list(csv.DictReader(report.open(encoding="utf-8")))
    assert {r["reason"] for r in rows} == {"unreadable", "unknown_id", "duplicate_of_another_id"}
    db.expire_all()
    assert db.exec(select(DuplicateCase)).one().found_by == "import"
    dedup = run("faces", "dedup", "--as", admin.username)  # type: ignore[attr-defined,operator]
    assert dedup.exit_code == 0, dedup.output  # type: ignore[attr-defined]
    assert json.loads(dedup.stdout)["cases_opened"] == 0  # type: ignore[attr-defined]
    rebuilt = run("faces", "index-rebuild")  # type: ignore[operator]
    assert json.loads(rebuilt.stdout)["templates"] == 1  # type: ignore[attr-defined]
    assert db.exec(select(DuplicateCase)).one().status is DuplicateStatus.open
