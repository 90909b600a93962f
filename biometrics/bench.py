"""Accuracy and speed benchmark of the face pipeline on any DIR/<identity>/<photos> folder.

It decides as production does, with thresholds calibrated from a target false-match rate,
but never with thresholds fitted on the pairs it scores: the identities are split in two
folds (by a hash of the folder name, knowing nothing of groups), each fold is decided with
the thresholds calibrated on the other fold's impostor pairs, and pairs across the folds are
left out. The cohort that normalises a pair stays every other person in DIR.
"""

from __future__ import annotations

import hashlib
import importlib.util
import resource
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from biometrics.calibration import SliceThreshold, decide_scores, threshold_for_fmr
from biometrics.decode import DecodeLimits
from biometrics.engine import FaceEngine, analyze_photo
from biometrics.errors import ImageError
from biometrics.face import FloatArray
from biometrics.matching import MatchPolicy, cohort_distances, fit_impostor_tail, snorm_scores
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


@dataclass(frozen=True)
class _Trials:
    """Attempts of K probe photos against a claimed identity's other photos."""

    probe_identity: NDArray[np.str_]
    claimed_identity: NDArray[np.str_]
    score: FloatArray  # fused: mean of the probes' normalised scores
    score_mean_embedding: FloatArray  # alternative fusion: the mean probe embedding's score
    genuine: NDArray[np.bool_]
    probe_rows: list[NDArray[np.intp]]
    gallery_rows: list[NDArray[np.intp]]
    cohort_rows: list[NDArray[np.intp]]
    vectors: FloatArray

    def rescore(self, t: int, probes: dict[int, FloatArray], *, policy: MatchPolicy) -> float:
        """Trial t's fused score with some probe photos embedded again."""
        vectors = np.array([probes.get(int(r), self.vectors[int(r)]) for r in self.probe_rows[t]])
        fused, _ = _attempt_score(
            vectors, self.vectors[self.gallery_rows[t]], self.vectors[self.cohort_rows[t]], policy
        )
        return fused


def fold_of(identity: str) -> int:
    """0 or 1, from the folder name alone, stable across runs and machines."""
    return hashlib.sha256(identity.encode("utf-8")).digest()[0] & 1


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
    target_fmr: float = 0.001,
    confidence: float = 0.95,
    no_match_quantile: float = 0.8,
    attempt: int = 1,
    second_pass_jitters: int = 0,
    second_pass_margin: float = 1.0,
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
    embedded: list[Path] = []
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
        embedded.append(path)
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    ident = np.array(identities)
    matrix = np.array(vectors).reshape(len(vectors), -1)
    groups = np.array([group_of(i) for i in identities])
    folds = np.array([fold_of(i) for i in identities], dtype=np.intp)
    result: dict[str, Any] = {
        "images": len(photos),
        "identities": len({identity for identity, _ in photos}),
        "failures_to_enrol": len(failures),
        "failed_photos": failures,
        "quality_findings": dict(sorted(findings.items())),
    }
    pairs = score_pairs(matrix, identities=ident, policy=match)
    pair_fold = np.where(folds[pairs.first] == folds[pairs.second], folds[pairs.first], -1).astype(
        np.intp
    )
    calibrations = [
        threshold_for_fmr(
            pairs.score[~pairs.genuine & (pair_fold == f)],
            target_fmr=target_fmr,
            confidence=confidence,
            no_match_quantile=no_match_quantile,
        )
        for f in (0, 1)
    ]
    if attempt <= 1:
        kept = pair_fold >= 0
        scores, genuine = pairs.score[kept], pairs.genuine[kept]
        # Fold f is decided with the bars calibrated on fold 1 - f.
        used = [calibrations[1 - int(f)] for f in pair_fold[kept]]
        trial_groups = [(groups[pairs.first[kept]], groups[pairs.second[kept]])]
        alt_scores = None
    else:
        trials = score_attempts(matrix, identities=ident, policy=match, k=attempt)
        trial_fold = np.array([fold_of(str(i)) for i in trials.probe_identity], dtype=np.intp)
        claimed_fold = np.array([fold_of(str(i)) for i in trials.claimed_identity], dtype=np.intp)
        kept = trial_fold == claimed_fold
        scores, genuine = trials.score[kept], trials.genuine[kept]
        used = [calibrations[1 - int(f)] for f in trial_fold[kept]]
        trial_groups = [
            (
                np.array([group_of(str(i)) for i in trials.probe_identity[kept]]),
                np.array([group_of(str(i)) for i in trials.claimed_identity[kept]]),
            )
        ]
        alt_scores = trials.score_mean_embedding[kept]
        result["attempt_photos"] = attempt
        bars = np.array([np.inf if b.match is None else b.match for b in used])
        band = (scores < bars) & (scores >= bars - second_pass_margin)
        result["second_pass"] = {
            "margin": second_pass_margin,
            "share_of_genuine_attempts": _share(band[genuine]),
            "share_of_impostor_attempts": _share(band[~genuine]),
        }
        if second_pass_jitters > 1 and band.any():
            # The costlier look production takes near the bar: the probes of those attempts
            # embedded again with jitters; galleries and cohorts stay as enrolled.
            started = time.perf_counter()
            costly = replace(engine, num_jitters=second_pass_jitters)  # type: ignore[type-var]
            redone: dict[int, FloatArray] = {}
            positions = np.flatnonzero(kept)[band]
            for t in positions:
                for row in trials.probe_rows[t]:
                    if int(row) not in redone:
                        again = analyze_photo(
                            embedded[int(row)].read_bytes(),
                            engine=costly,
                            limits=limits,
                            policy=quality,
                        )
                        assert again.embedding is not None
                        redone[int(row)] = again.embedding.vector
            rescored = scores.copy()
            for local, t in zip(np.flatnonzero(band), positions, strict=True):
                rescored[local] = trials.rescore(int(t), redone, policy=match)
            result["second_pass"].update(
                {
                    "jitters": second_pass_jitters,
                    "photos_embedded_again": len(redone),
                    "ms_per_photo": _round(
                        (time.perf_counter() - started) * 1000.0 / max(1, len(redone))
                    ),
                    "genuine_match_before": _share(_decide(scores, used)[genuine] == 2.0),
                    "impostor_match_before": _share(_decide(scores, used)[~genuine] == 2.0),
                }
            )
            scores = rescored
    decisions = _decide(scores, used)
    result["left_out_cross_fold"] = int(np.count_nonzero(~kept))
    result.update(_rates(decisions, scores, genuine))
    first_group, second_group = trial_groups[0]
    result["groups"] = {
        str(g): _rates(decisions[mask], scores[mask], genuine[mask])
        for g in sorted(set(groups))
        # A group's pairs: both sides from it (its own genuine and impostor pairs).
        for mask in [(first_group == g) & (second_group == g)]
    }
    result["calibration"] = {
        "target_fmr": target_fmr,
        "confidence": confidence,
        "evaluation": "two folds by identity; each decided with the other fold's thresholds",
        "folds": [_fold_summary(c) for c in calibrations],
    }
    if alt_scores is not None:
        # Which fusion separates better, at the same bars: the share of genuine attempts
        # each one accepts and the share of impostor attempts.
        alt = _decide(alt_scores, used)
        result["fusion"] = {
            "used": "mean of normalised probe scores",
            "mean_of_scores": {
                "genuine_match": _share(decisions[genuine] == 2.0),
                "impostor_match": _share(decisions[~genuine] == 2.0),
                "eer": _eer(scores[genuine], scores[~genuine]),
            },
            "score_of_mean_embedding": {
                "genuine_match": _share(alt[genuine] == 2.0),
                "impostor_match": _share(alt[~genuine] == 2.0),
                "eer": _eer(alt_scores[genuine], alt_scores[~genuine]),
            },
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
        "tail_fraction": match.tail_fraction,
        "min_cohort_size": match.min_cohort_size,
        "target_fmr": target_fmr,
    }
    result["det"] = _det(scores, genuine)
    return result


