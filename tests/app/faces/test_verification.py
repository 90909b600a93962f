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
from tests.conftest import FIXTURES, Factory

FACES = FIXTURES / "faces"
# Other people, standing in for the enrolled population the scores are normalised against.
COHORT_PHOTOS = sorted(FACES.glob("dlibjohns_*/*.jpg"))[:24] + sorted(FACES.glob("fr_*/*.jpg"))


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
def cohort(db: Session, factory: Factory, cohort_embeddings: list[FaceEmbedding]) -> Iterator[None]:
    """One enrolled face for each of ~38 other pensioners."""
    for embedding in cohort_embeddings:
        other = factory.pensioner("110108")
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
    assert genuine.score >= settings.face_match_score
    assert genuine.template_score is not None and genuine.probe_score is not None

    impostor = _verify(
        db, settings, pensioner, [_embed(face_engine, FACES / "deepface_c03" / "1.jpg")]
    )
    assert impostor.decision == "no_match", impostor


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
    assert result.reasons == ("cohort_too_small",)
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
        settings.face_gallery_min_score = min(settings.face_gallery_min_score, verification.score)
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
