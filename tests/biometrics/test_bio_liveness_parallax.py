"""Parallax of a head turn from the 68 landmarks (liveness.turn_parallax_check): a real head's
nose leaves the plane of its outline when it turns, a print or a screen turned by hand does not.

The planar side is exact geometry on real landmarks (a homography maps a picture onto itself,
nose included), then the generator's prints tilted far enough for the landmark model to report
a turn, and the fixture clip with real turns and its re-encodings on the live side.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from biometrics import DecodeLimits, DlibFaceEngine, LivenessPolicy, VideoLimits, decode_image
from biometrics import attacks as gen
from biometrics.liveness import (
    _PARALLAX_CENTRAL,
    Action,
    ActionEvent,
    FrameObservation,
    LivenessReason,
    analyze_liveness,
    landmark_parallax,
    turn_parallax_check,
)

POLICY = LivenessPolicy()


@pytest.fixture(scope="module")
def frontal(fixtures_dir: Path, engine: DlibFaceEngine) -> np.ndarray:
    pixels = decode_image(
        (fixtures_dir / "faces/fr_obama/1.jpg").read_bytes(), limits=DecodeLimits()
    ).pixels
    box = max(engine.detect(pixels), key=lambda b: b.width)
    return np.asarray(engine.landmarks(pixels, box=box), dtype=np.float64)


def _eyes(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[42:48].mean(axis=0) - landmarks[36:42].mean(axis=0)))


def _warped(landmarks: np.ndarray, yaw_deg: float) -> np.ndarray:
    """The landmarks as a camera sees their picture turned by yaw_deg about its vertical axis."""
    centre = landmarks.mean(axis=0)
    focal = 4.0 * float(np.ptp(landmarks[:, 0]))
    yaw = math.radians(yaw_deg)
    x, y = landmarks[:, 0] - centre[0], landmarks[:, 1] - centre[1]
    depth = focal + x * math.sin(yaw)
    return np.stack(
        [centre[0] + focal * x * math.cos(yaw) / depth, centre[1] + focal * y / depth], axis=1
    )


@pytest.mark.parametrize("yaw", [20.0, 45.0, 70.0])
def test_a_picture_turned_by_any_angle_has_no_parallax(frontal: np.ndarray, yaw: float) -> None:
    """A face on one plane seen turned maps onto itself by a homography, nose included."""
    turned = _warped(frontal, yaw)
    value = landmark_parallax(frontal, turned, eye_distance=_eyes(turned))
    assert value is not None and value < 0.01


def test_a_nose_in_front_of_the_outline_shows_parallax(frontal: np.ndarray) -> None:
    """The same turn with the nose 2.5 cm in front of the face (an eye distance is ~6.3 cm):
    it moves sideways by depth x sin(yaw), about 0.16 of the eye distance at 25 degrees."""
    turned = _warped(frontal, 25.0)
    eyes = _eyes(turned)
    turned[_PARALLAX_CENTRAL, 0] += (2.5 / 6.3) * eyes * math.sin(math.radians(25.0))
    value = landmark_parallax(frontal, turned, eye_distance=eyes)
    assert value is not None and value > POLICY.min_turn_parallax


def _observations(frontal: np.ndarray, nose_shift: float) -> list[FrameObservation]:
    """Half a second frontal, then a turn to 30 degrees of landmark yaw, every frame detected."""
    out = []
    for k in range(24):
        t = k / 12.0
        yaw = 0.0 if t < 0.5 else 30.0
        landmarks = frontal if yaw == 0.0 else _warped(frontal, 30.0)
        landmarks = landmarks.copy()
        eyes = _eyes(landmarks)
        if yaw:
            landmarks[_PARALLAX_CENTRAL, 0] += nose_shift * eyes
        out.append(
            FrameObservation(
                t=t,
                present=True,
                detected=True,
                face_count=1,
                landmarks=landmarks,
                yaw_deg=yaw,
                eye_distance=eyes,
            )
        )
    return out


def test_the_check_judges_only_a_performed_turn(frontal: np.ndarray) -> None:
    turn = [ActionEvent(action=Action.TURN_LEFT, t=0.5)]
    flat = turn_parallax_check(_observations(frontal, 0.0), turns=turn, policy=POLICY)
    assert not flat.passed and flat.value < POLICY.min_turn_parallax
    deep = turn_parallax_check(_observations(frontal, 0.2), turns=turn, policy=POLICY)
    assert deep.passed and deep.value >= POLICY.min_turn_parallax
    # No turn performed (a blink challenge): nothing to judge.
    idle = turn_parallax_check(_observations(frontal, 0.0), turns=[], policy=POLICY)
    assert idle.passed and math.isnan(idle.value)


def test_coasting_landmarks_are_not_judged(frontal: np.ndarray) -> None:
    """Frames the detector did not confirm carry the tracker's guess, not the face's shape."""
    guessed = [replace(o, detected=o.yaw_deg == 0.0) for o in _observations(frontal, 0.0)]
    turn = [ActionEvent(action=Action.TURN_LEFT, t=0.5)]
    check = turn_parallax_check(guessed, turns=turn, policy=POLICY)
    assert check.passed and math.isnan(check.value)


@pytest.mark.parametrize(
    "clip", ["", "_12fps_dropped", "_15fps_crf36"], ids=["original", "12fps", "crf36"]
)
def test_real_head_turns_show_parallax(
    fixtures_dir: Path, engine: DlibFaceEngine, tmp_path: Path, clip: str
) -> None:
    """The fixture clip with real head turns (d3), as recorded and as phones re-encode it:
    judged on at least 10 confirmed turned frames, its nose leaves the outline by well over the
    threshold, and the clip gets no planar reason."""
    source = fixtures_dir / "videos/live/liveportrait_driving_d3.mp4"
    video = source
    if clip == "_12fps_dropped":
        video = gen.reencoded(source, tmp_path / "d3.mp4", fps=12, drop_every=9)
    elif clip == "_15fps_crf36":
        video = gen.reencoded(source, tmp_path / "d3.mp4", fps=15, crf=36)
    result = analyze_liveness(
        video, challenge=["turn_left"], engine=engine, limits=VideoLimits(), policy=POLICY
    )
    check = result.checks["turn_parallax"]
    assert check.details["frames"] >= 10
    assert check.value >= 1.2 * POLICY.min_turn_parallax
    assert LivenessReason.PLANAR_LIKE not in result.reasons


def test_prints_turned_far_enough_to_fake_a_turn_are_caught_where_landmarks_fit(
    fixtures_dir: Path, engine: DlibFaceEngine, tmp_path: Path
) -> None:
    """Prints tilted 55-65 degrees each way (flat and bent): none is judged live, and where the
    check can judge one (at least two detected turned frames) it finds the nose on the
    outline's plane at least once. Not every time: on the fixture bench 2 of 5 judged far-turned
    prints read as heads because the landmark model misfits the foreshortened face."""
    judged = []
    for seed, (photo, bend, turn) in enumerate(
        [
            ("faces/fr_biden/2.jpg", 0.08, 55.0),
            ("faces/deepface_c01/1.jpg", 0.15, 60.0),
            ("faces/fr_kit_harington/1.jpg", 0.08, 65.0),
            ("faces/fr_obama/1.jpg", 0.0, 60.0),
        ]
    ):
        video = gen.bent_print(
            gen.load_photo(fixtures_dir / photo),
            tmp_path / f"print_{seed}.mp4",
            bend=bend,
            turn_deg=turn,
            seed=seed,
        )
        result = analyze_liveness(
            video,
            challenge=["turn_left", "turn_right"],
            engine=engine,
            limits=VideoLimits(),
            policy=POLICY,
        )
        assert not result.live
        check = turn_parallax_check(
            [o for o in result.observations if o.present],
            turns=[ActionEvent(action=Action.TURN_LEFT, t=0.0)],
            policy=POLICY,
        )
        if not math.isnan(check.value):
            judged.append(check.value)
    assert judged and min(judged) < POLICY.min_turn_parallax


def test_the_generator_s_flat_print_is_one_plane() -> None:
    """A sheet rendered with no bend maps onto its picture by one homography (dots found to a
    tenth of a pixel), and the generator's usual bow moves the face's middle by well under the
    parallax threshold: its prints are not accidentally 3-D."""
    sheet = np.full((400, 300, 3), 235, dtype=np.uint8)
    grid = [(x, y) for y in range(110, 300, 45) for x in range(60, 250, 45)]
    for x, y in grid:
        cv2.circle(sheet, (x, y), 6, (20, 20, 20), -1)
    back = np.full((480, 640, 3), 120, dtype=np.uint8)
    pose = gen.SheetPose(yaw_deg=40.0, pitch_deg=5.0)
    errors = {}
    for bend in (0.0, 0.08):
        picture = gen.render_sheet(
            sheet, back, pose, width_m=0.12, bend=bend, strips=64, hand=False
        )
        grey = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)
        _, _, stats, centres = cv2.connectedComponentsWithStats((grey < 70).astype(np.uint8))
        # The dots, not the sheet's dark rim or specks along its strip seams.
        area, w, h = (
            stats[1:, k] for k in (cv2.CC_STAT_AREA, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT)
        )
        found = centres[1:][(area >= 20) & (area <= 120) & (w <= 15) & (h <= 15)]
        assert len(found) == len(grid)
        # Dots in reading order: rows by y, each row by x (the tilt keeps the rows apart).
        order = np.argsort(found[:, 1])
        rows = [order[i : i + 5] for i in range(0, len(order), 5)]
        found = np.concatenate([found[r[np.argsort(found[r, 0])]] for r in rows])
        src = np.array(grid, dtype=np.float32)
        homography, _ = cv2.findHomography(src, found.astype(np.float32), 0)
        mapped = cv2.perspectiveTransform(src.reshape(-1, 1, 2), homography).reshape(-1, 2)
        spacing = float(np.median(np.diff(found[:5, 0])))
        errors[bend] = float(np.abs(mapped - found).max()) / spacing
    assert errors[0.0] < 0.01
    assert errors[0.08] < 0.1
