"""Face decision thresholds calibrated on the enrolled register, and their drift report.

`calibrate` scores impostor pairs among enrolled pensioners exactly as a verification would
score one of them claiming to be the other (the newest photo as the probe, the other's
gallery centroid with its stored cohort statistics), keeps the higher of the two directions
per pair, and asks biometrics.calibration for the bars that give the target false-match
rate with an upper confidence bound, overall and per slice of the register (province, age
band, sex). Pairs that may be relatives (same surname, and the same phone or district) are
counted apart: they are the expected impostor in a pension fraud, but not strangers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.service import Actor
from app.config import Settings
from app.faces.errors import CalibrationRefused
from app.faces.gallery import match_policy, refresh_gallery
from biometrics import (
    SliceThreshold,
    Thresholds,
    cohort_distances,
    combine,
    threshold_for_fmr,
)
from biometrics.calibration import fmr_lower_bound, fmr_upper_bound, rates_at
from biometrics.matching import MatchPolicy, fit_impostor_tail, snorm_scores
from models.face import EnrolledFace, FaceCalibration, FaceGallery, FaceLabel
from models.pensioner import Pensioner

SLICE_DIMENSIONS = ("region", "age_band", "sex")


def age_band(date_of_birth: date, *, today: date | None = None) -> str:
    today = today or date.today()
    age = (
        today.year
        - date_of_birth.year
        - ((today.month, today.day) < (date_of_birth.month, date_of_birth.day))
    )
    if age < 60:
        return "<60"
    if age >= 90:
        return "90+"
    decade = age // 10 * 10
    return f"{decade}-{decade + 9}"


def slices_of(
    *, region_code: str, date_of_birth: date, sex: str, dimensions: Iterable[str]
) -> dict[str, str]:
    """The slice names a person belongs to, e.g. {"region": "region:11", ...}."""
    values = {
        "region": region_code[:2],  # province: districts are too small to calibrate on
        "age_band": age_band(date_of_birth),
        "sex": sex,
    }
    return {d: f"{d}:{values[d]}" for d in dimensions}


@dataclass
class Population:
    """The enrolled people scored: one probe photo and one gallery each."""

    ids: list[uuid.UUID]
    probes: np.ndarray  # newest active face of each person
    centroids: np.ndarray  # gallery centroid
    template_mean: np.ndarray
    template_std: np.ndarray
    slices: list[dict[str, str]]
    surnames: list[str]
    phones: list[str]
    regions: list[str]


def load_population(
    *,
    session: Session,
    settings: Settings,
    model_name: str,
    model_version: str,
    limit: int,
) -> Population:
    """Up to `limit` enrolled people (a stable sample by id), galleries refreshed if stale."""
    policy = match_policy(settings)
    people = session.exec(
        select(Pensioner)
        .where(
            col(Pensioner.id).in_(
                select(EnrolledFace.pensioner_id).where(
                    col(EnrolledFace.active),
                    EnrolledFace.model_name == model_name,
                    EnrolledFace.model_version == model_version,
                )
            )
        )
        .order_by(col(Pensioner.id))
        .limit(limit)
    ).all()
    ids, probes, centroids, means, stds = [], [], [], [], []
    slices, surnames, phones, regions = [], [], [], []
    for person in people:
        faces = session.exec(
            select(EnrolledFace)
            .where(
                EnrolledFace.pensioner_id == person.id,
                col(EnrolledFace.active),
                EnrolledFace.model_version == model_version,
            )
            .order_by(col(EnrolledFace.created_at))
        ).all()
        gallery = session.get(FaceGallery, person.id)
        if (
            gallery is None
            or gallery.cohort_mean is None
            or gallery.tail_fraction != policy.tail_fraction
            or gallery.model_version != model_version
        ):
            gallery = refresh_gallery(session=session, settings=settings, pensioner_id=person.id)
        if gallery is None or gallery.cohort_mean is None or gallery.cohort_std is None:
            continue
        vectors = np.stack([np.frombuffer(f.embedding, dtype="<f8") for f in faces])
        ids.append(person.id)
        probes.append(vectors[-1])
        centroids.append(vectors.mean(axis=0))
        means.append(gallery.cohort_mean)
        stds.append(gallery.cohort_std)
        slices.append(
            slices_of(
                region_code=person.region_code,
                date_of_birth=person.date_of_birth,
                sex=person.sex.value,
                dimensions=settings.face_calibration_slices,
            )
        )
        surnames.append(person.name.strip()[:1])
        phones.append(person.phone)
        regions.append(person.region_code)
    width = 128 if not probes else len(probes[0])
    return Population(
        ids=ids,
        probes=np.array(probes).reshape(len(probes), width),
        centroids=np.array(centroids).reshape(len(centroids), width),
        template_mean=np.array(means, dtype=np.float64),
        template_std=np.array(stds, dtype=np.float64),
        slices=slices,
        surnames=surnames,
        phones=phones,
        regions=regions,
    )


def pair_scores(
    population: Population, *, cohort: np.ndarray, owners: np.ndarray, policy: MatchPolicy
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first, second, score) of every pair of different people, i < j.

    The score is what verify() gives person i's probe claiming person j's gallery (S-norm:
    j's stored statistics and i's probe against the cohort without i), the higher of the two
    directions.
    """
    n = len(population.ids)
    if n < 2:
        empty = np.array([], dtype=np.intp)
        return empty, empty, np.array([], dtype=np.float64)
    probe_mean = np.empty(n)
    probe_std = np.empty(n)
    to_cohort = cohort_distances(population.probes, cohort=cohort)
    for i, person in enumerate(population.ids):
        others = owners != str(person)
        mean, std = fit_impostor_tail(
            to_cohort[i, others][None, :],
            tail_fraction=policy.tail_fraction,
            min_std=policy.min_std,
        )
        probe_mean[i], probe_std[i] = float(mean[0]), float(std[0])
    d = cohort_distances(population.probes, cohort=population.centroids)  # probe i, gallery j
    score = snorm_scores(
        d,
        template_mean=population.template_mean[None, :],
        template_std=population.template_std[None, :],
        probe_mean=probe_mean[:, None],
        probe_std=probe_std[:, None],
    )
    both = np.maximum(score, score.T)
    first, second = np.triu_indices(n, 1)
    return first, second, both[first, second]