def _fold_summary(c: SliceThreshold) -> dict[str, Any]:
    return {
        "impostor_pairs": c.pairs,
        "match_threshold": None if c.match is None else round(c.match, 4),
        "no_match_threshold": None if c.no_match is None else round(c.no_match, 4),
        "fmr_upper": c.fmr_upper,
        "people_needed": c.people_needed,
    }


def _decide(scores: FloatArray, bars: list[SliceThreshold]) -> FloatArray:
    """2 match, 1 review, 0 no_match per score, each with its own fold's bars."""
    return decide_scores(
        scores,
        match=np.array([np.inf if b.match is None else b.match for b in bars]),
        no_match=np.array([-np.inf if b.no_match is None else b.no_match for b in bars]),
    )


def score_attempts(
    vectors: FloatArray, *, identities: NDArray[np.str_], policy: MatchPolicy, k: int
) -> _Trials:
    """Attempts of k photos of one identity against another identity's gallery.

    Genuine: for an identity with more than k photos, each rotation of k consecutive photos
    is an attempt against the rest (its gallery). Impostor: the first k photos of every
    identity with at least k against every other identity's photos but its first (so the
    gallery is as large as in a genuine attempt). Each probe and each gallery centroid is
    normalised against every photo of the other people, as in production.
    """
    names = sorted(set(identities.tolist()))
    members = {n: np.flatnonzero(identities == n) for n in names}
    rows: list[tuple[str, str, float, float, bool]] = []
    specs: list[tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]] = []

    def score(
        probe: NDArray[np.intp], gallery: NDArray[np.intp], cohort_mask: Any
    ) -> tuple[float, float]:
        cohort_rows = np.flatnonzero(cohort_mask)
        specs.append((probe, gallery, cohort_rows))
        return _attempt_score(vectors[probe], vectors[gallery], vectors[cohort_rows], policy)

    for name in names:
        own = members[name]
        if len(own) > k and (identities != name).sum() >= policy.min_cohort_size:
            for start in range(len(own)):
                take = np.array([own[(start + j) % len(own)] for j in range(k)])
                rest = np.setdiff1d(own, take)
                fused, alt = score(take, rest, identities != name)
                rows.append((name, name, fused, alt, True))
    for probe_name in names:
        probe_rows = members[probe_name]
        if len(probe_rows) < k:
            continue
        for claimed in names:
            gallery = members[claimed][1:]
            if claimed == probe_name or not len(gallery):
                continue
            cohort_mask = (identities != probe_name) & (identities != claimed)
            if cohort_mask.sum() < policy.min_cohort_size:
                continue
            fused, alt = score(probe_rows[:k], gallery, cohort_mask)
            rows.append((probe_name, claimed, fused, alt, False))
    return _Trials(
        probe_identity=np.array([r[0] for r in rows]),
        claimed_identity=np.array([r[1] for r in rows]),
        score=np.array([r[2] for r in rows], dtype=np.float64),
        score_mean_embedding=np.array([r[3] for r in rows], dtype=np.float64),
        genuine=np.array([r[4] for r in rows], dtype=bool),
        probe_rows=[x[0] for x in specs],
        gallery_rows=[x[1] for x in specs],
        cohort_rows=[x[2] for x in specs],
        vectors=vectors,
    )


