"""Quality gate: each finding from a real fixture or a photo changed the way a phone would."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFilter

from biometrics import (
    DecodeLimits,
    DetectedFace,
    DlibFaceEngine,
    FaceBox,
    PhotoAnalysis,
    QualityIssue,
    QualityPolicy,
    analyze_photo,
    assess_quality,
)
from biometrics.decode import DecodedImage
from biometrics.quality import INSTRUCTIONS, eye_aspect_ratio, head_pose

Analyse = Callable[..., PhotoAnalysis]


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def obama(fixtures_dir: Path) -> Image.Image:
    return Image.open(fixtures_dir / "faces" / "fr_obama" / "1.jpg").convert("RGB")


@pytest.fixture(scope="module")
def analyse(engine: DlibFaceEngine, limits: DecodeLimits, selfie: QualityPolicy) -> Analyse:
    def run(photo: Image.Image | bytes, policy: QualityPolicy = selfie) -> PhotoAnalysis:
        data = jpeg(photo) if isinstance(photo, Image.Image) else photo
        return analyze_photo(data, engine=engine, limits=limits, policy=policy)

    return run


def test_good_press_photo_passes(analyse: Analyse, obama: Image.Image) -> None:
    result = analyse(obama)
    assert result.quality.ok, result.quality.issues
    assert result.ok
    assert result.embedding is not None


def test_every_issue_has_both_instructions() -> None:
    for issue in QualityIssue:
        zh, en = INSTRUCTIONS[issue]
        assert zh and en
    assert INSTRUCTIONS[QualityIssue.FACE_TOO_SMALL] == (
        "请把手机拿近一些，让脸占满框。",
        "Hold the phone closer so your face fills the frame.",
    )


def test_no_face(analyse: Analyse) -> None:
    rng = np.random.default_rng(1)
    wall = (rng.normal(150, 20, (480, 640, 3))).clip(0, 255).astype(np.uint8)
    result = analyse(Image.fromarray(wall))
    assert result.quality.issues == (QualityIssue.NO_FACE,)
    assert result.embedding is None
    assert result.quality.findings[0].en.startswith("We could not see your face")


@pytest.mark.parametrize("name", ["multiple_faces_2.jpg", "multiple_faces_3.jpg"])
def test_two_people(analyse: Analyse, fixtures_dir: Path, name: str) -> None:
    result = analyse((fixtures_dir / "hard" / name).read_bytes())
    assert result.quality.issues == (QualityIssue.MULTIPLE_FACES,)
    assert result.embedding is None


def test_small_background_faces_count_only_if_the_policy_says_so(
    analyse: Analyse, fixtures_dir: Path
) -> None:
    data = (fixtures_dir / "hard" / "multiple_faces_5.jpg").read_bytes()
    every_face = QualityPolicy(background_face_ratio=None)
    assert analyse(data, every_face).quality.issues == (QualityIssue.MULTIPLE_FACES,)
    # Faces there are 97-150 px wide: ignoring those under 90% of the main face leaves one.
    lenient = QualityPolicy(background_face_ratio=0.9)
    lenient_result = analyse(data, lenient)
    assert QualityIssue.MULTIPLE_FACES not in lenient_result.quality.issues
    assert lenient_result.quality.face_count == 1


@pytest.mark.parametrize("name", ["partial_face_1.jpg", "partial_face_2.jpg"])
def test_face_cut_by_the_border(analyse: Analyse, fixtures_dir: Path, name: str) -> None:
    result = analyse((fixtures_dir / "hard" / name).read_bytes())
    assert result.quality.issues[0] == QualityIssue.FACE_CUT_OFF


def test_face_too_small(analyse: Analyse, obama: Image.Image) -> None:
    canvas = Image.new("RGB", (1600, 1200), (120, 120, 120))
    canvas.paste(obama.resize((obama.width * 2 // 5, obama.height * 2 // 5)), (700, 500))
    result = analyse(canvas)
    assert result.quality.issues == (QualityIssue.FACE_TOO_SMALL,)
    assert result.quality.findings[0].zh == "请把手机拿近一些，让脸占满框。"


def test_blurry(analyse: Analyse, obama: Image.Image) -> None:
    result = analyse(obama.filter(ImageFilter.GaussianBlur(3)))
    assert result.quality.issues == (QualityIssue.TOO_BLURRY,)


def test_dark_is_not_called_blurry(analyse: Analyse, obama: Image.Image) -> None:
    dark = Image.fromarray((np.asarray(obama) * 0.25).astype(np.uint8))
    assert analyse(dark).quality.issues == (QualityIssue.TOO_DARK,)


def test_too_bright(analyse: Analyse, obama: Image.Image) -> None:
    pixels = np.asarray(obama).astype(float)
    washed = Image.fromarray((255 - (255 - pixels) * 0.25).astype(np.uint8))
    assert analyse(washed).quality.issues == (QualityIssue.TOO_BRIGHT,)


def test_backlit_by_a_window(analyse: Analyse, obama: Image.Image) -> None:
    # The person, underexposed, in front of a bright window filling the rest of the frame.
    person = Image.fromarray((np.asarray(obama) * 0.6).astype(np.uint8))
    scene = Image.new("RGB", (obama.width * 2, obama.height), (250, 250, 250))
    scene.paste(person, (obama.width // 2, 0))
    result = analyse(scene)
    assert result.quality.issues == (QualityIssue.BACKLIT,)


def test_head_tilted(analyse: Analyse, obama: Image.Image) -> None:
    tilted = obama.rotate(28, expand=True, fillcolor=(128, 128, 128))
    result = analyse(tilted)
    assert result.quality.issues == (QualityIssue.HEAD_TILTED,)
    assert result.quality.measures is not None
    assert abs(result.quality.measures.roll_deg) > 20


def test_head_turned(analyse: Analyse, fixtures_dir: Path) -> None:
    result = analyse((fixtures_dir / "faces" / "fr_kit_harington" / "2.jpg").read_bytes())
    assert result.quality.issues == (QualityIssue.HEAD_TURNED,)


def _video_frame(path: Path, index: int) -> Image.Image:
    capture = cv2.VideoCapture(str(path))
    try:
        for _ in range(index):
            capture.grab()
        ok, frame = capture.read()
    finally:
        capture.release()
    assert ok
    return Image.fromarray(np.ascontiguousarray(frame[:, :, ::-1]))


def test_eyes_closed_in_a_blink(analyse: Analyse, fixtures_dir: Path) -> None:
    clip = fixtures_dir / "videos" / "live" / "liveportrait_driving_d14.mp4"
    blink = analyse(_video_frame(clip, 16))
    assert QualityIssue.EYES_CLOSED in blink.quality.issues
    open_eyes = analyse(_video_frame(clip, 22))
    assert QualityIssue.EYES_CLOSED not in open_eyes.quality.issues


def test_enrolment_is_stricter_than_selfie() -> None:
    selfie, enrolment = QualityPolicy.selfie(), QualityPolicy.enrolment()
    for name in (
        "min_face_px",
        "min_face_ratio",
        "min_sharpness",
        "min_brightness",
        "min_eye_aspect_ratio",
    ):
        assert getattr(enrolment, name) > getattr(selfie, name), name
    for name in (
        "max_cut_fraction",
        "max_brightness",
        "backlit_difference",
        "max_yaw_deg",
        "max_roll_deg",
    ):
        assert getattr(enrolment, name) < getattr(selfie, name), name


def test_a_fine_selfie_can_still_be_too_poor_for_enrolment(
    analyse: Analyse, fixtures_dir: Path
) -> None:
    data = (fixtures_dir / "faces" / "fr_obama" / "4.jpg").read_bytes()  # head turned ~25 deg
    assert analyse(data).quality.ok
    assert QualityIssue.HEAD_TURNED in analyse(data, QualityPolicy.enrolment()).quality.issues


def _face_at(landmarks: np.ndarray) -> DetectedFace:
    return DetectedFace(box=FaceBox(100, 100, 300, 300), landmarks=landmarks)


def test_pose_and_eyes_from_synthetic_landmarks() -> None:
    from biometrics.engine import _CANONICAL

    frontal = 100 + _CANONICAL * 200
    yaw, roll = head_pose(frontal)
    assert abs(yaw) < 1 and abs(roll) < 1
    assert eye_aspect_ratio(frontal) == pytest.approx(0.3, abs=0.01)

    turned = frontal.copy()
    turned[27:36, 0] += 60  # nose moves towards one cheek when the head turns
    assert head_pose(turned)[0] > 30

    closed = frontal.copy()
    for start in (36, 42):
        centre_y = closed[start : start + 6, 1].mean()
        closed[start : start + 6, 1] = centre_y
    image = DecodedImage(
        pixels=np.random.default_rng(0).integers(60, 200, (400, 400, 3), dtype=np.uint8),
        format="png",
        original_width=400,
        original_height=400,
    )
    report = assess_quality(image, faces=[_face_at(closed)], policy=QualityPolicy.selfie())
    assert QualityIssue.EYES_CLOSED in report.issues


def test_findings_come_in_priority_order() -> None:
    image = DecodedImage(
        pixels=np.full((400, 400, 3), 20, dtype=np.uint8),
        format="png",
        original_width=400,
        original_height=400,
    )
    from biometrics.engine import _CANONICAL

    face = DetectedFace(box=FaceBox(350, 150, 450, 250), landmarks=350 + _CANONICAL * 100)
    report = assess_quality(image, faces=[face], policy=QualityPolicy.selfie())
    assert report.issues[0] == QualityIssue.FACE_CUT_OFF
    assert QualityIssue.TOO_DARK in report.issues
    assert report.issues.index(QualityIssue.TOO_DARK) < report.issues.index(QualityIssue.TOO_BLURRY)


def test_policy_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        QualityPolicy.selfie().min_face_px = 1  # type: ignore[misc]
