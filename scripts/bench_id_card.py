"""How ID-card chip references change the genuine match rate, on the face fixtures.

Every identity of DIR/<identity>/<photos> with two photos or more: its first photo is the
reference, the others are probes. The reference is used three ways: the photo itself, the
same face cut to an ID-card chip (102x126, face `--face-px` wide, flattened light, JPEG 75),
and that chip in grey. Scores are S-norm against the cohort of the other identities' photos
(as production scores a verification); the match bar is calibrated on the photo-reference
impostor pairs for `--target-fmr` (biometrics.threshold_for_fmr, as `lifecert faces
calibrate` does on a register), then applied unchanged to the chip references: that is what
the bar would do to them if they were not sent to review. Also: how many chips pass the
`id_card` gate and the time to analyse one chip (decode, detect, landmarks, embed).

    .venv/bin/python scripts/bench_id_card.py ../shared/fixtures/faces [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from biometrics import DecodeLimits, DlibFaceEngine, MatchPolicy, QualityPolicy, decode_image  # noqa: E402
from biometrics.bench import list_photos, score_pairs  # noqa: E402
from biometrics.calibration import threshold_for_fmr  # noqa: E402
from biometrics.engine import analyze_image  # noqa: E402
from biometrics.idcard import make_id_chip  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--face-px", type=float, default=80.0)
    parser.add_argument("--target-fmr", type=float, default=0.001)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    engine = DlibFaceEngine()
    limits = DecodeLimits()
    policy = MatchPolicy()
    identities: list[str] = []
    vectors: list[np.ndarray] = []
    is_reference: list[bool] = []
    chips: dict[str, list[np.ndarray | None]] = {"colour": [], "grey": []}
    gate_failures: dict[str, dict[str, int]] = {"colour": {}, "grey": {}}
    chip_ms: list[float] = []
    seen: set[str] = set()
    photos = list_photos(args.root)
    counts: dict[str, int] = {}
    for identity, _ in photos:
        counts[identity] = counts.get(identity, 0) + 1
    for identity, path in photos:
        if counts[identity] < 2:
            continue
        image = decode_image(path.read_bytes(), limits=limits)
        analysis = analyze_image(image, engine=engine, policy=QualityPolicy.selfie())
        if analysis.embedding is None or analysis.quality.main_face is None:
            continue
        reference = identity not in seen
        seen.add(identity)
        identities.append(identity)
        vectors.append(np.asarray(analysis.embedding.vector))
        is_reference.append(reference)
        for kind in ("colour", "grey"):
            if not reference:
                chips[kind].append(None)
                continue
            chip = make_id_chip(
                image.pixels,
                box=analysis.quality.main_face.box,
                face_px=args.face_px,
                grey=kind == "grey",
                flatten=0.2,
            )
            started = time.process_time()
            chip_analysis = analyze_image(
                decode_image(chip, limits=limits),
                engine=engine,
                policy=QualityPolicy.id_card(),
                embed_despite_findings=False,  # a refused chip is not enrolled
            )
            chip_ms.append((time.process_time() - started) * 1000)
            for issue in chip_analysis.quality.issues:
                gate_failures[kind][issue.value] = gate_failures[kind].get(issue.value, 0) + 1
            chips[kind].append(
                None
                if chip_analysis.embedding is None
                else np.asarray(chip_analysis.embedding.vector)
            )
    ids = np.array(identities)
    refs = np.array(is_reference)
    base = np.stack(vectors)
    baseline = score_pairs(base, identities=ids, policy=policy)
    impostor = baseline.score[~baseline.genuine]
    bar = threshold_for_fmr(impostor[np.isfinite(impostor)], target_fmr=args.target_fmr).match
    result: dict[str, object] = {
        "identities": int(refs.sum()),
        "photos": len(ids),
        "face_px": args.face_px,
        "target_fmr": args.target_fmr,
        "match_bar": None if bar is None else round(float(bar), 3),
        "chip_cpu_ms_p50": round(float(np.median(chip_ms)), 1),
        "gate_refusals": gate_failures,
    }

    def rates(matrix: np.ndarray, usable: np.ndarray) -> dict[str, object]:
        pairs = score_pairs(matrix, identities=ids, policy=policy)
        ref_rows = np.flatnonzero(refs & usable)
        involved = np.isin(pairs.first, ref_rows) | np.isin(pairs.second, ref_rows)
        other = np.where(np.isin(pairs.first, ref_rows), pairs.second, pairs.first)
        not_ref = ~refs[other]  # a reference against a probe photo, not two references
        genuine = pairs.score[involved & not_ref & pairs.genuine]
        impostors = pairs.score[involved & not_ref & ~pairs.genuine]
        distances = pairs.distance[involved & not_ref & pairs.genuine]
        return {
            "references": int(len(ref_rows)),
            "genuine_pairs": int(genuine.size),
            "genuine_match_rate": None if bar is None else round(float((genuine >= bar).mean()), 4),
            "genuine_distance_median": round(float(np.median(distances)), 4),
            "impostor_pairs": int(impostors.size),
            "impostor_match_rate": None
            if bar is None
            else round(float((impostors >= bar).mean()), 5),
        }

    everyone = np.ones(len(ids), dtype=bool)
    result["photo_reference"] = rates(base, everyone)
    for kind in ("colour", "grey"):
        usable = np.array([c is not None or not r for c, r in zip(chips[kind], refs, strict=True)])
        swapped = np.stack(
            [c if c is not None else v for c, v in zip(chips[kind], vectors, strict=True)]
        )
        result[f"chip_{kind}_reference"] = rates(swapped, usable)
        result[f"photo_reference_same_people_as_chip_{kind}"] = rates(base, usable)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        print(f"{key}: {json.dumps(value)}")


if __name__ == "__main__":
    main()
