"""Real dlib engine on small fixtures: detection, landmarks, embeddings and a verification."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from biometrics import (
    DLIB_MODEL_NAME,
    Decision,
    DecodeLimits,
    DlibFaceEngine,
    FaceEmbedding,
    MatchPolicy,
    QualityPolicy,
    Thresholds,
    analyze_photo,
    build_template,
    threshold_for_fmr,
    verify,
)
from biometrics.bench import score_pairs
from biometrics.engine import _dlib_models
from tests.conftest import FIXTURES

Embed = Callable[[Path], FaceEmbedding]

COHORT_PEOPLE = [
    "dlibjohns_John_Salley",
    "dlibjohns_John_Savage",
    "dlibjohns_John_Schneider",
    "dlibjohns_John_Shimkus",
    "dlibjohns_John_Simm",
    "fr_alex_lacamoire",
    "fr_kit_harington",
    "fr_rose_leslie",
]


@pytest.fixture(scope="module")
def embed(engine: DlibFaceEngine, limits: DecodeLimits, selfie: QualityPolicy) -> Embed:
    def run(path: Path) -> FaceEmbedding:
        result = analyze_photo(path.read_bytes(), engine=engine, limits=limits, policy=selfie)
        assert result.embedding is not None, path
        return result.embedding

    return run


@pytest.fixture(scope="module")
def cohort(fixtures_dir: Path, embed: Embed) -> np.ndarray:
    faces = fixtures_dir / "faces"
    return np.stack(
        [
            embed(photo).vector
            for person in COHORT_PEOPLE
            for photo in sorted((faces / person).glob("*.jpg"))[:4]
        ]
    )


def test_importing_the_package_loads_no_model() -> None:
    code = "import sys, biometrics; print('dlib' in sys.modules, 'face_recognition' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_models_load_once_per_process(engine: DlibFaceEngine) -> None:
    engine.warm_up()
    DlibFaceEngine(num_jitters=2).warm_up()
    assert _dlib_models.cache_info().currsize == 1


def test_face_chip_is_found_by_upsampling(
    fixtures_dir: Path, engine: DlibFaceEngine, limits: DecodeLimits, selfie: QualityPolicy
) -> None:
    path = fixtures_dir / "faces" / "dlibjohns_John_Simm" / "1.jpg"
    result = analyze_photo(path.read_bytes(), engine=engine, limits=limits, policy=selfie)
    assert len(result.faces) == 1
    assert result.faces[0].landmarks.shape == (68, 2)
    assert result.embedding is not None
    assert result.embedding.vector.shape == (128,)
    assert result.embedding.model_name == DLIB_MODEL_NAME
    assert result.embedding.model_version


def test_big_phone_photo_box_maps_back_to_original(
    fixtures_dir: Path, engine: DlibFaceEngine, limits: DecodeLimits, selfie: QualityPolicy
) -> None:
    # labels.csv: compreface_A/2.jpg is 3880x5184 with a face about 1352 px wide.
    path = fixtures_dir / "faces" / "compreface_A" / "2.jpg"
    result = analyze_photo(path.read_bytes(), engine=engine, limits=limits, policy=selfie)
    box = result.main_box_in_original()
    assert box is not None
    assert (result.original_width, result.original_height) == (3880, 5184)
    assert 0 <= box.left < box.right <= 3880 and 0 <= box.top < box.bottom <= 5184
    assert 0.5 * 1352 < box.width < 1.5 * 1352
    assert result.quality.ok, result.quality.issues


def test_no_embedding_when_two_people(
    fixtures_dir: Path, engine: DlibFaceEngine, limits: DecodeLimits, selfie: QualityPolicy
) -> None:
    data = (fixtures_dir / "hard" / "multiple_faces_2.jpg").read_bytes()
    result = analyze_photo(data, engine=engine, limits=limits, policy=selfie)
    assert result.embedding is None and not result.ok


def test_embedding_skipped_for_a_photo_to_retake_when_asked(
    fixtures_dir: Path, engine: DlibFaceEngine, limits: DecodeLimits, selfie: QualityPolicy
) -> None:
    data = (fixtures_dir / "faces" / "fr_kit_harington" / "2.jpg").read_bytes()  # head turned
    kept = analyze_photo(data, engine=engine, limits=limits, policy=selfie)
    skipped = analyze_photo(
        data, engine=engine, limits=limits, policy=selfie, embed_despite_findings=False
    )
    assert kept.embedding is not None and skipped.embedding is None


@pytest.fixture(scope="module")
def bars(cohort: np.ndarray) -> Thresholds:
    """Bars calibrated on the cohort's own impostor pairs (at 1%: a few hundred pairs)."""
    faces = FIXTURES / "faces"
    people = np.array(
        [person for person in COHORT_PEOPLE for _ in sorted((faces / person).glob("*.jpg"))[:4]]
    )
    assert len(people) == len(cohort)
    pairs = score_pairs(cohort, identities=people, policy=MatchPolicy(min_cohort_size=10))
    impostor = pairs.score[~pairs.genuine]
    calibrated = threshold_for_fmr(impostor[np.isfinite(impostor)], target_fmr=0.01)
    assert calibrated.supported
    return Thresholds(match=calibrated.match, no_match=calibrated.no_match)


def test_genuine_pair_matches_and_impostor_does_not(
    fixtures_dir: Path, embed: Embed, cohort: np.ndarray, bars: Thresholds
) -> None:
    faces = fixtures_dir / "faces"
    policy = MatchPolicy()
    template = build_template([embed(faces / "fr_obama" / "1.jpg")], cohort=cohort, policy=policy)
    assert template.cohort is not None and template.cohort.cohort_size == len(cohort)

    genuine = verify(
        [embed(faces / "fr_obama" / "2.jpg")],
        template=template,
        policy=policy,
        thresholds=bars,
        cohort=cohort,
    )
    assert genuine.decision == Decision.MATCH
    assert genuine.probe_score is not None
    assert bars.match is not None and genuine.score >= bars.match

    impostor = verify(
        [embed(faces / "fr_biden" / "1.jpg")],
        template=template,
        policy=policy,
        thresholds=bars,
        cohort=cohort,
    )
    assert impostor.decision == Decision.NO_MATCH


def test_several_probe_frames_average_out(
    fixtures_dir: Path, embed: Embed, cohort: np.ndarray, bars: Thresholds
) -> None:
    faces = fixtures_dir / "faces"
    policy = MatchPolicy()
    template = build_template(
        [embed(faces / "fr_obama" / "1.jpg"), embed(faces / "fr_obama" / "3.jpg")],
        cohort=cohort,
        policy=policy,
    )
    probes = [embed(faces / "fr_obama" / "2.jpg"), embed(faces / "fr_obama" / "4.jpg")]
    # Z-norm only: no cohort at hand.
    both = verify(probes, template=template, policy=policy, thresholds=bars)
    assert both.decision == Decision.MATCH and both.probe_stats is None
    singles = [
        verify([p], template=template, policy=policy, thresholds=bars).distance for p in probes
    ]
    assert both.distance < max(singles)
