"""Cohort normalisation on synthetic embeddings: statistics, decisions and population shifts."""

from __future__ import annotations

import numpy as np
import pytest

from biometrics import (
    CohortStats,
    CohortTooSmall,
    Decision,
    FaceEmbedding,
    IncompatibleEmbeddings,
    MatchPolicy,
    Thresholds,
    build_template,
    cohort_distances,
    compute_cohort_stats,
    decide,
    threshold_for_fmr,
    verify,
)
from biometrics.calibration import combine
from biometrics.matching import fit_impostor_tail

DIM = 128


def emb(vector: np.ndarray, model: str = "m", version: str = "1") -> FaceEmbedding:
    return FaceEmbedding(vector=vector, model_name=model, model_version=version)


def population(
    rng: np.random.Generator, *, people: int, spread: float, photo_noise: float, photos: int = 2
) -> np.ndarray:
    """(people, photos, DIM) embeddings: people spread around one centre, photos around them."""
    centre = rng.normal(0.0, 0.1, DIM)
    identities = centre + rng.normal(0.0, spread, (people, DIM))
    return identities[:, None, :] + rng.normal(0.0, photo_noise, (people, photos, DIM))


def stats(mean: float, std: float) -> CohortStats:
    return CohortStats(
        mean=mean, std=std, cohort_size=100, tail_fraction=0.5, model_name="m", model_version="1"
    )


def test_cohort_distances_equal_brute_force() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, DIM)), rng.normal(size=(7, DIM))
    expected = np.linalg.norm(a[:, None] - b[None], axis=2)
    assert np.allclose(cohort_distances(a, cohort=b), expected)
    assert np.allclose(cohort_distances(a[0], cohort=b), expected[0])


@pytest.mark.parametrize("fraction", [1.0, 0.5, 0.25])
def test_tail_fit_recovers_a_normal_distribution(fraction: float) -> None:
    rng = np.random.default_rng(1)
    samples = rng.normal(0.8, 0.06, (4, 20_000))
    mean, std = fit_impostor_tail(samples, tail_fraction=fraction, min_std=0.0)
    assert np.allclose(mean, 0.8, atol=0.005)
    assert np.allclose(std, 0.06, rtol=0.05)


def test_tail_fit_follows_the_nearer_group_of_a_mixed_cohort() -> None:
    # 60% of the cohort look like the person's own population, 40% are far away.
    rng = np.random.default_rng(2)
    near, far = rng.normal(0.50, 0.05, 6000), rng.normal(0.95, 0.05, 4000)
    mixed = np.concatenate([near, far])[None, :]
    tail_mean, tail_std = fit_impostor_tail(mixed, tail_fraction=0.5, min_std=0.0)
    full_mean, full_std = fit_impostor_tail(mixed, tail_fraction=1.0, min_std=0.0)
    accept_tail = tail_mean[0] - 4.0 * tail_std[0]
    accept_full = full_mean[0] - 4.0 * full_std[0]
    # The near group alone would put the limit at 0.50 - 4 * 0.05 = 0.30; the far group
    # inflates a full-cohort fit until it would refuse everyone.
    assert accept_tail == pytest.approx(0.30, abs=0.04)
    assert accept_full < 0.0
    assert (near < accept_tail).mean() < 0.001


def test_min_std_floor() -> None:
    mean, std = fit_impostor_tail(np.full((1, 50), 0.7), tail_fraction=0.5, min_std=0.02)
    assert std[0] == pytest.approx(0.02)
    assert mean[0] == pytest.approx(0.7, abs=0.02)


BARS = Thresholds(match=3.5, no_match=0.0)


def test_decision_uses_the_calibrated_bars() -> None:
    template = stats(0.9, 0.05)
    match = decide(distance=0.7, template_stats=template, probe_stats=None, thresholds=BARS)
    assert match.decision == Decision.MATCH
    assert match.score == pytest.approx(4.0)
    assert match.thresholds is BARS
    between = decide(distance=0.78, template_stats=template, probe_stats=None, thresholds=BARS)
    assert between.score == pytest.approx(2.4) and between.decision == Decision.REVIEW
    # No closer than a typical stranger (the impostor median): no_match.
    stranger = decide(
        distance=0.93, template_stats=template, probe_stats=stats(0.9, 0.05), thresholds=BARS
    )
    assert stranger.decision == Decision.NO_MATCH
    assert stranger.probe_score == pytest.approx(-0.6)
    # Without a calibrated bar nothing is accepted, however close.
    off = Thresholds(match=None, no_match=0.0, reasons=("no_calibration",))
    close = decide(distance=0.2, template_stats=template, probe_stats=None, thresholds=off)
    assert close.score > 10 and close.decision == Decision.REVIEW


