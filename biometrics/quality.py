"""Quality gate for a face photo: typed findings with instructions an elderly person can follow."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
from numpy.typing import NDArray

from biometrics.decode import DecodedImage
from biometrics.face import DetectedFace, FaceBox, FloatArray


class QualityIssue(StrEnum):
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_TOO_SMALL = "face_too_small"
    FACE_CUT_OFF = "face_cut_off"
    TOO_BLURRY = "too_blurry"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"
    BACKLIT = "backlit"
    HEAD_TURNED = "head_turned"
    HEAD_TILTED = "head_tilted"
    EYES_CLOSED = "eyes_closed"


# (Chinese, English): one short thing to do, not a diagnosis.
INSTRUCTIONS: dict[QualityIssue, tuple[str, str]] = {
    QualityIssue.NO_FACE: (
        "没有看到您的脸。请把脸放在框的中间，再拍一张。",
        "We could not see your face. Put your face in the middle of the frame and try again.",
    ),
    QualityIssue.MULTIPLE_FACES: (
        "照片里不止一个人。请只让您自己在画面里。",
        "There is more than one person in the photo. Make sure only you are in the picture.",
    ),
    QualityIssue.FACE_TOO_SMALL: (
        "请把手机拿近一些，让脸占满框。",
        "Hold the phone closer so your face fills the frame.",
    ),
    QualityIssue.FACE_CUT_OFF: (
        "脸没有全部拍进去。请把整张脸放在框里。",
        "Part of your face is outside the picture. Keep your whole face inside the frame.",
    ),
    QualityIssue.TOO_BLURRY: (
        "照片有点模糊。请拿稳手机，不要动，再拍一张。",
        "The photo is blurry. Hold the phone still and try again.",
    ),
    QualityIssue.TOO_DARK: (
        "太暗了。请到亮一点的地方，或者打开灯。",
        "It is too dark. Move to a brighter place or turn on a light.",
    ),
    QualityIssue.TOO_BRIGHT: (
        "太亮了。请避开太阳或很强的灯光。",
        "It is too bright. Move away from direct sunlight or strong light.",
    ),
    QualityIssue.BACKLIT: (
        "您背后的光太亮了。请转过身，脸朝着窗户或灯。",
        "The light behind you is too strong. Turn so that you face the window or the lamp.",
    ),
    QualityIssue.HEAD_TURNED: (
        "请把脸正对着手机，眼睛看屏幕。",
        "Turn your face straight towards the phone and look at the screen.",
    ),
    QualityIssue.HEAD_TILTED: (
        "请把头摆正，不要歪向一边。",
        "Hold your head straight, not tilted to one side.",
    ),
    QualityIssue.EYES_CLOSED: (
        "请睁开眼睛，看着手机。",
        "Please open your eyes and look at the phone.",
    ),
}

# The first finding is the one a client should show: fix framing before lighting before focus.
_PRIORITY = [
    QualityIssue.NO_FACE,
    QualityIssue.MULTIPLE_FACES,
    QualityIssue.FACE_CUT_OFF,
    QualityIssue.FACE_TOO_SMALL,
    QualityIssue.HEAD_TURNED,
    QualityIssue.HEAD_TILTED,
    QualityIssue.EYES_CLOSED,
    QualityIssue.BACKLIT,
    QualityIssue.TOO_DARK,
    QualityIssue.TOO_BRIGHT,
    QualityIssue.TOO_BLURRY,
]

# Sharpness is measured on the face resampled to this size so that it does not grow with
# the number of pixels on the face.
_SHARPNESS_SIDE = 128


@dataclass(frozen=True)
class QualityFinding:
    issue: QualityIssue
    zh: str
    en: str
    measured: float | None = None
    limit: float | None = None


def finding(
    issue: QualityIssue, *, measured: float | None = None, limit: float | None = None
) -> QualityFinding:
    zh, en = INSTRUCTIONS[issue]
    return QualityFinding(issue=issue, zh=zh, en=en, measured=measured, limit=limit)


@dataclass(frozen=True)
class QualityPolicy:
    """Limits of the quality gate; use selfie() for certification and enrolment() for templates."""

    # Face width in pixels of the uploaded photo, and as a share of its shorter side.
    min_face_px: float = 100.0
    min_face_ratio: float = 0.12
    # Share of the face box allowed outside the picture.
    max_cut_fraction: float = 0.05
    min_sharpness: float = 3.0
    min_brightness: float = 55.0
    max_brightness: float = 215.0
    # Background this much brighter than the face (0-255 grey levels) means a light behind.
    backlit_difference: float = 75.0
    max_yaw_deg: float = 30.0
    max_roll_deg: float = 20.0
    min_eye_aspect_ratio: float = 0.12
    # Another face narrower than this share of the main face is a passer-by and ignored;
    # None counts every other face.
    background_face_ratio: float | None = 0.5

    @classmethod
    def selfie(cls) -> QualityPolicy:
        return cls()

    @classmethod
    def id_card(cls) -> QualityPolicy:
        """The photo on an ID card's chip (about 102x126, the face 70-90 px wide, flat light,
        possibly grey): frontal and level like any template, but small and soft by nature.

        The face must fill the picture (a card photo is head and shoulders) and be at least
        64 px wide, what dlib's detector still finds once the picture is upsampled. Sharpness
        is measured on the face resampled to 128 px, so an upsampled 75 px face reads far
        softer than a photo's (0.3-3 on real faces shrunk to chip size, against 5 for the
        enrolment gate): only a face with no detail left is refused. The face decision treats
        such a reference as low resolution (its matches go to review).
        """
        return cls(
            min_face_px=64.0,
            min_face_ratio=0.5,
            max_cut_fraction=0.0,
            min_sharpness=0.25,
            min_brightness=60.0,
            max_brightness=210.0,
            backlit_difference=60.0,
            max_yaw_deg=18.0,
            max_roll_deg=10.0,
            min_eye_aspect_ratio=0.15,
            background_face_ratio=0.3,
        )

    @classmethod
    def enrolment(cls) -> QualityPolicy:
        # A template is compared for years: it must be frontal, sharp and evenly lit.
        return cls(
            min_face_px=160.0,
            min_face_ratio=0.18,
            max_cut_fraction=0.0,
            min_sharpness=5.0,
            min_brightness=70.0,
            max_brightness=200.0,
            backlit_difference=60.0,
            max_yaw_deg=18.0,
            max_roll_deg=10.0,
            min_eye_aspect_ratio=0.15,
            background_face_ratio=0.3,
        )


@dataclass(frozen=True)
class QualityMeasures:
    """What was measured on the main face; kept for audit and for tuning the limits."""

    face_width_px: float
    face_ratio: float
    cut_fraction: float
    sharpness: float
    brightness: float
    background_brightness: float | None
    yaw_deg: float
    roll_deg: float
    eye_aspect_ratio: float


@dataclass(frozen=True)
class QualityReport:
    findings: tuple[QualityFinding, ...]
    main_face: DetectedFace | None
    measures: QualityMeasures | None
    face_count: int

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def issues(self) -> tuple[QualityIssue, ...]:
        return tuple(f.issue for f in self.findings)


def select_faces(
    faces: Sequence[DetectedFace], *, policy: QualityPolicy
) -> tuple[DetectedFace | None, int]:
    """Return the main (widest) face and how many faces count under the policy."""
    if not faces:
        return None, 0
    ranked = sorted(faces, key=lambda f: f.box.width, reverse=True)
    main = ranked[0]
    ratio = policy.background_face_ratio
    counted = [f for f in ranked if ratio is None or f.box.width >= ratio * main.box.width]
    return main, len(counted)


def assess_quality(
    image: DecodedImage, *, faces: Sequence[DetectedFace], policy: QualityPolicy
) -> QualityReport:
    """Check the photo against the policy; findings come most actionable first."""
    main, count = select_faces(faces, policy=policy)
    if main is None:
        return QualityReport(
            findings=(finding(QualityIssue.NO_FACE),), main_face=None, measures=None, face_count=0
        )
    if count > 1:
        return QualityReport(
            findings=(finding(QualityIssue.MULTIPLE_FACES, measured=float(count), limit=1.0),),
            main_face=main,
            measures=None,
            face_count=count,
        )
    measures = measure_face(image, face=main)
    found = _findings(measures, policy)
    found.sort(key=lambda f: _PRIORITY.index(f.issue))
    return QualityReport(findings=tuple(found), main_face=main, measures=measures, face_count=1)


def measure_face(image: DecodedImage, *, face: DetectedFace) -> QualityMeasures:
    pixels = image.pixels
    height, width = pixels.shape[:2]
    box = face.box
    gray = np.asarray(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    inner = _clip_box(_shrink_box(box, 0.15), width=width, height=height)
    face_gray = gray[inner[1] : inner[3], inner[0] : inner[2]]
    brightness = float(face_gray.mean()) if face_gray.size else 0.0
    yaw, roll = head_pose(face.landmarks)
    return QualityMeasures(
        face_width_px=box.width * image.scale,
        face_ratio=box.width / min(width, height),
        cut_fraction=_cut_fraction(box, face.landmarks, width=width, height=height),
        sharpness=_sharpness(face_gray),
        brightness=brightness,
        background_brightness=_background_brightness(gray, box),
        yaw_deg=yaw,
        roll_deg=roll,
        eye_aspect_ratio=eye_aspect_ratio(face.landmarks),
    )


def head_pose(landmarks: FloatArray) -> tuple[float, float]:
    """Approximate yaw and roll in degrees from 68 landmarks.

    Roll is the angle of the line between the eye centres. Yaw compares how far the nose tip
    sits from each side of the jaw along that line: a frontal face has it in the middle and a
    face in profile has it at one end, so the normalised offset is close to sin(yaw).
    """
    left_eye = landmarks[36:42].mean(axis=0)
    right_eye = landmarks[42:48].mean(axis=0)
    axis = right_eye - left_eye
    norm = float(np.hypot(axis[0], axis[1]))
    if norm == 0.0:
        return 0.0, 0.0
    unit = axis / norm
    roll = math.degrees(math.atan2(float(axis[1]), float(axis[0])))
    nose = landmarks[30]
    to_left = float(np.dot(nose - landmarks[0], unit))
    to_right = float(np.dot(landmarks[16] - nose, unit))
    span = to_left + to_right
    if span <= 0.0:
        return 90.0, roll
    offset = max(-1.0, min(1.0, (to_left - to_right) / span))
    return math.degrees(math.asin(offset)), roll


def eye_aspect_ratio(landmarks: FloatArray) -> float:
    """Mean eye aspect ratio of both eyes (Soukupova and Cech 2016); about 0.3 when open."""
    ratios = []
    for start in (36, 42):
        p = landmarks[start : start + 6]
        vertical = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
        horizontal = 2.0 * np.linalg.norm(p[0] - p[3])
        ratios.append(float(vertical / horizontal) if horizontal > 0 else 0.0)
    return float(np.mean(ratios))


def _findings(m: QualityMeasures, p: QualityPolicy) -> list[QualityFinding]:
    found: list[QualityFinding] = []
    if m.cut_fraction > p.max_cut_fraction:
        found.append(
            finding(QualityIssue.FACE_CUT_OFF, measured=m.cut_fraction, limit=p.max_cut_fraction)
        )
    if m.face_width_px < p.min_face_px:
        found.append(
            finding(QualityIssue.FACE_TOO_SMALL, measured=m.face_width_px, limit=p.min_face_px)
        )
    elif m.face_ratio < p.min_face_ratio:
        found.append(
            finding(QualityIssue.FACE_TOO_SMALL, measured=m.face_ratio, limit=p.min_face_ratio)
        )
    if abs(m.yaw_deg) > p.max_yaw_deg:
        found.append(finding(QualityIssue.HEAD_TURNED, measured=m.yaw_deg, limit=p.max_yaw_deg))
    if abs(m.roll_deg) > p.max_roll_deg:
        found.append(finding(QualityIssue.HEAD_TILTED, measured=m.roll_deg, limit=p.max_roll_deg))
    # Eye landmarks are unreliable on a turned head, so only judge eyes on a frontal face.
    if abs(m.yaw_deg) <= p.max_yaw_deg and m.eye_aspect_ratio < p.min_eye_aspect_ratio:
        found.append(
            finding(
                QualityIssue.EYES_CLOSED, measured=m.eye_aspect_ratio, limit=p.min_eye_aspect_ratio
            )
        )
    contrast = None
    if m.background_brightness is not None:
        contrast = m.background_brightness - m.brightness
    if contrast is not None and contrast > p.backlit_difference:
        found.append(finding(QualityIssue.BACKLIT, measured=contrast, limit=p.backlit_difference))
    elif m.brightness < p.min_brightness:
        found.append(finding(QualityIssue.TOO_DARK, measured=m.brightness, limit=p.min_brightness))
    if m.brightness > p.max_brightness:
        found.append(
            finding(QualityIssue.TOO_BRIGHT, measured=m.brightness, limit=p.max_brightness)
        )
    if m.sharpness < p.min_sharpness:
        found.append(finding(QualityIssue.TOO_BLURRY, measured=m.sharpness, limit=p.min_sharpness))
    return found


def _shrink_box(box: FaceBox, fraction: float) -> FaceBox:
    dx, dy = box.width * fraction, box.height * fraction
    return FaceBox(box.left + dx, box.top + dy, box.right - dx, box.bottom - dy)


def _grow_box(box: FaceBox, fraction: float) -> FaceBox:
    return _shrink_box(box, -fraction)


def _clip_box(box: FaceBox, *, width: int, height: int) -> tuple[int, int, int, int]:
    left = min(max(int(box.left), 0), width)
    top = min(max(int(box.top), 0), height)
    right = min(max(int(math.ceil(box.right)), left), width)
    bottom = min(max(int(math.ceil(box.bottom)), top), height)
    return left, top, right, bottom


def _cut_fraction(box: FaceBox, landmarks: FloatArray, *, width: int, height: int) -> float:
    """Share of the face outside the picture, from the box and from the jaw and brow landmarks."""
    outside_x = max(0.0, -box.left) + max(0.0, box.right - width)
    outside_y = max(0.0, -box.top) + max(0.0, box.bottom - height)
    box_cut = max(outside_x / max(box.width, 1.0), outside_y / max(box.height, 1.0))
    xs, ys = landmarks[:, 0], landmarks[:, 1]
    beyond = (xs < 0) | (xs >= width) | (ys < 0) | (ys >= height)
    landmark_cut = float(beyond.mean()) if landmarks.size else 0.0
    return max(box_cut, landmark_cut)


def _sharpness(face_gray: NDArray[np.uint8]) -> float:
    """Laplacian variance over grey-level variance, times 100, on a fixed-size face sample.

    Dividing by the variance keeps a sharp but dark or washed-out face from reading as
    blurry: those get their own findings.
    """
    if face_gray.size == 0:
        return 0.0
    h, w = face_gray.shape
    interpolation = cv2.INTER_AREA if min(h, w) > _SHARPNESS_SIDE else cv2.INTER_LINEAR
    sample = cv2.resize(face_gray, (_SHARPNESS_SIDE, _SHARPNESS_SIDE), interpolation=interpolation)
    contrast = float(sample.astype(np.float64).var())
    if contrast < 1.0:
        return 0.0
    return 100.0 * float(cv2.Laplacian(sample, cv2.CV_64F).var()) / contrast


def _background_brightness(gray: NDArray[np.uint8], box: FaceBox) -> float | None:
    """Mean grey level beside and above the head, where a window or lamp behind would be.

    None when the face fills nearly the whole picture. Rows below the chin are left out:
    clothes there are dark in any light.
    """
    height, width = gray.shape
    left, top, right, bottom = _clip_box(_grow_box(box, 0.5), width=width, height=height)
    band_bottom = min(height, max(int(box.bottom), 0))
    mask = np.zeros(gray.shape, dtype=bool)
    mask[:band_bottom, :] = True
    mask[top:bottom, left:right] = False
    if mask.sum() < 0.1 * gray.size:
        return None
    return float(gray[mask].mean())
