"""Measure the selfie presentation-attack cues (biometrics/pad.py) on the fixture stills.

    .venv/bin/python scripts/measure_pad.py [--fixtures ../shared/fixtures] [--json]

Attack side: `attacks/` (MSU-MFSD first frames: live, printed photo, iPad and iPhone replays)
and `spoof/attack/`. Genuine side: `attacks/live_msu_*`, every non-`ea_` photo in `faces/`,
`faces/compreface_A/` (phone selfies) and `spoof/live/`.

The shipped rule was never fitted to `attacks/`: its figures there are held-out figures for
every subject. For comparison the script also reports what a learned rule could reach: a
logistic regression on the same cue values, cross-validated by subject (5 folds, no subject
in both training and test). That model is a measurement only: `attacks/` is research data that
no shipped model may be trained on, so it is never saved.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from biometrics import DecodeLimits, DlibFaceEngine, decode_image  # noqa: E402
from biometrics.pad import PadCue, PadPolicy, PictureCues, picture_cues  # noqa: E402


def _cues(path: Path, engine: DlibFaceEngine, policy: PadPolicy) -> PictureCues | None:
    pixels = decode_image(path.read_bytes(), limits=DecodeLimits()).pixels
    boxes = engine.detect(pixels)
    if not boxes:
        return None
    return picture_cues(pixels, max(boxes, key=lambda b: b.width), policy=policy)


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
    for path in sorted((fixtures / "faces").glob("*/*.jpg")):
        folder = path.parent.name
        if folder.startswith("ea_"):
            continue
        group = "compreface_A" if folder == "compreface_A" else "faces"
        rows.append({"path": path, "kind": "live", "subject": folder, "group": group})
    return rows


def _rate(flags: list[bool]) -> dict[str, Any]:
    return {"flagged": int(sum(flags)), "of": len(flags), "rate": _share(sum(flags), len(flags))}


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
    for group in ("msu", "spoof", "faces", "compreface_A"):
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
    report["summary"]["apcer_worst"] = max(
        v for k, v in report["summary"].items() if k.startswith("apcer_") and v is not None
    )
    report["learned_cross_validated_measure_only"] = cross_validated(usable)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(json.dumps(report["summary"], indent=2))
    print("learned (measure only):", report["learned_cross_validated_measure_only"])
    for key, entry in by.items():
        print(f"{key}: {entry['flagged']}/{entry['of']} flagged {entry['by_cue']}")
        for line in entry.get("files_flagged", []):
            print("   ", line)


if __name__ == "__main__":
    main()