def _relatives(population: Population, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    surname = np.array(population.surnames)
    phone = np.array(population.phones)
    region = np.array(population.regions)
    same: np.ndarray = (surname[first] == surname[second]) & (
        (phone[first] == phone[second]) | (region[first] == region[second])
    )
    return same


def _quantiles(scores: np.ndarray) -> dict[str, float]:
    if not scores.size:
        return {}
    qs = (0.5, 0.9, 0.99, 0.999)
    return {str(q): round(float(np.quantile(scores, q)), 4) for q in qs}


# The impostor score distribution is kept as its percentiles, enough to compare a later
# population with it (a two-sample Kolmogorov-Smirnov distance).
_PERCENTILES = np.linspace(0.0, 1.0, 201)


def _distribution(scores: np.ndarray) -> list[float]:
    return [round(float(x), 5) for x in np.quantile(scores, _PERCENTILES)] if scores.size else []


def ks_distance(scores: np.ndarray, stored: list[float]) -> float:
    """Largest gap between the CDF of `scores` and the stored percentile curve."""
    if not scores.size or len(stored) < 2:
        return 0.0
    curve = np.asarray(stored, dtype=np.float64)
    grid = np.unique(np.concatenate([curve, np.quantile(scores, _PERCENTILES)]))
    live = np.searchsorted(np.sort(scores), grid, side="right") / scores.size
    calibrated = np.interp(grid, curve, _PERCENTILES, left=0.0, right=1.0)
    return float(np.max(np.abs(live - calibrated)))


def measure(
    *,
    session: Session,
    settings: Settings,
    model_name: str,
    model_version: str,
    target_fmr: float,
    cohort: np.ndarray,
    owners: np.ndarray,
) -> dict[str, Any]:
    """Calibrate on the register as it is now: the bars and the figures behind them."""
    policy = MatchPolicy(
        tail_fraction=settings.face_tail_fraction, min_cohort_size=settings.face_cohort_min
    )
    population = load_population(
        session=session,
        settings=settings,
        model_name=model_name,
        model_version=model_version,
        limit=settings.face_calibration_max_people,
    )
    first, second, scores = pair_scores(population, cohort=cohort, owners=owners, policy=policy)
    relatives = _relatives(population, first, second)
    strangers = ~relatives
    confidence = settings.face_calibration_confidence
    quantile = settings.face_no_match_quantile
    overall = threshold_for_fmr(
        scores[strangers],
        target_fmr=target_fmr,
        confidence=confidence,
        no_match_quantile=quantile,
    )
    slices: dict[str, SliceThreshold] = {}
    for dimension in settings.face_calibration_slices:
        names = np.array([s[dimension] for s in population.slices])
        for name in sorted(set(names.tolist())):
            inside = strangers & (names[first] == name) & (names[second] == name)
            slices[name] = threshold_for_fmr(
                scores[inside],
                target_fmr=target_fmr,
                confidence=confidence,
                no_match_quantile=quantile,
            )
    relative_above = (
        int(np.count_nonzero(scores[relatives] >= overall.match))
        if overall.match is not None
        else None
    )
    return {
        "population": len(population.ids),
        "impostor_pairs": int(np.count_nonzero(strangers)),
        "relative_pairs": int(np.count_nonzero(relatives)),
        "overall": overall,
        "slices": slices,
        "figures": {
            "impostor_quantiles": _quantiles(scores[strangers]),
            "impostor_distribution": _distribution(scores[strangers]),
            "relative_pairs_above_match": relative_above,
            "cohort_size": int(len(cohort)),
        },
        "scores": scores[strangers],
    }


def calibrate(
    *,
    session: Session,
    settings: Settings,
    actor: Actor,
    model_name: str,
    model_version: str,
    target_fmr: float,
    cohort: np.ndarray,
    owners: np.ndarray,
) -> FaceCalibration:
    """Measure, store and switch to a new calibration; audited with before and after.

    A population too small for the target is stored too, with auto-accept off and the
    number of enrolled people needed: verification then gives `review` at best.
    """
    if not 0.0 < target_fmr < 0.5:
        raise CalibrationRefused(f"target false-match rate must be in (0, 0.5), got {target_fmr}")
    result = measure(
        session=session,
        settings=settings,
        model_name=model_name,
        model_version=model_version,
        target_fmr=target_fmr,
        cohort=cohort,
        owners=owners,
    )
    overall: SliceThreshold = result["overall"]
    slices: dict[str, SliceThreshold] = result["slices"]
    reason = None
    if not overall.supported:
        reason = (
            f"{result['population']} enrolled people give {result['impostor_pairs']} impostor "
            f"pairs; a false-match rate of {target_fmr} needs at least {overall.pairs_needed} "
            f"pairs, about {overall.people_needed} enrolled people: auto-accept stays off"
        )
    thin = [name for name, s in slices.items() if not s.supported]
    previous = current_calibration(
        session=session,
        model_name=model_name,
        model_version=model_version,
        tail_fraction=settings.face_tail_fraction,
    )
    for old in session.exec(select(FaceCalibration).where(col(FaceCalibration.active))).all():
        old.active = False
        session.add(old)
    calibration = FaceCalibration(
        model_name=model_name,
        model_version=model_version,
        tail_fraction=settings.face_tail_fraction,
        target_fmr=target_fmr,
        confidence=settings.face_calibration_confidence,
        population=result["population"],
        impostor_pairs=result["impostor_pairs"],
        relative_pairs=result["relative_pairs"],
        auto_accept=overall.supported,
        reason=reason,
        thresholds={
            "overall": overall.as_dict(),
            "slices": {name: s.as_dict() for name, s in slices.items()},
            "dimensions": list(settings.face_calibration_slices),
            "slices_too_few_pairs": thin,
        },
        figures=result["figures"],
        active=True,
        created_by=f"{actor.type}:{actor.id}",
    )
    session.add(calibration)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="face.calibration",
        entity_type="face_calibration",
        entity_id=str(calibration.id),
        region_code=None,
        before=None if previous is None else summary(previous),
        after=summary(calibration),
    )
    return calibration