def _attempt_score(
    probes: FloatArray, gallery: FloatArray, cohort: FloatArray, policy: MatchPolicy
) -> tuple[float, float]:
    """(mean of the probes' S-norm scores, S-norm score of the mean probe) against a gallery."""
    centroid = gallery.mean(axis=0)
    refs = np.vstack([centroid[None, :], probes, probes.mean(axis=0)[None, :]])
    mean, std = fit_impostor_tail(
        np.atleast_2d(cohort_distances(refs, cohort=cohort)),
        tail_fraction=policy.tail_fraction,
        min_std=policy.min_std,
    )
    d = np.linalg.norm(probes - centroid, axis=1)
    per_probe = snorm_scores(
        d, template_mean=mean[0], template_std=std[0], probe_mean=mean[1:-1], probe_std=std[1:-1]
    )
    d_mean = float(np.linalg.norm(probes.mean(axis=0) - centroid))
    of_mean = snorm_scores(
        d_mean, template_mean=mean[0], template_std=std[0], probe_mean=mean[-1], probe_std=std[-1]
    )
    return float(per_probe.mean()), float(of_mean)


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
                score = snorm_scores(
                    d,
                    template_mean=mean[pi],
                    template_std=std[pi],
                    probe_mean=mean[pj],
                    probe_std=std[pj],
                )
            else:
                # As in production before enough people are enrolled: no normalised score,
                # so the pair reaches review at best.
                score = np.full(len(d), np.nan)
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


def _rates(decisions: FloatArray, scores: FloatArray, genuine: NDArray[np.bool_]) -> dict[str, Any]:
    """decisions: 2 match, 1 review, 0 no_match."""
    gen, imp = decisions[genuine], decisions[~genuine]
    return {
        "genuine_pairs": int(gen.size),
        "impostor_pairs": int(imp.size),
        "fmr_accept": _share(imp == 2.0),
        "fmr_review": _share(imp != 0.0),
        "fnmr_accept": _share(gen != 2.0),
        "review_rate_genuine": _share(gen == 1.0),
        "reject_rate_genuine": _share(gen == 0.0),
        "eer": _eer(scores[genuine], scores[~genuine]),
    }


def _share(flags: NDArray[np.bool_]) -> float | None:
    return round(float(flags.mean()), 5) if flags.size else None


def _round(value: float) -> float:
    return round(float(value), 1)


def _eer(genuine: FloatArray, impostor: FloatArray) -> float | None:
    genuine, impostor = genuine[np.isfinite(genuine)], impostor[np.isfinite(impostor)]
    if not genuine.size or not impostor.size:
        return None
    thresholds = np.unique(np.concatenate([genuine, impostor]))
    g, i = np.sort(genuine), np.sort(impostor)
    fnmr = np.searchsorted(g, thresholds, side="left") / g.size
    fmr = 1.0 - np.searchsorted(i, thresholds, side="left") / i.size
    k = int(np.argmin(np.abs(fmr - fnmr)))
    return round(float((fmr[k] + fnmr[k]) / 2.0), 5)


def _det(scores: FloatArray, genuine: NDArray[np.bool_], points: int = 200) -> dict[str, Any]:
    finite = np.isfinite(scores)
    scores, genuine = scores[finite], genuine[finite]
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


class MissingBenchExtra(ModuleNotFoundError):
    """A benchmark-only library (the `bench` extra) is not installed."""


def require_plotting() -> None:
    """Raise MissingBenchExtra unless matplotlib can be imported; checked before a long run."""
    if importlib.util.find_spec("matplotlib") is None:
        raise MissingBenchExtra(
            "matplotlib draws the DET plot and is not installed: pip install -e '.[bench]'",
            name="matplotlib",
        )


def plot_det(result: dict[str, Any], path: Path) -> None:
    """Draw the DET curve of a run_face_bench result with its two operating points."""
    require_plotting()
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
