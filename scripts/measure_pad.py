"""Measure the selfie presentation-attack cues (biometrics/pad.py) on the fixture stills.

    .venv/bin/python scripts/measure_pad.py [--fixtures ../shared/fixtures] [--json]

Attack side: `attacks/` (MSU-MFSD first frames: live, printed photo, iPad and iPhone replays)
and `spoof/attack/`. Genuine side: `attacks/live_msu_*`, every photo in `faces/` (the
East-Asian `ea_*` folders reported apart, split by source: LFW press crops and web-crawled
celebrity photos), `faces/compreface_A/` (phone selfies) and `spoof/live/`. Counts carry 95 %
Clopper-Pearson intervals.

The shipped rule was never fitted to `attacks/` or to the East-Asian photos: its figures there
are held-out figures for every subject. Its look thresholds (glare, contrast) sit a margin above
the highest genuine non-East-Asian value; `cross_validated_rule` repeats that procedure by
subject (5 folds: each threshold set from the genuine pictures of the other folds' subjects,
with the shipped margin) and reports every fold's held-out subjects. For comparison the script
also reports what a learned rule could reach: a logistic regression on the same cue values,
cross-validated by subject. That model is a measurement only: `attacks/` is research data that
no shipped model may be trained on, so it is never saved.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from biometrics import DecodeLimits, DlibFaceEngine, decode_image  # noqa: E402
from biometrics.pad import PadCue, PadPolicy, PictureCues, picture_cues  # noqa: E402

# Look cues whose threshold is set above the genuine pictures (high value = attack).
LOOK_CUES = (PadCue.SCREEN_GLARE, PadCue.SCREEN_CONTRAST)


def _cues(path: Path, engine: DlibFaceEngine, policy: PadPolicy) -> PictureCues | None:
    image = decode_image(path.read_bytes(), limits=DecodeLimits())
    boxes = engine.detect(image.pixels)
    if not boxes:
        return None
    # As the service does (app/attempts/processing.py): the codec's blocks in working pixels.
    return picture_cues(
        image.pixels,
        max(boxes, key=lambda b: b.width),
        policy=policy,
        block_period=8.0 / max(image.scale, 1e-6),
    )


def clopper_pearson(k: int, n: int, *, level: float = 0.95) -> tuple[float, float] | None:
    """Exact binomial interval for k events in n trials (by bisection on the binomial tail)."""
    if n == 0:
        return None
    alpha = 1.0 - level

    def upper_tail(p: float) -> float:  # P(X >= k)
        return sum(_binom(n, i, p) for i in range(k, n + 1))

    def lower_tail(p: float) -> float:  # P(X <= k)
        return sum(_binom(n, i, p) for i in range(0, k + 1))

    low = 0.0 if k == 0 else _bisect(lambda p: upper_tail(p) - alpha / 2, increasing=True)
    high = 1.0 if k == n else _bisect(lambda p: lower_tail(p) - alpha / 2, increasing=False)
    return round(low, 4), round(high, 4)


def _binom(n: int, i: int, p: float) -> float:
    if p <= 0.0:
        return 1.0 if i == 0 else 0.0
    if p >= 1.0:
        return 1.0 if i == n else 0.0
    log = math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
    return math.exp(log + i * math.log(p) + (n - i) * math.log1p(-p))


def _bisect(f: Any, *, increasing: bool) -> float:
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if (f(mid) < 0) == increasing:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _ea_sources(fixtures: Path) -> dict[str, str]:
    """East-Asian identity folder -> "lfw" (2002-04 press crops) or "web" (crawled photos)."""
    out: dict[str, str] = {}
    with (fixtures / "faces" / "ea_identities.tsv").open(newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            out[row["identity_dir"]] = "lfw" if "lfw" in row["source_repo"] else "web"
    return out


def _samples(fixtures: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with (fixtures / "attacks" / "labels.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["file"].endswith(".jpg"):
                rows.append(
                    {
                        "path": fixtures / "attacks" / row["file"],
                        "kind": row["kind"],
                        "subject": row["subject"],
                        "group": "msu",
                    }
                )
    for path in sorted((fixtures / "spoof").glob("*/*.jpg")):
        kind = "live" if path.parent.name == "live" else path.stem.split("_")[0]
        kind = {"tablet": "replay"}.get(kind, kind)
        rows.append({"path": path, "kind": kind, "subject": "spoof", "group": "spoof"})
    sources = _ea_sources(fixtures)
    for path in sorted((fixtures / "faces").glob("*/*.jpg")):
        folder = path.parent.name
        if folder.startswith("ea_"):
            group = f"faces_ea_{sources.get(folder, 'web')}"
        else:
            group = "compreface_A" if folder == "compreface_A" else "faces"
        rows.append({"path": path, "kind": "live", "subject": folder, "group": group})
    return rows


def _rate(flags: list[bool]) -> dict[str, Any]:
    k, n = int(sum(flags)), len(flags)
    return {"flagged": k, "of": n, "rate": _share(k, n), "ci95": clopper_pearson(k, n)}


def _share(count: float, total: int) -> float | None:
    return round(count / total, 4) if total else None


def _features(cues: PictureCues) -> list[float]:
    c = cues.cues
    return [
        float(np.log(c[PadCue.FLAT_TONE].value + 1e-4)),
        c[PadCue.SCREEN_GLARE].value,
        c[PadCue.SCREEN_CONTRAST].value / 50.0,
        c[PadCue.MOIRE].value,
        c[PadCue.BEZEL].value,
    ]


def _logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1.0, steps: int = 3000) -> np.ndarray:
    """Plain L2 logistic regression by gradient descent on standardised features."""
    w = np.zeros(x.shape[1] + 1)
    xb = np.hstack([x, np.ones((len(x), 1))])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(xb @ w)))
        grad = xb.T @ (p - y) / len(y) + l2 * np.r_[w[:-1], 0.0] / len(y)
        w -= 0.5 * grad
    return w


def cross_validated(samples: list[dict[str, Any]], folds: int = 5) -> dict[str, Any]:
    """Measure-only: logistic regression on the cue values, folds split by subject."""
    msu = [s for s in samples if s["group"] == "msu" and s["cues"] is not None]
    subjects = sorted({s["subject"] for s in msu})
    rng = np.random.default_rng(0)
    order = rng.permutation(len(subjects))
    fold_of = {subjects[i]: k % folds for k, i in enumerate(order)}
    x = np.array([_features(s["cues"]) for s in msu])
    y = np.array([0.0 if s["kind"] == "live" else 1.0 for s in msu])
    scores = np.zeros(len(msu))
    for k in range(folds):
        test = np.array([fold_of[s["subject"]] == k for s in msu])
        mean, std = x[~test].mean(axis=0), x[~test].std(axis=0) + 1e-9
        w = _logistic((x[~test] - mean) / std, y[~test])
        xt = (x[test] - mean) / std
        scores[test] = 1.0 / (1.0 + np.exp(-(np.hstack([xt, np.ones((len(xt), 1))]) @ w)))
    out: dict[str, Any] = {"folds": folds, "subjects": len(subjects)}
    decided = scores >= 0.5
    for kind in ("print", "replay"):
        sel = [s["kind"] == kind for s in msu]
        out[f"apcer_{kind}"] = _share(
            sum(not d for d, m in zip(decided, sel, strict=True) if m), sum(sel)
        )
    lives = [s["kind"] == "live" for s in msu]
    out["bpcer"] = _share(sum(d for d, m in zip(decided, lives, strict=True) if m), sum(lives))
    return out


def _genuine_for_thresholds(s: dict[str, Any]) -> bool:
    """The pictures the look thresholds are set above: genuine, not East-Asian."""
    return s["kind"] == "live" and s["group"] in ("msu", "faces", "compreface_A", "spoof")


def cross_validated_rule(
    samples: list[dict[str, Any]], policy: PadPolicy, folds: int = 5
) -> dict[str, Any]:
    """The shipped rule's threshold procedure, cross-validated by subject.

    Each look cue's threshold is the highest value among the genuine non-East-Asian pictures of
    the training subjects times the shipped margin (shipped threshold over the highest genuine
    value of all of them); the other cues keep their physical thresholds. Every subject is
    judged once, by the thresholds of the folds it was not in. East-Asian photos never set a
    threshold, so their figure is held out in every fold."""
    usable = [s for s in samples if s["cues"] is not None]
    shipped = {
        PadCue.SCREEN_GLARE: policy.max_glare_share,
        PadCue.SCREEN_CONTRAST: policy.max_face_contrast,
    }
    genuine = [s for s in usable if _genuine_for_thresholds(s)]
    margin = {
        cue: shipped[cue] / max(max(s["cues"].cues[cue].value for s in genuine), 1e-9)
        for cue in LOOK_CUES
    }
    subjects = sorted({s["subject"] for s in usable})
    order = np.random.default_rng(0).permutation(len(subjects))
    fold_of = {subjects[i]: k % folds for k, i in enumerate(order)}
    flagged: dict[int, bool] = {}
    for k in range(folds):
        train = [s for s in genuine if fold_of[s["subject"]] != k]
        limits = {
            cue: margin[cue] * max(s["cues"].cues[cue].value for s in train) for cue in LOOK_CUES
        }
        for i, s in enumerate(usable):
            if fold_of[s["subject"]] != k:
                continue
            cues = s["cues"].cues
            other = any(r.fired for c, r in cues.items() if c not in LOOK_CUES)
            look = any(cues[c].value > limits[c] for c in LOOK_CUES)
            flagged[i] = other or look
    out: dict[str, Any] = {"folds": folds, "subjects": len(subjects)}
    out["margin"] = {c.value: round(m, 3) for c, m in margin.items()}
    for group, kind in (
        ("msu", "print"),
        ("msu", "replay"),
        ("msu", "live"),
        ("faces", "live"),
        ("faces_ea_lfw", "live"),
        ("faces_ea_web", "live"),
    ):
        chosen = [
            flagged[i]
            for i, s in enumerate(usable)
            if s["group"] == group and s["kind"] == kind and i in flagged
        ]
        entry = _rate(chosen)
        if kind in ("print", "replay"):
            entry["apcer"] = _share(len(chosen) - entry["flagged"], len(chosen))
        out[f"{group}/{kind}"] = entry
    ea = [flagged[i] for i, s in enumerate(usable) if s["group"].startswith("faces_ea_")]
    out["faces_ea/live"] = _rate(ea)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT / ".." / "shared" / "fixtures")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    engine, policy = DlibFaceEngine(), PadPolicy()
    samples = _samples(args.fixtures.resolve())
    for s in samples:
        s["cues"] = _cues(s["path"], engine, policy)
    report: dict[str, Any] = {
        "no_face": [str(s["path"].name) for s in samples if s["cues"] is None]
    }
    usable = [s for s in samples if s["cues"] is not None]
    by: dict[str, Any] = {}
    for group in ("msu", "spoof", "faces", "faces_ea_lfw", "faces_ea_web", "compreface_A"):
        for kind in ("live", "print", "replay"):
            chosen = [s for s in usable if s["group"] == group and s["kind"] == kind]
            if not chosen:
                continue
            fired = [bool(s["cues"].fired) for s in chosen]
            entry = _rate(fired)
            entry["by_cue"] = {
                cue.value: int(sum(cue in s["cues"].fired for s in chosen)) for cue in PadCue
            }
            if kind == "live":
                entry["files_flagged"] = [
                    f"{s['path'].parent.name}/{s['path'].name}: "
                    + ",".join(c.value for c in s["cues"].fired)
                    for s in chosen
                    if s["cues"].fired
                ]
            by[f"{group}/{kind}"] = entry
    report["shipped_rule"] = by
    msu = {k: v["rate"] for k, v in by.items() if k.startswith("msu/")}
    report["summary"] = {
        "apcer_print": None if msu.get("msu/print") is None else round(1 - msu["msu/print"], 4),
        "apcer_replay": None if msu.get("msu/replay") is None else round(1 - msu["msu/replay"], 4),
        "bpcer_msu_live": msu.get("msu/live"),
        "flagged_genuine_faces": by.get("faces/live", {}).get("rate"),
        "flagged_compreface_selfies": by.get("compreface_A/live", {}).get("rate"),
    }
    for name, groups in (
        ("east_asian", ("faces_ea_lfw", "faces_ea_web")),
        ("not_east_asian", ("faces", "compreface_A")),
    ):
        flags = [bool(s["cues"].fired) for s in usable if s["group"] in groups]
        report["summary"][f"flagged_{name}_faces"] = _rate(flags)
    report["summary"]["apcer_worst"] = max(
        v for k, v in report["summary"].items() if k.startswith("apcer_") and v is not None
    )
    report["cross_validated_rule"] = cross_validated_rule(usable, policy)
    report["learned_cross_validated_measure_only"] = cross_validated(usable)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(json.dumps(report["summary"], indent=2))
    print("shipped rule, cross-validated by subject:")
    print(json.dumps(report["cross_validated_rule"], indent=2))
    print("learned (measure only):", report["learned_cross_validated_measure_only"])
    for key, entry in by.items():
        print(f"{key}: {entry['flagged']}/{entry['of']} flagged {entry['by_cue']}")
        for line in entry.get("files_flagged", []):
            print("   ", line)


if __name__ == "__main__":
    main()