def summary(c: FaceCalibration) -> dict[str, Any]:
    overall = c.thresholds.get("overall", {})
    return {
        "calibration_id": c.id,
        "model": f"{c.model_name} {c.model_version}",
        "target_fmr": c.target_fmr,
        "population": c.population,
        "impostor_pairs": c.impostor_pairs,
        "auto_accept": c.auto_accept,
        "match": overall.get("match"),
        "no_match": overall.get("no_match"),
        "fmr_upper": overall.get("fmr_upper"),
        "slices_too_few_pairs": c.thresholds.get("slices_too_few_pairs", []),
        "reason": c.reason,
    }


def current_calibration(
    *, session: Session, model_name: str, model_version: str, tail_fraction: float
) -> FaceCalibration | None:
    """The active calibration if it was made for this model and score normalisation."""
    calibration = session.exec(
        select(FaceCalibration)
        .where(col(FaceCalibration.active))
        .order_by(col(FaceCalibration.id).desc())
        .limit(1)
    ).first()
    if calibration is None:
        return None
    if (calibration.model_name, calibration.model_version) != (model_name, model_version):
        return None
    if abs(calibration.tail_fraction - tail_fraction) > 1e-9:
        return None
    return calibration


def thresholds_for(
    *,
    session: Session,
    settings: Settings,
    pensioner: Pensioner,
    model_name: str,
    model_version: str,
) -> tuple[Thresholds, int | None]:
    """The bars for one pensioner's decision, and the calibration they come from."""
    calibration = current_calibration(
        session=session,
        model_name=model_name,
        model_version=model_version,
        tail_fraction=settings.face_tail_fraction,
    )
    if calibration is None:
        latest = session.exec(
            select(FaceCalibration).order_by(col(FaceCalibration.id).desc()).limit(1)
        ).first()
        reason = "no_calibration" if latest is None else "calibration_for_another_model"
        return Thresholds(match=None, no_match=None, reasons=(reason,)), None
    overall = SliceThreshold.from_dict(calibration.thresholds.get("overall", {}))
    stored = calibration.thresholds.get("slices", {})
    dimensions = calibration.thresholds.get("dimensions", [])
    mine = slices_of(
        region_code=pensioner.region_code,
        date_of_birth=pensioner.date_of_birth,
        sex=pensioner.sex.value,
        dimensions=dimensions,
    )
    parts = {
        name: (SliceThreshold.from_dict(stored[name]) if name in stored else None)
        for name in mine.values()
    }
    return combine(overall, parts), calibration.id


