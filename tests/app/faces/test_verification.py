"""1:1 verification against a pensioner's gallery, cohort-normalised, with the real dlib engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import Session, select

from app.audit.service import SYSTEM
from app.config import Settings
from app.faces import service
from biometrics import DlibFaceEngine, FaceEmbedding
from models.audit import AuditEvent
from models.face import EnrolledFace, FaceSource
from tests.app.attempts.clips import COHORT_PHOTOS, SURNAMES, calibrate_register
from tests.conftest import FIXTURES, Factory

FACES = FIXTURES / "faces"


@pytest.fixture(scope="session")
def cohort_embeddings(face_engine: DlibFaceEngine) -> list[FaceEmbedding]:
    out = []
    for path in COHORT_PHOTOS:
        analysis = service.analyze(
            path.read_bytes(), engine=face_engine, settings=Settings(), gate="selfie"
        )
        assert analysis.embedding is not None, path
        out.append(analysis.embedding)
    return out


@pytest.fixture
def cohort(
    db: Session, settings: Settings, factory: Factory, cohort_embeddings: list[FaceEmbedding]
) -> Iterator[None]:
    """One enrolled face for each of 60 other pensioners, and the register calibrated."""
    for index, embedding in enumerate(cohort_embeddings):
        other = factory.pensioner("110108", name=f"{SURNAMES[index]}测试", phone=f"139{index:08d}")
        db.add(
            EnrolledFace(
                pensioner_id=other.id,
                source=FaceSource.enrolment,
                photo_path="x",
                photo_sha256="0" * 64,
                photo_format="jpeg",
                photo_width=1,
                photo_height=1,
                embedding=np.asarray(embedding.vector, dtype="<f8").tobytes(),
                model_name=embedding.model_name,
                model_version=embedding.model_version,
                added_by_type="system",
                added_by_id="test",
            )
        )
    db.commit()
    calibrate_register(db, settings)
    yield


def _embed(engine: DlibFaceEngine, path: Path) -> FaceEmbedding:
    analysis = service.analyze(path.read_bytes(), engine=engine, settings=Settings(), gate="selfie")
    assert analysis.embedding is not None
    return analysis.embedding


def _enrol(
    db: Session, settings: Settings, engine: DlibFaceEngine, factory: Factory, photo: Path
) -> object:
    pensioner = factory.pensioner()
    service.enrol(
        session=db,
        settings=settings,
        engine=engine,
        pensioner=pensioner,
        data=photo.read_bytes(),
        actor=SYSTEM,
    )
    db.commit()
    return pensioner


def _verify(
    db: Session, settings: Settings, pensioner: object, probes: list[FaceEmbedding]
) -> service.Verification:
    return service.verify(
        session=db,
        settings=settings,
        cohort_cache=service.CohortCache(),
        pensioner_id=pensioner.id,
        probes=probes,
    )  # type: ignore[attr-defined]


def test_same_person_matches_and_another_person_does_not(
    cohort: None, db: Session, settings: Settings, face_engine: DlibFaceEngine, factory: Factory
) -> None:
    pensioner = _enrol(db, settings, face_engine, factory, FACES / "deepface_c01" / "1.jpg")
    genuine = _verify(
        db, settings, pensioner, [_embed(face_engine, FACES / "deepface_c01" / "3.jpg")]
    )
    assert genuine.decision == "match", genuine
    assert genuine.cohort_size >= 30 and genuine.score is not None
    assert genuine.thresholds.match is not None and genuine.score >= genuine.thresholds.match
    assert genuine.calibration_id is not None
    assert genuine.template_score is not None and genuine.probe_score is not None

    impostor = _verify(
        db, settings, pensioner, [_embed(face_engine, FACES / "deepface_c03" / "1.jpg")]
    )
    # Never accepted; whether it is refused outright or reviewed depends on where the
    # register's own strangers score (the no_match bar is their 80% quantile).
    assert impostor.decision != "match", impostor
    assert impostor.score is not None and impostor.score < genuine.thresholds.match
    assert genuine.score - impostor.score > 3.0


def test_several_probe_frames_are_averaged(
    cohort: None, db: Session, settings: Settings, face_engine: DlibFaceEngine, factory: Factory
) -> None:
    pensioner = _enrol(db, settings, face_engine, factory, FACES / "deepface_c13" / "1.jpg")
    probes = [_embed(face_engine, FACES / "deepface_c13" / n) for n in ("2.jpg", "3.jpg")]
    result = _verify(db, settings, pensioner, probes)
    assert result.probe_images == 2
    assert result.decision == "match"


def test_without_a_cohort_nothing_is_accepted_automatically(
    db: Session, settings: Settings, face_engine: DlibFaceEngine, factory: Factory
) -> None:
    pensioner = _enrol(db, settings, face_engine, factory, FACES / "deepface_c01" / "1.jpg")
    result = _verify(
        db, settings, pensioner, [_embed(face_engine, FACES / "deepface_c01" / "3.jpg")]
    )
    assert result.decision == "review"
    assert result.reasons == ("no_calibration", "cohort_too_small")
    assert result.score is None


def test_confident_certification_selfie_joins_a_bounded_gallery(
    cohort: None, db: Session, settings: Settings, face_engine: DlibFaceEngine, factory: Factory
) -> None:
    settings.face_gallery_max_certification = 1
    pensioner = _enrol(db, settings, face_engine, factory, FACES / "deepface_c01" / "1.jpg")
    for name in ("3.jpg", "4.jpg"):
        data = (FACES / "deepface_c01" / name).read_bytes()
        analysis = service.analyze(data, engine=face_engine, settings=settings, gate="selfie")
        assert analysis.embedding is not None
        verification = _verify(db, settings, pensioner, [analysis.embedding])
        assert verification.score is not None
        assert verification.thresholds.match is not None
        margin = verification.score - verification.thresholds.match
        settings.face_gallery_margin = min(settings.face_gallery_margin, margin)
        added = service.add_certification_selfie(
            session=db,
            settings=settings,
            pensioner=pensioner,
            analysis=analysis,
            data=data,
            verification=verification,
            actor=SYSTEM,
        )
        db.commit()
        assert added is not None and added.source is FaceSource.certification
    faces = service.all_faces(session=db, pensioner_id=pensioner.id)  # type: ignore[attr-defined]
    active = [(f.source, f.active) for f in sorted(faces, key=lambda f: f.created_at)]
    assert active == [
        (FaceSource.enrolment, True),
        (FaceSource.certification, False),
        (FaceSource.certification, True),
    ]
    actions = db.exec(
        select(AuditEvent.action).where(AuditEvent.entity_id == str(pensioner.id))
    ).all()  # type: ignore[attr-defined]
    assert sorted(actions) == [
        "face.certification",
        "face.certification",
        "face.enrolment",
        "face.retire",
    ]


def test_a_doubtful_selfie_does_not_join_the_gallery(
    cohort: None, db: Session, settings: Settings, face_engine: DlibFaceEngine, factory: Factory
) -> None:
    pensioner = _enrol(db, settings, face_engine, factory, FACES / "deepface_c01" / "1.jpg")
    data = (FACES / "deepface_c03" / "1.jpg").read_bytes()
    analysis = service.analyze(data, engine=face_engine, settings=settings, gate="selfie")
    assert analysis.embedding is not None
    verification = _verify(db, settings, pensioner, [analysis.embedding])
    assert (
        service.add_certification_selfie(
            session=db,
            settings=settings,
            pensioner=pensioner,
            analysis=analysis,
            data=data,
            verification=verification,
            actor=SYSTEM,
        )
        is None
    )
