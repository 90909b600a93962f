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
    build_template,
    cohort_distances,
    compute_cohort_stats,
    decide,
    verify,
)
from biometrics.matching import decide_scores, fit_impostor_tail

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


def test_decision_rule_and_ceilings() -> None:
    policy = MatchPolicy()
    template = stats(0.9, 0.05)
    match = decide(distance=0.4, template_stats=template, probe_stats=None, policy=policy)
    assert match.decision == Decision.MATCH
    assert match.score == pytest.approx(10.0)
    assert match.policy is policy

    # Far from the impostors in score, but beyond the raw safety net: a person reviews it.
    loose = stats(1.2, 0.05)
    ceiling = decide(distance=0.6, template_stats=loose, probe_stats=None, policy=policy)
    assert ceiling.score > policy.match_score and ceiling.decision == Decision.REVIEW
    beyond = decide(distance=0.7, template_stats=loose, probe_stats=None, policy=policy)
    assert beyond.decision == Decision.NO_MATCH

    between = decide(
        distance=0.75,
        template_stats=template,
        probe_stats=None,
        policy=MatchPolicy(review_max_distance=0.8),
    )
    assert between.decision == Decision.REVIEW  # 3 impostor std closer: not enough to match
    near_impostor = decide(
        distance=0.85, template_stats=template, probe_stats=stats(0.9, 0.05), policy=policy
    )
    assert near_impostor.decision == Decision.NO_MATCH
    assert near_impostor.probe_score == pytest.approx(1.0)


def test_vectorised_rule_agrees_with_scalar_rule() -> None:
    policy = MatchPolicy()
    rng = np.random.default_rng(3)
    distances, scores = rng.uniform(0.2, 0.8, 200), rng.uniform(-1, 8, 200)
    codes = decide_scores(distances=distances, scores=scores, policy=policy)
    for d, s, code in zip(distances, scores, codes, strict=True):
        single = decide(
            distance=float(d),
            template_stats=stats(float(d) + s * 0.05, 0.05),
            probe_stats=None,
            policy=policy,
        )
        assert single.decision.value == code


@pytest.mark.parametrize(("spread", "photo_noise"), [(0.05, 0.02), (0.022, 0.012)])
def test_false_matches_stay_rare_in_sparse_and_dense_populations(
    spread: float, photo_noise: float
) -> None:
    rng = np.random.default_rng(4)
    people = population(rng, people=400, spread=spread, photo_noise=photo_noise)
    cohort = people[200:, 0]  # other enrolled people
    policy = MatchPolicy()
    templates = [build_template([emb(p[0])], cohort=cohort, policy=policy) for p in people[:200]]
    genuine = [
        verify([emb(people[i, 1])], template=t, policy=policy, cohort=cohort)
        for i, t in enumerate(templates)
    ]
    impostor = [
        verify([emb(people[(i + 1) % 200, 1])], template=t, policy=policy, cohort=cohort)
        for i, t in enumerate(templates)
    ]
    impostor += [
        verify([emb(people[(i + 7) % 200, 0])], template=t, policy=policy, cohort=cohort)
        for i, t in enumerate(templates)
    ]
    assert sum(r.decision == Decision.MATCH for r in impostor) == 0
    assert np.mean([r.decision == Decision.MATCH for r in genuine]) > 0.95
    # What a fixed threshold would do here: the usual 0.6 accepts every dense-population stranger.
    if spread < 0.03:
        assert np.mean([r.distance < 0.6 for r in impostor]) > 0.9


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
        verify([emb(np.zeros(DIM))], template=template, policy=MatchPolicy())


def test_embeddings_of_different_models_do_not_compare() -> None:
    rng = np.random.default_rng(6)
    cohort = rng.normal(size=(30, DIM))
    template = build_template([emb(rng.normal(size=DIM))], cohort=cohort, policy=MatchPolicy())
    with pytest.raises(IncompatibleEmbeddings):
        verify([emb(rng.normal(size=DIM), version="2")], template=template, policy=MatchPolicy())
    with pytest.raises(IncompatibleEmbeddings):
        build_template(
            [emb(np.zeros(DIM)), emb(np.zeros(DIM), model="other")],
            cohort=cohort,
            policy=MatchPolicy(),
        )


def test_policy_is_validated() -> None:
    with pytest.raises(ValueError):
        MatchPolicy(review_score=5.0, match_score=4.0)
    with pytest.raises(ValueError):
        MatchPolicy(tail_fraction=0.0)
    with pytest.raises(ValueError):
        MatchPolicy(match_max_distance=0.7, review_max_distance=0.6)