def record_label(
    *,
    session: Session,
    attempt_id: uuid.UUID,
    pensioner: Pensioner,
    genuine: bool,
    decision: dict[str, Any],
    decided_by: str,
) -> FaceLabel | None:
    """Keep a reviewer's verdict on who is in the attempt as a labelled comparison."""
    face = decision.get("face") or {}
    if not face:
        return None
    existing = session.exec(select(FaceLabel).where(FaceLabel.attempt_id == attempt_id)).first()
    if existing is not None:
        return existing
    label = FaceLabel(
        attempt_id=attempt_id,
        pensioner_id=pensioner.id,
        genuine=genuine,
        score=face.get("score"),
        components={k: face.get(k) for k in ("selfie", "video", "second_pass")},
        model_name=str(face.get("model_name", "")),
        model_version=str(face.get("model_version", "")),
        calibration_id=face.get("calibration_id"),
        region_code=pensioner.region_code,
        age_band=age_band(pensioner.date_of_birth),
        sex=pensioner.sex.value,
        decided_by=decided_by,
    )
    session.add(label)
    session.flush()
    return label


def report(
    *,
    session: Session,
    settings: Settings,
    model_name: str,
    model_version: str,
    cohort: np.ndarray,
    owners: np.ndarray,
) -> dict[str, Any]:
    """Live error rates against the calibrated ones, with drift warnings.

    Two sources: the register as it is now (impostor pairs scored afresh at the stored bar,
    which shows a population that changed since the calibration) and reviewers' verdicts
    (labelled genuine and impostor attempts, per slice).
    """
    calibration = current_calibration(
        session=session,
        model_name=model_name,
        model_version=model_version,
        tail_fraction=settings.face_tail_fraction,
    )
    warnings: list[str] = []
    out: dict[str, Any] = {"calibration": None if calibration is None else summary(calibration)}
    if calibration is None:
        warnings.append("no calibration for this model: auto-accept is off")
        out["warnings"] = warnings
        return out
    target = calibration.target_fmr
    bar = calibration.thresholds.get("overall", {}).get("match")
    now = measure(
        session=session,
        settings=settings,
        model_name=model_name,
        model_version=model_version,
        target_fmr=target,
        cohort=cohort,
        owners=owners,
    )
    scores: np.ndarray = now["scores"]
    live: dict[str, Any] = {"population": now["population"], "impostor_pairs": int(scores.size)}
    if bar is not None and scores.size:
        above = int(np.count_nonzero(scores >= bar))
        fmr = above / scores.size
        live.update(
            {
                "false_matches_at_bar": above,
                "fmr_at_bar": fmr,
                "fmr_upper": fmr_upper_bound(above, int(scores.size)),
            }
        )
        # Drift: the register's strangers now reach the bar clearly more often than the
        # target allows (the lower edge of the estimate above the target, i.e. not noise).
        lower = fmr_lower_bound(above, int(scores.size))
        if lower > target:
            warnings.append(
                f"register drift: {above} of {scores.size} impostor pairs reach the match bar "
                f"({fmr:.4%}, at least {lower:.4%}) against a target of {target:.4%}; "
                "recalibrate (`lifecert faces calibrate`)"
            )
    live["impostor_quantiles"] = now["figures"]["impostor_quantiles"]
    calibrated_q = calibration.figures.get("impostor_quantiles", {})
    if calibrated_q and live["impostor_quantiles"]:
        shift = live["impostor_quantiles"]["0.99"] - calibrated_q.get("0.99", 0.0)
        live["impostor_q99_shift"] = round(shift, 4)
    stored = calibration.figures.get("impostor_distribution", [])
    if stored and scores.size:
        # Population drift: the register's strangers no longer score as the calibrated ones
        # did (another population joined, or a region's enrolment changed), whether or not
        # the match bar is crossed yet. Two-sample KS at 0.1% with a floor on the effect.
        d = ks_distance(scores, stored)
        n, m = int(scores.size), int(calibration.impostor_pairs)
        critical = 1.95 * float(np.sqrt((n + m) / (n * m))) if n and m else 1.0
        live["ks_distance"] = round(d, 4)
        live["ks_critical"] = round(critical, 4)
        if d > max(critical, 0.1):
            warnings.append(
                f"population drift: the register's impostor scores differ from the "
                f"calibrated ones (Kolmogorov-Smirnov distance {d:.3f} > {max(critical, 0.1):.3f}"
                f"); recalibrate (`lifecert faces calibrate`)"
            )
    out["register"] = live
    labels = session.exec(
        select(FaceLabel).where(
            FaceLabel.model_name == model_name, FaceLabel.model_version == model_version
        )
    ).all()
    out["labels"] = _label_rates(labels, bar=bar, target=target, warnings=warnings)
    out["warnings"] = warnings
    return out


