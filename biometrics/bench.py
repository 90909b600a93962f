"""Accuracy and speed benchmark of the face pipeline on any DIR/<identity>/<photos> folder."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from biometrics.decode import DecodeLimits
from biometrics.engine import FaceEngine, analyze_photo
from biometrics.errors import ImageError
from biometrics.face import FloatArray
from biometrics.matching import (
    Decision,
    MatchPolicy,
    cohort_distances,
    decide_scores,
    fit_impostor_tail,
)
from biometrics.quality import QualityPolicy

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"})


@dataclass(frozen=True)
class _Pairs:
    """Every scored pair: indices into the enrolled photos, raw distance, S-norm score."""

    first: NDArray[np.intp]
    second: NDArray[np.intp]
    distance: FloatArray
    score: FloatArray
    genuine: NDArray[np.bool_]


def group_of(identity: str) -> str:
    """Population group of an identity folder: its name up to the first underscore."""
    return identity.split("_", 1)[0]


def list_photos(root: Path) -> list[tuple[str, Path]]:
    return [
        (identity.name, photo)
        for identity in sorted(p for p in root.iterdir() if p.is_dir())
        for photo in sorted(identity.iterdir())
        if photo.suffix.lower() in PHOTO_SUFFIXES
    ]


def run_face_bench(
    root: Path,
    *,
    engine: FaceEngine,
    limits: DecodeLimits | None = None,
    quality: QualityPolicy | None = None,
    match: MatchPolicy | None = None,
    naive_sample: int = 3,
) -> dict[str, Any]:
    """Enrol every photo, score every genuine and impostor pair, time it against naive use.

    The cohort of each pair is every photo of the other identities in root, never of the
    two people compared. A failure to enrol is a photo without exactly one usable face.
    naive_sample photos (the largest) are also run through plain face_recognition at full
    resolution; 0 skips that.
    """
    limits = limits or DecodeLimits()
    quality = quality or QualityPolicy.selfie()
    match = match or MatchPolicy()
    warm_up = getattr(engine, "warm_up", None)
    if callable(warm_up):
        warm_up()
    photos = list_photos(root)
    if photos:
        # The first inference sizes dlib's buffers; time a worker in its steady state.
        try:
            analyze_photo(photos[0][1].read_bytes(), engine=engine, limits=limits, policy=quality)
        except ImageError:
            pass
    vectors: list[FloatArray] = []
    identities: list[str] = []
    timings: dict[Path, float] = {}
    pixels: dict[Path, int] = {}
    failures: list[str] = []
    findings: dict[str, int] = {}
    for identity, path in photos:
        data = path.read_bytes()
        start = time.perf_counter()
        try:
            analysis = analyze_photo(data, engine=engine, limits=limits, policy=quality)
        except ImageError as exc:
            failures.append(f"{identity}/{path.name}: {exc.code}")
            continue
        finally:
            timings[path] = (time.perf_counter() - start) * 1000.0
        pixels[path] = analysis.original_width * analysis.original_height
        for issue in analysis.quality.issues:
            findings[issue.value] = findings.get(issue.value, 0) + 1
        if analysis.embedding is None:
            failures.append(f"{identity}/{path.name}: {analysis.quality.issues[0].value}")
            continue
        vectors.append(analysis.embedding.vector)
        identities.append(identity)
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    ident = np.array(identities)
    pairs = score_pairs(np.array(vectors), identities=ident, policy=match)
    groups = np.array([group_of(i) for i in identities])
    decisions = decide_scores(distances=pairs.distance, scores=pairs.score, policy=match)
    result: dict[str, Any] = {
        "images": len(photos),
        "identities": len({identity for identity, _ in photos}),
        "failures_to_enrol": len(failures),
        "failed_photos": failures,
        "quality_findings": dict(sorted(findings.items())),
    }
    result.update(_rates(decisions, pairs.score, pairs.genuine))
    result["groups"] = {
        str(g): _rates(decisions[mask], pairs.score[mask], pairs.genuine[mask])
        for g in sorted(set(groups))
        # A group's pairs: both photos from it (its own genuine and impostor pairs).
        for mask in [(groups[pairs.first] == g) & (groups[pairs.second] == g)]
    }
    times = np.array([timings[p] for _, p in photos])
    big = [p for _, p in photos if pixels.get(p, 0) >= 12_000_000]
    result["per_image_ms_p50"] = _round(np.percentile(times, 50))
    result["per_image_ms_p95"] = _round(np.percentile(times, 95))
    if big:
        big_times = [timings[p] for p in big]
        result["per_image_ms_p50_12mp_plus"] = _round(np.percentile(big_times, 50))
        result["per_image_ms_max_12mp_plus"] = _round(max(big_times))
    result["max_rss_mb"] = _round(max_rss_mb)
    if naive_sample > 0:
        sample = sorted(pixels, key=lambda p: pixels[p], reverse=True)[:naive_sample]
        naive_ms = [_naive_ms(p) for p in sample]
        ours = float(np.median([timings[p] for p in sample]))
        result["naive_photos"] = [str(p.relative_to(root)) for p in sample]
        result["naive_per_image_ms_p50"] = _round(np.median(naive_ms))
        result["ours_on_naive_photos_ms_p50"] = _round(ours)
        result["speedup_vs_naive"] = _round(float(np.median(naive_ms)) / ours)
        result["max_rss_mb_with_naive"] = _round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        )
    result["policy"] = {
        "match_score": match.match_score,
        "review_score": match.review_score,
        "match_max_distance": match.match_max_distance,
        "review_max_distance": match.review_max_distance,
        "tail_fraction": match.tail_fraction,
    }
    result["det"] = _det(pairs.score, pairs.genuine)
    return result


def score_pairs(
    vectors: FloatArray, *, identities: NDArray[np.str_], policy: MatchPolicy
) -> _Pairs:
    """S-norm score of every pair of photos, each against the cohort of the other people."""
    distances = cohort_distances(vectors, cohort=vectors)
    names = sorted(set(identities.tolist()))
    members = {name: np.flatnonzero(identities == name) for name in names}
    parts: list[tuple[NDArray[np.intp], NDArray[np.intp], FloatArray, FloatArray, bool]] = []
    for ai, a in enumerate(names):
        for b in names[ai:]:
            cohort = (identities != a) & (identities != b)
            rows = np.union1d(members[a], members[b])
            normalised = cohort.sum() >= policy.min_cohort_size
            if normalised:
                mean, std = fit_impostor_tail(
                    distances[np.ix_(rows, np.flatnonzero(cohort))],
                    tail_fraction=policy.tail_fraction,
                    min_std=policy.min_std,
                )
            position = {int(r): k for k, r in enumerate(rows)}
            if a == b:
                i, j = np.triu_indices(len(members[a]), 1)
                first, second = members[a][i], members[a][j]
            else:
                grid = np.meshgrid(members[a], members[b], indexing="ij")
                first, second = grid[0].ravel(), grid[1].ravel()
            pi = np.array([position[int(x)] for x in first], dtype=np.intp)
            pj = np.array([position[int(x)] for x in second], dtype=np.intp)
            d = distances[first, second]
            if normalised:
                score = ((mean[pi] - d) / std[pi] + (mean[pj] - d) / std[pj]) / 2.0
            else:
                # As in production before enough people are enrolled: no normalised score,
                # so the pair reaches review at best (scored exactly at the review threshold).
                score = np.full(len(d), policy.review_score)
            parts.append((first, second, d, score, a == b))
    if not parts:
        empty = np.array([], dtype=np.intp)
        none = np.array([], dtype=np.float64)
        return _Pairs(empty, empty, none, none, np.array([], dtype=bool))
    return _Pairs(
        first=np.concatenate([p[0] for p in parts]),
        second=np.concatenate([p[1] for p in parts]),
        distance=np.concatenate([p[2] for p in parts]),
        score=np.concatenate([p[3] for p in parts]),
        genuine=np.concatenate([np.full(len(p[2]), p[4]) for p in parts]),
    )


def _rates(
    decisions: NDArray[np.str_], scores: FloatArray, genuine: NDArray[np.bool_]
) -> dict[str, Any]:
    gen, imp = decisions[genuine], decisions[~genuine]
    return {
        "genuine_pairs": int(gen.size),
        "impostor_pairs": int(imp.size),
        "fmr_accept": _share(imp == Decision.MATCH.value),
        "fmr_review": _share(imp != Decision.NO_MATCH.value),
        "fnmr_accept": _share(gen != Decision.MATCH.value),
        "review_rate_genuine": _share(gen == Decision.REVIEW.value),
        "reject_rate_genuine": _share(gen == Decision.NO_MATCH.value),
        "eer": _eer(scores[genuine], scores[~genuine]),
    }


def _share(flags: NDArray[np.bool_]) -> float | None:
    return round(float(flags.mean()), 5) if flags.size else None


def _round(value: float) -> float:
    return round(float(value), 1)


def _eer(genuine: FloatArray, impostor: FloatArray) -> float | None:
    if not genuine.size or not impostor.size:
        return None
    thresholds = np.unique(np.concatenate([genuine, impostor]))
    g, i = np.sort(genuine), np.sort(impostor)
    fnmr = np.searchsorted(g, thresholds, side="left") / g.size
    fmr = 1.0 - np.searchsorted(i, thresholds, side="left") / i.size
    k = int(np.argmin(np.abs(fmr - fnmr)))
    return round(float((fmr[k] + fnmr[k]) / 2.0), 5)


def _det(scores: FloatArray, genuine: NDArray[np.bool_], points: int = 200) -> dict[str, Any]:
    g, i = np.sort(scores[genuine]), np.sort(scores[~genuine])
    if not g.size or not i.size:
        return {"threshold": [], "fmr": [], "fnmr": []}
    # Log-spaced in both error rates, so the low-FMR and low-FNMR ends are drawn in detail.
    rates = np.logspace(-4, 0, points // 2)
    thresholds = np.unique(np.concatenate([np.quantile(i, 1.0 - rates), np.quantile(g, rates)]))
    fnmr = np.searchsorted(g, thresholds, side="left") / g.size
    fmr = 1.0 - np.searchsorted(i, thresholds, side="left") / i.size
    return {
        "threshold": [round(float(t), 4) for t in thresholds],
        "fmr": [round(float(v), 6) for v in fmr],
        "fnmr": [round(float(v), 6) for v in fnmr],
    }


def _naive_ms(path: Path) -> float:
    """face_recognition used as its README shows: full-resolution load, HOG and encoding."""
    from PIL import ImageFile

    # Importing face_recognition sets Pillow's process-wide LOAD_TRUNCATED_IMAGES, which
    # would make our decoder accept truncated uploads afterwards: put it back.
    strict = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        import face_recognition

        start = time.perf_counter()
        image = face_recognition.load_image_file(str(path))
        boxes = face_recognition.face_locations(image)
        face_recognition.face_encodings(image, known_face_locations=boxes)
        return (time.perf_counter() - start) * 1000.0
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = strict


def plot_det(result: dict[str, Any], path: Path) -> None:
    """Draw the DET curve of a run_face_bench result with its two operating points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    det = result["det"]
    floor = 1e-4  # log axes cannot show zero rates
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.plot(np.maximum(det["fmr"], floor), np.maximum(det["fnmr"], floor), label="S-norm score")
    ax.scatter(
        [max(result["fmr_accept"], floor)],
        [max(result["fnmr_accept"], floor)],
        marker="o",
        color="green",
        label="match (FMR, not matched)",
        zorder=3,
    )
    ax.scatter(
        [max(result["fmr_review"], floor)],
        [max(result["reject_rate_genuine"], floor)],
        marker="s",
        color="orange",
        label="review (FMR, rejected)",
        zorder=3,
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("false match rate")
    ax.set_ylabel("false non-match rate")
    ax.set_title(
        f"DET: {result['genuine_pairs']} genuine, {result['impostor_pairs']} impostor pairs"
        " (zero drawn at 1e-4)"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
