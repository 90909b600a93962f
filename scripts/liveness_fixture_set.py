"""Build a labelled liveness bench folder from the shared fixtures (for `lifecert bench liveness`).

    .venv/bin/python scripts/liveness_fixture_set.py OUT [--fixtures ../shared/fixtures]
    .venv/bin/lifecert bench liveness OUT --json

Live: the fixture clips with the action each performs, and each re-encoded as phones and
messaging apps do (12 and 15 fps, dropped frames, heavy compression, rotation metadata, every
frame doubled).
Attacks, each labelled with its attack_type:
- print: photos of the permissively licensed `faces/` and `spoof/` sets printed, bent and held
  by hand, either tilted 35 degrees to each side to fake the turns or swaying for a blink
  challenge, and tilted 50-65 degrees (flat, bent, bent more), far enough for the landmark
  model to report a turn; and the real printed-photo stills of `attacks/` (MSU-MFSD) moved by
  hand;
- replay: every live clip on a phone and a tablet screen, with the action it really performs
  (only passive cues can catch those); and the real screen stills of `attacks/` moved by hand;
- injection: live clips with a second spliced out next to the action.
`attacks/` is research data: the clips made from it stay in OUT (outside the repository) and
are used to measure, never to train.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from biometrics import attacks  # noqa: E402

# The action each fixture clip really performs.
LIVE = {
    "liveportrait_driving_d0.mp4": "open_mouth",
    "liveportrait_driving_d3.mp4": "blink",
    "liveportrait_driving_d6.mp4": "blink",
    "liveportrait_driving_d13.mp4": "blink",
    "liveportrait_driving_d14.mp4": "blink",
}
PRINT_PHOTOS = [
    "faces/fr_obama/1.jpg",
    "faces/fr_biden/2.jpg",
    "faces/fr_kit_harington/1.jpg",
    "faces/fr_rose_leslie/2.jpg",
    "faces/deepface_c01/1.jpg",
    "faces/deepface_c05/1.jpg",
    "faces/compreface_A/3.jpg",
    "spoof/live/silentface_image_T1.jpg",
    "spoof/attack/print_poster.jpg",
]
TURNS = "turn_left,turn_right"


def build(fixtures: Path, out: Path, *, msu_stills: int = 6) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, str, str]] = []
    live = fixtures / "videos" / "live"
    for i, (clip, action) in enumerate(LIVE.items()):
        source = live / clip
        stem = Path(clip).stem
        rows.append((str(source), "live", action, ""))
        attacks.reencoded(source, out / f"{stem}_12fps_dropped.mp4", fps=12, drop_every=9)
        rows.append((f"{stem}_12fps_dropped.mp4", "live", action, ""))
        attacks.reencoded(source, out / f"{stem}_15fps_crf36.mp4", fps=15, crf=36)
        rows.append((f"{stem}_15fps_crf36.mp4", "live", action, ""))
        attacks.write_clip(
            out / f"{stem}_rotated.mp4",
            ((t, im[::-1, ::-1].copy()) for t, im in attacks.read_frames(source)),
            rotation=180,
        )
        rows.append((f"{stem}_rotated.mp4", "live", action, ""))
        # Every other frame shown twice at 30 fps: a 15 fps camera filling a 30 fps stream.
        kept = list(attacks.read_frames(source))[::2]
        attacks.write_clip(
            out / f"{stem}_doubled.mp4",
            ((k / 30.0, kept[k // 2][1]) for k in range(2 * len(kept))),
        )
        rows.append((f"{stem}_doubled.mp4", "live", action, ""))
        for device in ("phone", "tablet"):
            name = f"{stem}_{device}_replay.mp4"
            attacks.on_screen(source, out / name, device=device, seed=10 + i)  # type: ignore[arg-type]
            rows.append((name, "attack", action, "replay"))
    for clip, action, cut in (
        ("liveportrait_driving_d3.mp4", "blink", (1.0, 1.6)),
        ("liveportrait_driving_d0.mp4", "open_mouth", (0.4, 0.8)),
    ):
        name = f"{Path(clip).stem}_spliced.mp4"
        attacks.spliced(live / clip, out / name, cut=cut)
        rows.append((name, "attack", action, "injection"))
    for i, photo_path in enumerate(PRINT_PHOTOS):
        photo = attacks.load_photo(fixtures / photo_path)
        stem = photo_path.replace("/", "_").rsplit(".", 1)[0]
        attacks.bent_print(photo, out / f"{stem}_print_turned.mp4", motion="turn", seed=i)
        rows.append((f"{stem}_print_turned.mp4", "attack", TURNS, "print"))
        attacks.bent_print(
            photo, out / f"{stem}_print_swaying.mp4", motion="sway", bend=0.12, seed=50 + i
        )
        rows.append((f"{stem}_print_swaying.mp4", "attack", "blink", "print"))
    rows += far_turned_prints(fixtures, out)
    with (fixtures / "attacks" / "labels.csv").open(newline="") as handle:
        stills = [r for r in csv.DictReader(handle) if r["file"].endswith(".jpg")]
    for kind in ("print", "replay"):
        chosen = [r for r in stills if r["kind"] == kind][:msu_stills]
        for i, row in enumerate(chosen):
            picture = attacks.load_photo(fixtures / "attacks" / row["file"], size=(720, 480))
            stem = Path(row["file"]).stem
            motion = "turn" if i % 2 else "sway"
            attacks.recaptured_still(picture, out / f"{stem}_{motion}.mp4", motion=motion, seed=i)
            rows.append((f"{stem}_{motion}.mp4", "attack", TURNS if i % 2 else "blink", kind))
    with (out / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label", "challenge", "attack_type"])
        writer.writerows(rows)
    return out / "labels.csv"


def far_turned_prints(fixtures: Path, out: Path) -> list[tuple[str, str, str, str]]:
    """Prints tilted far enough (50-65 degrees) that the landmark model reports a head turn:
    the prints that passed head-turn challenges. Flat, bent and bent more, so the parallax
    check is calibrated against a sheet's bow too."""
    rows = []
    for i, photo_path in enumerate(PRINT_PHOTOS):
        photo = attacks.load_photo(fixtures / photo_path)
        stem = photo_path.replace("/", "_").rsplit(".", 1)[0]
        bend = (0.0, 0.08, 0.15)[i % 3]
        turn = (50.0, 55.0, 60.0, 65.0)[i % 4]
        name = f"{stem}_print_turned_far.mp4"
        attacks.bent_print(photo, out / name, motion="turn", bend=bend, turn_deg=turn, seed=100 + i)
        rows.append((name, "attack", TURNS, "print"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--fixtures", type=Path, default=ROOT / ".." / "shared" / "fixtures")
    parser.add_argument("--msu-stills", type=int, default=6)
    args = parser.parse_args()
    print(build(args.fixtures.resolve(), args.out, msu_stills=args.msu_stills))


if __name__ == "__main__":
    main()