def _label_rates(
    labels: Iterable[FaceLabel], *, bar: float | None, target: float, warnings: list[str]
) -> dict[str, Any]:
    groups: dict[str, list[FaceLabel]] = {"overall": []}
    for label in labels:
        groups["overall"].append(label)
        for key in (
            f"region:{label.region_code[:2]}",
            f"age_band:{label.age_band}",
            f"sex:{label.sex}",
        ):
            groups.setdefault(key, []).append(label)
    out: dict[str, Any] = {}
    for key, items in sorted(groups.items()):
        scored = [x for x in items if x.score is not None]
        rates = rates_at(
            scores=np.array([x.score for x in scored], dtype=np.float64),
            genuine=np.array([x.genuine for x in scored], dtype=bool),
            threshold=bar,
        )
        impostors, accepted = int(rates["impostor_pairs"] or 0), int(rates["false_matches"] or 0)
        if impostors and fmr_lower_bound(accepted, impostors) > target:
            warnings.append(
                f"{key}: {accepted} of {impostors} impostors confirmed by reviewers scored at "
                "or above the match bar"
            )
        out[key] = {
            "impostor_labels": impostors,
            "genuine_labels": rates["genuine_pairs"],
            "fmr": rates["fmr"],
            "fnmr": rates["fnmr"],
        }
    return out
