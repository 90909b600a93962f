"""One face decision per attempt: the selfie and the frames fused, disagreement reviewed, and
the costlier second look only near the bar (real dlib embeddings of East-Asian people)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from app.config import Settings
from app.faces import service
from biometrics import DlibFaceEngine, FaceEmbedding
from tests.app.attempts.clips import embedding_row
from tests.app.faces.test_calibration import (
    EAST_ASIAN,
    _calibrate,
    _enrol_people,
    embeddings,  # noqa: F401 - the module-scoped fixture
)
from tests.conftest import FIXTURES, Factory

FACES = FIXTURES / "faces"
# People outside the calibrated register: the claimant and someone else.
CLAIMANT = FACES / "ea_Michelle_Kwan"
OTHER = FACES / "ea_Miki_Honoka"


def _embed(engine: DlibFaceEngine, path: Path) -> FaceEmbedding:
    analysis = service.analyze(path.read_bytes(), engine=engine, settings=Settings(), gate="selfie")
    assert analysis.embedding is not None
    return analysis.embedding


@pytest.fixture
def claimant(
    db: Session,
    factory: Factory,
    settings: Settings,
    face_engine: DlibFaceEngine,
    embeddings: dict[Path, FaceEmbedding],  # noqa: F811
) -> Iterator[object]:
    assert CLAIMANT.name not in {p.parent.name for p in EAST_ASIAN}
    _enrol_people(db, factory, EAST_ASIAN, embeddings)
    person = factory.pensioner("110108", name="关某", phone="13011112222")
    # Web photos of 250 px: below the enrolment gate's size, so stored as a register import
    # would store them (the embedding of each photo on file).
    for photo in sorted(CLAIMANT.glob("*.jpg"))[:2]:
        db.add(embedding_row(person, _embed(face_engine, photo)))
    db.commit()
    _calibrate(db, settings, 0.05)
    yield person


def _check(
    db: Session,
    settings: Settings,
    person: object,
    selfie: FaceEmbedding,
    frames: list[FaceEmbedding],
    rescore: service.Rescore | None = None,
) -> service.AttemptFaceCheck:
    return service.verify_attempt(
        session=db,
        settings=settings,
        cohort_cache=service.CohortCache(),
        pensioner_id=person.id,  # type: ignore[attr-defined]
        selfie=selfie,
        frames=frames,
        rescore=rescore,
    )


def test_the_selfie_and_frames_are_one_piece_of_evidence(
    claimant: object, db: Session, settings: Settings, face_engine: DlibFaceEngine
) -> None:
    photos = sorted(CLAIMANT.glob("*.jpg"))[2:6]
    selfie, *frames = [_embed(face_engine, p) for p in photos]
    check = _check(db, settings, claimant, selfie, frames)
    assert check.fused.probe_images == 4 and len(check.fused.probe_scores) == 4
    assert check.fused.score == pytest.approx(sum(check.fused.probe_scores) / 4)
    assert check.selfie_score == check.fused.probe_scores[0]
    assert check.video_score == pytest.approx(sum(check.fused.probe_scores[1:]) / 3)
    assert check.decision == "match", check
    summary = check.summary()
    assert summary["selfie"]["score"] is not None and summary["video"]["score"] is not None
    assert summary["calibration_id"] is not None and summary["second_pass"] is False


def test_someone_elses_video_with_the_persons_photo_is_reviewed_with_its_reason(
    claimant: object, db: Session, settings: Settings, face_engine: DlibFaceEngine
) -> None:
    selfie = _embed(face_engine, sorted(CLAIMANT.glob("*.jpg"))[2])
    frames = [_embed(face_engine, p) for p in sorted(OTHER.glob("*.jpg"))[:3]]
    check = _check(db, settings, claimant, selfie, frames)
    bars = check.fused.thresholds
    assert bars.match is not None and bars.no_match is not None
    assert check.selfie_score is not None and check.selfie_score >= bars.match
    assert check.video_score is not None and check.video_score < bars.no_match
    assert check.decision == "review"
    assert "face_selfie_video_disagree" in check.reasons


def test_the_costlier_look_is_taken_only_near_the_bar(
    claimant: object, db: Session, settings: Settings, face_engine: DlibFaceEngine
) -> None:
    calls: list[int] = []
    genuine = [_embed(face_engine, p) for p in sorted(CLAIMANT.glob("*.jpg"))[2:5]]
    other = [_embed(face_engine, p) for p in sorted(OTHER.glob("*.jpg"))[:3]]

    def rescore() -> tuple[FaceEmbedding, list[FaceEmbedding]]:
        calls.append(1)
        return genuine[0], genuine[1:]

    # A clear match is decided at once.
    assert _check(db, settings, claimant, genuine[0], genuine[1:], rescore).decision == "match"
    assert calls == []
    # A stranger far below the bar is not worth the CPU either.
    settings.face_second_pass_margin = 0.5
    far = _check(db, settings, claimant, other[0], other[1:], rescore)
    assert far.decision != "match" and calls == [] and not far.second_pass
    # Within the margin below the bar: embedded again, and the second look decides.
    settings.face_second_pass_margin = 1000.0
    near = _check(db, settings, claimant, other[0], other[1:], rescore)
    assert calls == [1] and near.second_pass and near.decision == "match"
