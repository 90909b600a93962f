"""Cohort-normalised face verification scores, decided against calibrated thresholds.

Why not one distance threshold: how close two different people's embeddings lie depends on
the population. Among East-Asian faces dlib puts strangers far closer together than
among the press photos it was tuned on, so a threshold strict enough for them rejects most
genuine users elsewhere, and a usual one (0.6) accepts most strangers there.

What instead: every distance is measured against the people it could be confused with.
For the claimed template we keep the distribution of its distances to a cohort of other
enrolled people (Z-norm, stored as CohortStats so verification stays one subtraction); for
the probe we do the same at verification time when the cohort is at hand (T-norm). The
score is the mean of both (S-norm): how many impostor standard deviations closer than
impostors the probe is. Only the nearest part of the cohort (tail_fraction, 10%) is used,
fitted as the lower tail of a normal distribution: the people a face could be mistaken for
are its near neighbours, and far-away groups in a mixed cohort must not inflate the spread.

Which score is high enough is not decided here: biometrics.calibration turns a target
false-match rate on the enrolled population into the bars (no hand-set score constant).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from biometrics.calibration import Decision, Thresholds, decide_score
from biometrics.errors import CohortTooSmall, IncompatibleEmbeddings
from biometrics.face import FaceEmbedding, FloatArray, stack_vectors


@dataclass(frozen=True)
class MatchPolicy:
    """How scores are normalised; the decision bars come from a calibration."""

    # Nearest share of the cohort used to estimate the impostor distribution.
    tail_fraction: float = 0.1
    min_cohort_size: int = 20
    # Floor on the fitted spread: a tight or tiny cohort must not blow scores up.
    min_std: float = 0.02

    def __post_init__(self) -> None:
        if not 0.0 < self.tail_fraction <= 1.0:
            raise ValueError("tail_fraction must be in (0, 1]")
        if self.min_cohort_size < 2:
            raise ValueError("min_cohort_size must be at least 2")


@dataclass(frozen=True)
class CohortStats:
    """Fitted impostor-distance distribution of one template; store it beside the template."""

    mean: float
    std: float
    cohort_size: int
    tail_fraction: float
    model_name: str
    model_version: str

    def z(self, distance: float) -> float:
        return (self.mean - distance) / self.std


@dataclass(frozen=True)
class FaceTemplate:
    """A person's enrolled embeddings, with their cohort statistics once computed."""

    vectors: FloatArray
    model_name: str
    model_version: str
    cohort: CohortStats | None = None

    @property
    def centroid(self) -> FloatArray:
        # Averaging several enrolment photos cancels pose and lighting noise.
        return np.asarray(self.vectors.mean(axis=0), dtype=np.float64)


@dataclass(frozen=True)
class MatchResult:
    decision: Decision
    distance: float
    score: float
    template_score: float
    probe_score: float | None
    template_stats: CohortStats
    probe_stats: CohortStats | None
    thresholds: Thresholds


def cohort_distances(reference: FloatArray, *, cohort: FloatArray) -> FloatArray:
    """Euclidean distances from one vector, or each row of a matrix, to every cohort row."""
    ref = np.atleast_2d(np.asarray(reference, dtype=np.float64))
    cohort = np.asarray(cohort, dtype=np.float64)
    # |a-b|^2 = |a|^2 + |b|^2 - 2ab keeps it one matrix product for any cohort size.
    sq = (
        np.einsum("ij,ij->i", ref, ref)[:, None]
        + np.einsum("ij,ij->i", cohort, cohort)[None, :]
        - 2.0 * ref @ cohort.T
    )
    out = np.asarray(np.sqrt(np.maximum(sq, 0.0)), dtype=np.float64)
    return out[0] if np.ndim(reference) == 1 else out


def fit_impostor_tail(
    distances: FloatArray, *, tail_fraction: float, min_std: float
) -> tuple[FloatArray, FloatArray]:
    """Fit a normal distribution to the nearest tail_fraction of each row of distances.

    Returns (mean, std) per row. The kept values are the lower tail of the fitted normal
    truncated at its tail_fraction quantile, so their sample moments are corrected back.
    """
    rows = np.atleast_2d(np.asarray(distances, dtype=np.float64))
    n = rows.shape[1]
    k = max(2, min(n, math.ceil(tail_fraction * n)))
    tail = np.sort(rows, axis=1)[:, :k] if k < n else rows
    tail_mean = tail.mean(axis=1)
    tail_std = tail.std(axis=1, ddof=1)
    q = k / n
    if q < 1.0:
        beta = NormalDist().inv_cdf(q)
        lam = NormalDist().pdf(beta) / q
        shrink = math.sqrt(max(1.0 - beta * lam - lam * lam, 1e-6))
        std = tail_std / shrink
        mean = tail_mean + std * lam
    else:
        std, mean = tail_std, tail_mean
    return mean, np.maximum(std, min_std)


