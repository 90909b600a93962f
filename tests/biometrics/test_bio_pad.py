"""Picture cues of a print or a screen (biometrics/pad.py) on real attack stills and genuine photos.

The attack stills (`attacks/`, MSU-MFSD first frames) are real prints and screens filmed by a
camera; the cues' thresholds were set from genuine pictures and physical reasoning, never fitted
to them, so these are held-out figures. The rates asserted are the ones measured (see
scripts/measure_pad.py), with a margin, not per-file answers.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
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
    """70 iPad and iPhone replays: 56 caught by a screen cue (APCER 20 %): 44 by part of the
    face clipped white in every channel, 42 by a screen's contrast."""
    assert len(stills["replay"]) == 70
    assert _rate(stills["replay"], SCREEN_CUES) >= 0.75
    assert _rate(stills["replay"], frozenset({PadCue.SCREEN_GLARE})) >= 0.55


def test_real_prints_are_caught_about_half_the_time(stills: dict[str, list[PictureCues]]) -> None:
    """35 printed photos: 16 caught by some cue, 15 by the print's flat tone (APCER 54 %).

    The honest figure of a single picture: prints that show the room's own black or white
    (a lamp, a dark sweater at the sheet's edge) look like any photo; the video's planar motion
    check catches those when they move."""
    assert len(stills["print"]) == 35
    assert _rate(stills["print"]) >= 0.45
    assert _rate(stills["print"], PRINT_CUES) >= 0.35


def test_live_stills_of_the_same_cameras_are_rarely_flagged(
    stills: dict[str, list[PictureCues]],
) -> None:
    """35 live people filmed by the same cameras in the same rooms: none flagged."""
    assert len(stills["live"]) == 35
    assert _rate(stills["live"]) <= 1 / 35


@pytest.fixture(scope="module")
def faces_flagged(fixtures_dir: Path, engine: DlibFaceEngine) -> dict[str, list[PictureCues]]:
    """Cues of every genuine photo in faces/, East-Asian (ea_*) apart from the others."""
    out: dict[str, list[PictureCues]] = {"ea": [], "other": []}
    for path in sorted((fixtures_dir / "faces").glob("*/*.jpg")):
        cues = _cues(path, engine)
        assert cues is not None, path
        out["ea" if path.parent.name.startswith("ea_") else "other"].append(cues)
    return out


def test_genuine_east_asian_faces_are_not_flagged_more_than_others(
    faces_flagged: dict[str, list[PictureCues]],
) -> None:
    """467 genuine East-Asian photos against 134 others (every photo, no selection).

    The bound: the East-Asian share flagged by any cue may not exceed the upper end of the
    95 % Clopper-Pearson interval of the others' share (5/134 flagged: 0.012-0.085), i.e. no
    evidence that East-Asian users are sent to review more often. Measured: 22/467 (4.7 %).
    Before the glare and bezel cues were made invariant, 73/467 (15.6 %) against 9/134.
    The screen cues, which stood for most of that gap, are held to 2 % (9/467 measured)."""
    ea, other = faces_flagged["ea"], faces_flagged["other"]
    assert len(ea) == 467 and len(other) == 134
    assert _rate(other) <= 0.06
    assert _rate(ea) <= 0.085
    assert _rate(ea, SCREEN_CUES) <= 0.02


def test_pale_or_evenly_lit_skin_is_not_glare(fixtures_dir: Path, engine: DlibFaceEngine) -> None:
    """Skin made paler and brighter (as retouching, a beauty mode or pale skin under a bright
    lamp do) keeps its colour and is not a screen's glare; clipping a patch of the face to white
    in every channel is."""
    pixels = decode_image(
        (fixtures_dir / "faces/fr_obama/1.jpg").read_bytes(), limits=DecodeLimits()
    ).pixels
    box = max(engine.detect(pixels), key=lambda b: b.width)
    image = pixels.astype(np.float32)
    grey = image.mean(axis=2, keepdims=True)
    pale = np.clip(0.35 * (image - grey) + grey * 1.6 + 20, 0, 240).astype(np.uint8)
    assert PadCue.SCREEN_GLARE not in picture_cues(pale, box, policy=POLICY).fired
    glared = pixels.copy()
    cx, cy = int(box.center[0]), int(box.top + 0.4 * box.height)
    half = int(0.15 * box.width)
    glared[cy - half : cy + half, cx - half : cx + half] = 255
    assert PadCue.SCREEN_GLARE in picture_cues(glared, box, policy=POLICY).fired


def test_black_corners_of_an_aligned_crop_are_not_a_bezel() -> None:
    """A face picture rotated by software leaves black fill in its corners, straight edges on
    every side; a dark device frame seen with the room beyond it is a bezel."""
    rng = np.random.default_rng(3)
    room = rng.integers(90, 170, size=(480, 480, 3)).astype(np.uint8)
    room = np.asarray(cv2.GaussianBlur(room, (0, 0), 3), dtype=np.uint8)
    face = FaceBox(180, 160, 300, 300)
    rotate = cv2.getRotationMatrix2D((240.0, 240.0), 4.0, 0.85)
    rotated = np.asarray(cv2.warpAffine(room, rotate, (480, 480)), dtype=np.uint8)
    assert PadCue.BEZEL not in picture_cues(rotated, face, policy=POLICY).fired
    framed = room.copy()
    cv2.rectangle(framed, (50, 50), (430, 430), (20, 20, 22), -1)
    framed[80:400, 80:400] = room[80:400, 80:400]
    assert PadCue.BEZEL in picture_cues(framed, face, policy=POLICY).fired


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
