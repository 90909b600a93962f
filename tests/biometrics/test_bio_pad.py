"""Picture cues of a print or a screen (biometrics/pad.py) on real attack stills and genuine photos.

The attack stills (`attacks/`, MSU-MFSD first frames) are real prints and screens filmed by a
camera; the cues' thresholds were set from genuine pictures and physical reasoning, never fitted
to them, so these are held-out figures. The rates asserted are the ones measured (see
scripts/measure_pad.py), with a margin, not per-file answers.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from biometrics import DecodeLimits, DlibFaceEngine, FaceBox, decode_image
from biometrics.attacks import as_printed
from biometrics.pad import (
    PRINT_CUES,
    SCREEN_CUES,
    PadCue,
    PadPolicy,
    PictureCues,
    picture_cues,
)

POLICY = PadPolicy()


def _cues(path: Path, engine: DlibFaceEngine) -> PictureCues | None:
    pixels = decode_image(path.read_bytes(), limits=DecodeLimits()).pixels
    boxes = engine.detect(pixels)
    if not boxes:
        return None
    return picture_cues(pixels, max(boxes, key=lambda b: b.width), policy=POLICY)


@pytest.fixture(scope="module")
def stills(fixtures_dir: Path, engine: DlibFaceEngine) -> dict[str, list[PictureCues]]:
    by_kind: dict[str, list[PictureCues]] = {"live": [], "print": [], "replay": []}
    with (fixtures_dir / "attacks" / "labels.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if not row["file"].endswith(".jpg"):
                continue
            cues = _cues(fixtures_dir / "attacks" / row["file"], engine)
            assert cues is not None, row["file"]
            by_kind[row["kind"]].append(cues)
    return by_kind


def _rate(cues: list[PictureCues], kinds: frozenset[PadCue] | None = None) -> float:
    fired = [bool(set(c.fired) & kinds) if kinds else bool(c.fired) for c in cues]
    return sum(fired) / len(fired)


def test_real_screen_replays_are_mostly_caught(stills: dict[str, list[PictureCues]]) -> None:
    """70 iPad and iPhone replays: 60 caught by a screen cue (APCER 14 %)."""
    assert len(stills["replay"]) == 70
    assert _rate(stills["replay"], SCREEN_CUES) >= 0.8


def test_real_prints_are_caught_about_half_the_time(stills: dict[str, list[PictureCues]]) -> None:
    """35 printed photos: 19 caught by some cue, 15 by the print's flat tone (APCER 46 %).

    The honest figure of a single picture: prints that show the room's own black or white
    (a lamp, a dark sweater at the sheet's edge) look like any photo; the video's planar motion
    check catches those when they move."""
    assert len(stills["print"]) == 35
    assert _rate(stills["print"]) >= 0.45
    assert _rate(stills["print"], PRINT_CUES) >= 0.35


def test_live_stills_of_the_same_cameras_are_rarely_flagged(
    stills: dict[str, list[PictureCues]],
) -> None:
    """35 live people filmed by the same cameras in the same rooms: one flagged (glare)."""
    assert len(stills["live"]) == 35
    assert _rate(stills["live"]) <= 2 / 35


def test_genuine_phone_selfies_are_not_flagged_as_screens(
    fixtures_dir: Path, engine: DlibFaceEngine
) -> None:
    """compreface_A: six 12-36 MP phone photos. One has no true black or white (a review, not
    a refusal, in the service); none looks like a screen."""
    results = [_cues(p, engine) for p in sorted((fixtures_dir / "faces/compreface_A").glob("*"))]
    cues = [c for c in results if c is not None]
    assert len(cues) >= 5
    assert not any(set(c.fired) & SCREEN_CUES for c in cues)
    assert sum(bool(c.fired) for c in cues) <= 1


@pytest.mark.parametrize(
    "photo", ["spoof/live/silentface_image_T1.jpg", "faces/fr_obama/1.jpg", "faces/fr_biden/1.jpg"]
)
def test_the_same_photo_printed_loses_its_black_and_white(
    fixtures_dir: Path, engine: DlibFaceEngine, photo: str
) -> None:
    """A genuine photo passes; the same picture as ink on paper reflects it fires flat_tone."""
    pixels = decode_image((fixtures_dir / photo).read_bytes(), limits=DecodeLimits()).pixels
    box = max(engine.detect(pixels), key=lambda b: b.width)
    genuine = picture_cues(pixels, box, policy=POLICY)
    printed = picture_cues(as_printed(pixels), box, policy=POLICY)
    assert PadCue.FLAT_TONE not in genuine.fired
    assert PadCue.FLAT_TONE in printed.fired
    assert printed.print_like and printed.score >= 1.0 > genuine.score


def test_a_face_crop_alone_is_not_judged_for_tone() -> None:
    """A picture that is only the face has no surroundings to hold black or white."""
    rng = np.random.default_rng(0)
    flat = rng.integers(90, 160, size=(120, 120, 3), dtype=np.uint8)
    cues = picture_cues(flat, FaceBox(5, 5, 115, 115), policy=POLICY)
    assert PadCue.FLAT_TONE not in cues.fired
    # The same flat picture with room around the face is judged.
    wide = np.pad(flat, ((200, 200), (200, 200), (0, 0)), constant_values=128)
    assert PadCue.FLAT_TONE in picture_cues(wide, FaceBox(205, 205, 315, 315), policy=POLICY).fired


@pytest.mark.parametrize(
    "box",
    [FaceBox(0, 0, 3, 3), FaceBox(-50, -50, -10, -10), FaceBox(630, 470, 700, 560)],
    ids=["tiny", "outside", "past_the_corner"],
)
def test_degenerate_boxes_give_no_cues(box: FaceBox) -> None:
    pixels = np.full((480, 640, 3), 128, dtype=np.uint8)
    cues = picture_cues(pixels, box, policy=POLICY)
    assert cues.fired == () and cues.score == 0.0