def compute_cohort_stats(
    reference: FloatArray,
    *,
    cohort: FloatArray,
    policy: MatchPolicy,
    model_name: str,
    model_version: str,
) -> CohortStats:
    """Impostor statistics of a template centroid against other people's embeddings.

    The cohort must not contain the person themself: one row per other enrolled person
    (or several photos per person) of the same model.
    """
    cohort = np.asarray(cohort, dtype=np.float64)
    if cohort.ndim != 2 or cohort.shape[0] < policy.min_cohort_size:
        raise CohortTooSmall(
            f"need at least {policy.min_cohort_size} cohort embeddings, got {len(cohort)}"
        )
    mean, std = fit_impostor_tail(
        cohort_distances(np.asarray(reference, dtype=np.float64), cohort=cohort)[None, :],
        tail_fraction=policy.tail_fraction,
        min_std=policy.min_std,
    )
    return CohortStats(
        mean=float(mean[0]),
        std=float(std[0]),
        cohort_size=int(cohort.shape[0]),
        tail_fraction=policy.tail_fraction,
        model_name=model_name,
        model_version=model_version,
    )


def build_template(
    embeddings: Sequence[FaceEmbedding], *, cohort: FloatArray, policy: MatchPolicy
) -> FaceTemplate:
    """Enrol a person from one or more embeddings and compute their cohort statistics."""
    vectors = stack_vectors(list(embeddings))
    first = embeddings[0]
    template = FaceTemplate(
        vectors=vectors, model_name=first.model_name, model_version=first.model_version
    )
    stats = compute_cohort_stats(
        template.centroid,
        cohort=cohort,
        policy=policy,
        model_name=first.model_name,
        model_version=first.model_version,
    )
    return FaceTemplate(
        vectors=vectors,
        model_name=template.model_name,
        model_version=template.model_version,
        cohort=stats,
    )


def snorm(
    distance: float, *, template_stats: CohortStats, probe_stats: CohortStats | None
) -> tuple[float, float, float | None]:
    """(score, template score, probe score): S-norm, or Z-norm without probe statistics."""
    template_score = template_stats.z(distance)
    probe_score = None if probe_stats is None else probe_stats.z(distance)
    score = template_score if probe_score is None else (template_score + probe_score) / 2.0
    return score, template_score, probe_score


def snorm_scores(
    distances: FloatArray | float,
    *,
    template_mean: FloatArray | float,
    template_std: FloatArray | float,
    probe_mean: FloatArray | float,
    probe_std: FloatArray | float,
) -> FloatArray:
    """snorm over arrays (broadcasting): the mean of both sides' impostor z-scores."""
    d = np.asarray(distances, dtype=np.float64)
    template = (np.asarray(template_mean) - d) / np.asarray(template_std)
    probe = (np.asarray(probe_mean) - d) / np.asarray(probe_std)
    return np.asarray((template + probe) / 2.0, dtype=np.float64)


def decide(
    *,
    distance: float,
    template_stats: CohortStats,
    probe_stats: CohortStats | None,
    thresholds: Thresholds,
) -> MatchResult:
    """Score one distance and decide it against calibrated thresholds."""
    score, template_score, probe_score = snorm(
        distance, template_stats=template_stats, probe_stats=probe_stats
    )
    return MatchResult(
        decision=decide_score(score, thresholds=thresholds),
        distance=distance,
        score=score,
        template_score=template_score,
        probe_score=probe_score,
        template_stats=template_stats,
        probe_stats=probe_stats,
        thresholds=thresholds,
    )


def verify(
    probe: Sequence[FaceEmbedding],
    *,
    template: FaceTemplate,
    policy: MatchPolicy,
    thresholds: Thresholds,
    cohort: FloatArray | None = None,
) -> MatchResult:
    """Compare one or more probe embeddings (photos or video frames) with a claimed template.

    With the cohort at hand the probe is normalised too (S-norm); without it only the
    template's stored statistics are used (Z-norm).
    """
    if template.cohort is None:
        raise CohortTooSmall("the template has no cohort statistics; call build_template")
    vectors = stack_vectors(list(probe))
    first = probe[0]
    if (first.model_name, first.model_version) != (template.model_name, template.model_version):
        raise IncompatibleEmbeddings(
            f"probe from {first.model_name} {first.model_version}, template from "
            f"{template.model_name} {template.model_version}"
        )
    centroid = np.asarray(vectors.mean(axis=0), dtype=np.float64)
    distance = float(np.linalg.norm(centroid - template.centroid))
    probe_stats = None
    if cohort is not None:
        probe_stats = compute_cohort_stats(
            centroid,
            cohort=cohort,
            policy=policy,
            model_name=first.model_name,
            model_version=first.model_version,
        )
    return decide(
        distance=distance,
        template_stats=template.cohort,
        probe_stats=probe_stats,
        thresholds=thresholds,
    )
