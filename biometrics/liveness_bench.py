"""Liveness bench: APCER, BPCER and speed over a folder of labelled clips, and a naive baseline."""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biometrics.engine import FaceEngine, _dlib_models, _rectangle
from biometrics.errors import VideoError
from biometrics.face import FaceBox
from biometrics.liveness import LivenessPolicy, analyze_liveness
from biometrics.video import VideoLimits, open_video

# ISO/IEC 30107-3 reports APCER per presentation-attack instrument species; these are ours.
ATTACK_TYPES = ("print", "replay", "mask", "injection")


@dataclass(frozen=True)
class LabelledClip:
    path: Path
    label: str  # "live" or "attack"
    challenge: list[str]
    attack_type: str | None = None  # one of ATTACK_TYPES for an attack, when given

    def __iter__(self) -> Iterator[Any]:
        # (path, label, challenge), as rows were before attack types were added.
        return iter((self.path, self.label, self.challenge))


def read_labels(directory: Path) -> list[LabelledClip]:
    """Rows of DIR/labels.csv: file, label ("live" or "attack"), challenge actions, and an
    optional attack_type column (print, replay, mask, injection; empty for live clips)."""
    rows = []
    with (directory / "labels.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            label = row["label"].strip()
            if label not in ("live", "attack"):
                raise ValueError(f"label must be live or attack, not {label!r}")
            actions = [a.strip() for a in row["challenge"].split(",") if a.strip()]
            kind = (row.get("attack_type") or "").strip() or None
            if kind is not None and kind not in ATTACK_TYPES:
                raise ValueError(f"attack_type must be one of {ATTACK_TYPES}, not {kind!r}")
            if kind is not None and label == "live":
                raise ValueError(f"{row['file']}: a live clip has no attack_type")
            rows.append(LabelledClip(directory / row["file"].strip(), label, actions, kind))
    return rows


def run_liveness_bench(
    directory: Path | str,
    *,
    engine: FaceEngine,
    limits: VideoLimits | None = None,
    policy: LivenessPolicy | None = None,
    naive_clip: Path | str | None = None,
    naive_seconds: float = 2.0,
) -> dict[str, Any]:
    """Judge every clip in DIR/labels.csv and time it against naive per-frame dlib.

    Refused clips (a VideoError) count as judged not live. The naive baseline runs dlib's
    HOG detector and 68 landmarks on every decoded frame at full resolution, on the first
    `naive_seconds` of `naive_clip` (default: the live clip with the most pixels).
    """
    directory = Path(directory)
    limits = limits or VideoLimits()
    policy = policy or LivenessPolicy()
    rows = read_labels(directory)
    per_file: list[dict[str, Any]] = []
    video_seconds = cpu_seconds = 0.0
    seconds_per_clip: dict[Path, tuple[float, float]] = {}
    for row in rows:
        path, label, challenge = row.path, row.label, row.challenge
        cpu = time.process_time()
        entry: dict[str, Any] = {"file": _name(path, directory), "label": label}
        if row.attack_type is not None:
            entry["attack_type"] = row.attack_type
        try:
            result = analyze_liveness(
                path, challenge=challenge, engine=engine, limits=limits, policy=policy
            )
        except VideoError as exc:
            entry.update(
                decision="refused",
                live=False,
                reasons=[exc.code],
                detail=exc.message,
                passive_reasons=[],
                refusing_reasons=[],
                passive_flag=False,
            )
        else:
            used = time.process_time() - cpu
            duration = result.timeline.duration_s
            video_seconds += duration
            cpu_seconds += used
            seconds_per_clip[path] = (used, duration)
            entry.update(
                decision="live" if result.live else "not_live",
                live=result.live,
                reasons=[r.value for r in result.reasons],
                # Did the clip's own evidence (not a missing action) point at an attack?
                passive_reasons=[r.value for r in result.passive_reasons],
                # ... and was it strong enough to refuse on (not only a review)?
                refusing_reasons=[r.value for r in result.refusing_reasons],
                passive_flag=bool(result.passive_reasons),
                attack_score=result.attack_score,
                actions=result.actions_as_dicts(),
                score=result.score,
                checks={
                    name: {
                        "value": round(c.value, 4),
                        "threshold": c.threshold,
                        "passed": c.passed,
                    }
                    for name, c in result.checks.items()
                },
                seconds=round(duration, 2),
                cpu_s=round(used, 3),
            )
        per_file.append(entry)
    attacks = [e for e in per_file if e["label"] == "attack"]
    lives = [e for e in per_file if e["label"] == "live"]
    report: dict[str, Any] = {
        "files": len(per_file),
        "attacks": len(attacks),
        "lives": len(lives),
        "apcer": _share(sum(e["live"] for e in attacks), len(attacks)),
        "bpcer": _share(sum(not e["live"] for e in lives), len(lives)),
        **_per_type(attacks),
        # Live clips given an attack reason: refused outright, or sent to review for a weak
        # one (the look of the picture alone).
        "live_with_attack_reason": sum(bool(e["refusing_reasons"]) for e in lives),
        "live_with_weak_attack_reason": sum(
            bool(e["passive_reasons"]) and not e["refusing_reasons"] for e in lives
        ),
        "video_seconds_per_cpu_second": round(video_seconds / cpu_seconds, 3)
        if cpu_seconds
        else None,
        "per_file": per_file,
    }
    clip = Path(naive_clip) if naive_clip else _largest_live_clip(rows, limits)
    if clip is not None:
        naive = naive_seconds_per_video_second(clip, seconds=naive_seconds, limits=limits)
        report["naive_clip"] = _name(clip, directory)
        report["naive_seconds_per_video_second"] = round(naive, 3)
        if clip in seconds_per_clip:
            used, duration = seconds_per_clip[clip]
            ours = used / duration
            report["ours_seconds_per_video_second"] = round(ours, 3)
            report["speedup_vs_naive"] = round(naive / ours, 2)
    return report


def naive_seconds_per_video_second(path: Path, *, seconds: float, limits: VideoLimits) -> float:
    """CPU seconds per second of video for full-resolution HOG + landmarks on every frame."""
    models = _dlib_models()
    cpu = time.process_time()
    covered = 0.0
    with open_video(path, limits=limits) as reader:
        container = reader._container  # the bench reads every frame, not the sampled ones
        for frame in container.decode(container.streams.video[0]):
            pixels = frame.to_ndarray(format="rgb24")
            for rect in models.detector(pixels, 0):
                box = FaceBox(rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1)
                models.landmarks68(pixels, _rectangle(box))
            covered = float(frame.time or 0.0)
            if covered >= seconds:
                break
    used = time.process_time() - cpu
    return used / max(covered, 1e-3)


def _largest_live_clip(rows: Sequence[LabelledClip], limits: VideoLimits) -> Path | None:
    best: tuple[int, Path] | None = None
    for row in rows:
        if row.label != "live":
            continue
        try:
            with open_video(row.path, limits=limits) as reader:
                pixels = reader.metadata.coded_width * reader.metadata.coded_height
        except VideoError:
            continue
        if best is None or pixels > best[0]:
            best = (pixels, row.path)
    return None if best is None else best[1]


def _per_type(attacks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """APCER of each attack type present, the worst of them, and how many attacks of each
    type a passive reason caught (the clip's own evidence, not a missing action)."""
    per: dict[str, Any] = {}
    for kind in ATTACK_TYPES:
        chosen = [e for e in attacks if e.get("attack_type") == kind]
        if chosen:
            per[kind] = {
                "attacks": len(chosen),
                "judged_live": sum(e["live"] for e in chosen),
                "apcer": _share(sum(e["live"] for e in chosen), len(chosen)),
                "passive_flagged": sum(e["passive_flag"] for e in chosen),
            }
    untyped = [e for e in attacks if "attack_type" not in e]
    rates = [v["apcer"] for v in per.values()]
    return {
        "apcer_per_type": per,
        "apcer_worst_type": max(rates) if rates else None,
        "attacks_without_type": len(untyped),
        "passive_flagged": sum(e["passive_flag"] for e in attacks),
    }


def _share(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def _name(path: Path, directory: Path) -> str:
    try:
        return str(path.relative_to(directory))
    except ValueError:
        return str(path)


def json_default(value: object) -> object:
    """json.dumps default= for the NumPy scalars in a report."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")
