"""FakeFaceEngine behaves like an engine, deterministically; the benchmark runs on it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from biometrics import (
    Decision,
    DecodeLimits,
    FaceEmbedding,
    FaceEngine,
    FakeFaceEngine,
    MatchPolicy,
    QualityIssue,
    QualityPolicy,
    Thresholds,
    analyze_photo,
    build_template,
    verify,
)
from biometrics.bench import fold_of, group_of, run_face_bench

LIMITS = DecodeLimits()
POLICY = QualityPolicy.selfie()


def photo(colour: tuple[int, int, int], *, seed: int, size: tuple[int, int] = (480, 640)) -> bytes:
    """A flat colour with mild noise: a 'person' for the fake engine, sharp enough to pass."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 12.0, (size[1], size[0], 3))
    pixels = np.clip(np.array(colour, dtype=float) + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def colour_of(person: int) -> tuple[int, int, int]:
    # Centres of the fake engine's colour cells (step 48), one cell per person.
    r, g, b = person % 5, (person // 5) % 5, person // 25
    return (24 + 48 * r, 24 + 48 * g, 72 + 48 * b)


def test_fake_is_a_face_engine() -> None:
    engine: FaceEngine = FakeFaceEngine()
    assert engine.model_name == "fake_face_engine"


def test_fake_analysis_is_deterministic_and_passes_quality() -> None:
    data = photo((120, 140, 160), seed=1)
    first = analyze_photo(data, engine=FakeFaceEngine(), limits=LIMITS, policy=POLICY)
    second = analyze_photo(data, engine=FakeFaceEngine(), limits=LIMITS, policy=POLICY)
    assert first.ok, first.quality.issues
    assert first.embedding is not None and second.embedding is not None
    assert np.array_equal(first.embedding.vector, second.embedding.vector)
    assert first.faces[0].landmarks.shape == (68, 2)


def test_fake_black_photo_has_no_face() -> None:
    result = analyze_photo(
        photo((0, 0, 0), seed=2), engine=FakeFaceEngine(), limits=LIMITS, policy=POLICY
    )
    assert result.quality.issues == (QualityIssue.NO_FACE,)


def test_fake_can_show_two_people() -> None:
    result = analyze_photo(
        photo((120, 140, 160), seed=3),
        engine=FakeFaceEngine(faces_per_image=2),
        limits=LIMITS,
        policy=POLICY,
    )
    assert result.quality.issues == (QualityIssue.MULTIPLE_FACES,)


def test_fake_same_colour_matches_other_colour_does_not() -> None:
    engine = FakeFaceEngine()

    def embedding(person: int, seed: int) -> FaceEmbedding:
        result = analyze_photo(
            photo(colour_of(person), seed=seed), engine=engine, limits=LIMITS, policy=POLICY
        )
        assert result.embedding is not None
        return result.embedding

    cohort = np.stack([embedding(p, seed=100 + p).vector for p in range(2, 32)])
    policy = MatchPolicy()
    template = build_template([embedding(0, seed=1)], cohort=cohort, policy=policy)
    bars = Thresholds(match=3.5, no_match=0.0)
    same = verify(
        [embedding(0, seed=2)], template=template, policy=policy, thresholds=bars, cohort=cohort
    )
    other = verify(
        [embedding(1, seed=3)], template=template, policy=policy, thresholds=bars, cohort=cohort
    )
    assert same.decision == Decision.MATCH
    assert other.decision == Decision.NO_MATCH


def test_group_is_the_name_up_to_the_first_underscore() -> None:
    assert group_of("deepface_c01") == "deepface"
    assert group_of("dlibjohns_John_Simm") == "dlibjohns"
    assert group_of("solo") == "solo"


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench")
    for person in range(24):
        folder = root / f"{'warm' if person < 12 else 'cool'}_p{person:02d}"
        folder.mkdir()
        for shot in range(3):
            (folder / f"{shot}.png").write_bytes(photo(colour_of(person), seed=person * 10 + shot))
    (root / "cool_p23" / "3.png").write_bytes(b"not a photo")
    (root / "notes.txt").write_text("ignored: not a folder")
    return root


def _within_fold_impostor_pairs(photos_per_person: dict[str, int]) -> int:
    folds: dict[int, list[int]] = {0: [], 1: []}
    for name, count in photos_per_person.items():
        folds[fold_of(name)].append(count)
    total = 0
    for counts in folds.values():
        photos = sum(counts)
        total += photos * (photos - 1) // 2 - sum(c * (c - 1) // 2 for c in counts)
    return total


def test_bench_on_fake_engine(bench_dir: Path) -> None:
    result = run_face_bench(bench_dir, engine=FakeFaceEngine(), naive_sample=0, target_fmr=0.01)
    assert result["images"] == 73
    assert result["identities"] == 24
    assert result["failures_to_enrol"] == 1
    people = {p.name: 3 for p in bench_dir.iterdir() if p.is_dir()}
    # Genuine pairs never cross folds; impostor pairs across the folds are left out, since
    # each fold is decided with the bars calibrated on the other.
    assert result["genuine_pairs"] == 24 * 3
    assert result["impostor_pairs"] == _within_fold_impostor_pairs(people)
    assert result["left_out_cross_fold"] == (72 * 71) // 2 - 72 - result["impostor_pairs"]
    # The bar may let through the few impostors a 1% target allows on the other fold.
    assert result["fmr_accept"] <= 0.01
    assert result["fnmr_accept"] == 0.0
    assert result["reject_rate_genuine"] == 0.0
    assert result["eer"] == 0.0
    assert set(result["groups"]) == {"warm", "cool"}
    folds = result["calibration"]["folds"]
    assert [f["match_threshold"] is not None for f in folds] == [True, True]
    assert result["per_image_ms_p50"] > 0
    assert "speedup_vs_naive" not in result
    json.dumps(result)  # a plain, storable report


def test_bench_without_enough_pairs_for_the_target_accepts_nobody(bench_dir: Path) -> None:
    # About 600 impostor pairs per fold cannot support 0.1% (2995 are needed).
    result = run_face_bench(bench_dir, engine=FakeFaceEngine(), naive_sample=0)
    assert result["fmr_accept"] == 0.0 and result["fnmr_accept"] == 1.0
    assert [f["people_needed"] for f in result["calibration"]["folds"]] == [78, 78]
    assert all(f["match_threshold"] is None for f in result["calibration"]["folds"])


def test_bench_attempts_fuse_several_photos(bench_dir: Path) -> None:
    result = run_face_bench(
        bench_dir, engine=FakeFaceEngine(), naive_sample=0, target_fmr=0.01, attempt=2
    )
    assert result["attempt_photos"] == 2
    # Three photos each: three rotations of two photos against the third.
    assert result["genuine_pairs"] == 24 * 3
    assert result["fnmr_accept"] == 0.0 and result["fmr_accept"] <= 0.01
    assert set(result["fusion"]) == {"used", "mean_of_scores", "score_of_mean_embedding"}
    json.dumps(result)