@pytest.mark.parametrize(("spread", "photo_noise"), [(0.05, 0.02), (0.022, 0.012)])
def test_calibrated_bars_hold_the_target_in_sparse_and_dense_populations(
    spread: float, photo_noise: float
) -> None:
    """The same target false-match rate gives each population its own bar, and holds there.

    Calibrated on the impostor pairs of 150 enrolled people, judged on 150 others.
    """
    rng = np.random.default_rng(4)
    people = population(rng, people=500, spread=spread, photo_noise=photo_noise)
    cohort = people[300:, 0]  # other enrolled people
    policy = MatchPolicy()

    def scores(group: np.ndarray, shift: int) -> tuple[list[float], list[float]]:
        templates = [build_template([emb(p[0])], cohort=cohort, policy=policy) for p in group]
        genuine = [
            verify([emb(group[i, 1])], template=t, policy=policy, thresholds=BARS, cohort=cohort)
            for i, t in enumerate(templates)
        ]
        impostor = [
            verify(
                [emb(group[(i + k) % len(group), 1])],
                template=t,
                policy=policy,
                thresholds=BARS,
                cohort=cohort,
            )
            for i, t in enumerate(templates)
            for k in range(1, shift)
        ]
        return [r.score for r in genuine], [r.score for r in impostor]

    _, calibration_impostors = scores(people[:150], shift=40)
    bar = threshold_for_fmr(np.array(calibration_impostors), target_fmr=0.001)
    assert bar.supported and bar.fmr_upper is not None and bar.fmr_upper <= 0.001
    genuine, impostor = scores(people[150:300], shift=40)
    assert bar.match is not None
    accepted = np.mean(np.array(impostor) >= bar.match)
    # 5850 held-out impostor pairs: at a true 0.1% about 6 would pass; 20 would be a failure.
    assert accepted <= 0.0035
    assert np.mean(np.array(genuine) >= bar.match) > 0.95
    # What a fixed threshold would do here: the usual 0.6 accepts every dense-population stranger.
    if spread < 0.03:
        impostor_distances = [
            float(np.linalg.norm(people[150 + i, 0] - people[150 + (i + 1) % 150, 1]))
            for i in range(150)
        ]
        assert np.mean(np.array(impostor_distances) < 0.6) > 0.9


def test_cohort_too_small() -> None:
    rng = np.random.default_rng(5)
    with pytest.raises(CohortTooSmall) as caught:
        compute_cohort_stats(
            rng.normal(size=DIM),
            cohort=rng.normal(size=(5, DIM)),
            policy=MatchPolicy(),
            model_name="m",
            model_version="1",
        )
    assert caught.value.code == "cohort_too_small"


def test_template_without_statistics_cannot_verify() -> None:
    from biometrics import FaceTemplate

    template = FaceTemplate(vectors=np.zeros((1, DIM)), model_name="m", model_version="1")
    with pytest.raises(CohortTooSmall):
        verify([emb(np.zeros(DIM))], template=template, policy=MatchPolicy(), thresholds=BARS)


def test_embeddings_of_different_models_do_not_compare() -> None:
    rng = np.random.default_rng(6)
    cohort = rng.normal(size=(30, DIM))
    template = build_template([emb(rng.normal(size=DIM))], cohort=cohort, policy=MatchPolicy())
    with pytest.raises(IncompatibleEmbeddings):
        verify(
            [emb(rng.normal(size=DIM), version="2")],
            template=template,
            policy=MatchPolicy(),
            thresholds=BARS,
        )
    with pytest.raises(IncompatibleEmbeddings):
        build_template(
            [emb(np.zeros(DIM)), emb(np.zeros(DIM), model="other")],
            cohort=cohort,
            policy=MatchPolicy(),
        )


def test_policy_is_validated() -> None:
    with pytest.raises(ValueError):
        MatchPolicy(tail_fraction=0.0)
    with pytest.raises(ValueError):
        MatchPolicy(min_cohort_size=1)


def test_a_slice_without_enough_pairs_switches_auto_accept_off() -> None:
    rng = np.random.default_rng(7)
    overall = threshold_for_fmr(rng.normal(size=5000), target_fmr=0.001)
    thin = threshold_for_fmr(rng.normal(size=100), target_fmr=0.001)
    bars = combine(overall, {"region:44": thin})
    assert bars.match is None and bars.reasons == ("calibration_slice_too_few_pairs:region:44",)
