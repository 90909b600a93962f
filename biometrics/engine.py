"""Face engines (dlib and a fake for tests) and analyze_photo, the decode-to-embedding pipeline."""

from __future__ import annotations

import functools
import math
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import cv2
import numpy as np

from biometrics.decode import DecodedImage, DecodeLimits, RGBImage, decode_image
from biometrics.face import DetectedFace, FaceBox, FaceEmbedding, FloatArray
from biometrics.quality import QualityPolicy, QualityReport, assess_quality

DLIB_MODEL_NAME = "dlib_face_recognition_resnet_model_v1"
# Alignment is part of the embedding space: vectors aligned differently are not comparable.
DLIB_MODEL_VERSION = "v1+shape_predictor_5_face_landmarks"


class FaceEngine(Protocol):
    """Finds faces, places 68 landmarks and computes an identity embedding."""

    @property
    def model_name(self) -> str: ...

    @property
    def model_version(self) -> str: ...

    def detect(self, pixels: RGBImage) -> list[FaceBox]:
        """Face boxes in the coordinates of `pixels`, best first."""
        ...

    def landmarks(self, pixels: RGBImage, *, box: FaceBox) -> FloatArray:
        """A (68, 2) array of x, y points in iBUG 300-W order."""
        ...

    def embed(self, pixels: RGBImage, *, face: DetectedFace, jitters: int = 1) -> FaceEmbedding:
        """The face's embedding; jitters > 1 averages that many perturbed crops (costlier,
        steadier: for comparisons close to a decision bar)."""
        ...


@dataclass(frozen=True)
class _DlibModels:
    detector: Any
    landmarks68: Any
    landmarks5: Any
    recogniser: Any
    # dlib does not promise that its models can be called concurrently (the network keeps
    # per-call state); one call at a time per process, parallelism comes from processes.
    lock: threading.Lock = field(default_factory=threading.Lock)


@functools.cache
def _dlib_models() -> _DlibModels:
    """Load the dlib models once per process, on first use rather than at import."""
    import dlib
    import face_recognition_models as models

    return _DlibModels(
        detector=dlib.get_frontal_face_detector(),
        landmarks68=dlib.shape_predictor(models.pose_predictor_model_location()),
        landmarks5=dlib.shape_predictor(models.pose_predictor_five_point_model_location()),
        recogniser=dlib.face_recognition_model_v1(models.face_recognition_model_location()),
    )


def _rectangle(box: FaceBox) -> Any:
    import dlib

    return dlib.rectangle(
        round(box.left), round(box.top), round(box.right) - 1, round(box.bottom) - 1
    )


@dataclass(frozen=True)
class DlibFaceEngine:
    """dlib HOG detector, 68-point landmarks and the ResNet embedding of face_recognition.

    HOG costs time in proportion to the pixels it scans, so it runs on a copy shrunk to
    `detect_max_side` (finds faces wider than about a tenth of the picture: any selfie), then
    on one of `fallback_max_side` (a fifteenth: smaller faces fail the size check of the
    quality gate anyway), and it upsamples only pictures smaller than
    `upsample_below_side`, such as tight face crops (twice below `upsample_twice_below_side`,
    such as ID-card chip photos). Landmarks and embeddings use the full
    working image so they keep every pixel of the face.
    """

    detect_max_side: int = 640
    fallback_max_side: int = 1024
    upsample_below_side: int = 400
    # An ID-card chip (102x126) holds a 70-90 px face, under the 80 px HOG window: a last
    # attempt upsamples such tiny pictures twice.
    upsample_twice_below_side: int = 160
    num_jitters: int = 1
    # dlib's HOG score: 0 is its own default; higher drops doubtful faces.
    detection_threshold: float = 0.0

    model_name: ClassVar[str] = DLIB_MODEL_NAME
    model_version: ClassVar[str] = DLIB_MODEL_VERSION

    def warm_up(self) -> None:
        """Load the models now, e.g. in a worker process before its first request."""
        _dlib_models()

    def detect(self, pixels: RGBImage) -> list[FaceBox]:
        models = _dlib_models()
        long_side = max(pixels.shape[:2])
        for target, upsample in self._attempts(long_side):
            scale = min(1.0, target / long_side)
            small = pixels if scale == 1.0 else _resize(pixels, scale)
            with models.lock:
                rects, scores, _ = models.detector.run(small, upsample, self.detection_threshold)
            if len(rects):
                boxes = [
                    FaceBox(
                        left=r.left() / scale,
                        top=r.top() / scale,
                        right=(r.right() + 1) / scale,
                        bottom=(r.bottom() + 1) / scale,
                        score=float(s),
                    )
                    for r, s in zip(rects, scores, strict=True)
                ]
                return sorted(boxes, key=lambda b: b.score, reverse=True)
        return []

    def _attempts(self, long_side: int) -> list[tuple[int, int]]:
        attempts: list[tuple[int, int]] = []
        for target in (self.detect_max_side, self.fallback_max_side):
            effective = min(target, long_side)
            if not attempts or effective > attempts[-1][0]:
                attempts.append((effective, 0))
        if attempts[-1][0] < self.upsample_below_side:
            attempts.append((attempts[-1][0], 1))
        if attempts[-1][0] < self.upsample_twice_below_side:
            attempts.append((attempts[-1][0], 2))
        return attempts

    def landmarks(self, pixels: RGBImage, *, box: FaceBox) -> FloatArray:
        models = _dlib_models()
        with models.lock:
            shape = models.landmarks68(pixels, _rectangle(box))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)

    def embed(self, pixels: RGBImage, *, face: DetectedFace, jitters: int = 1) -> FaceEmbedding:
        models = _dlib_models()
        # face_recognition's default alignment: 5-point landmarks, 150 px chip.
        with models.lock:
            shape = models.landmarks5(pixels, _rectangle(face.box))
            vector = models.recogniser.compute_face_descriptor(
                pixels, shape, max(self.num_jitters, jitters)
            )
        return FaceEmbedding(
            vector=np.asarray(vector, dtype=np.float64),
            model_name=self.model_name,
            model_version=self.model_version,
        )


def _resize(pixels: RGBImage, scale: float) -> RGBImage:
    h, w = pixels.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _canonical_landmarks() -> FloatArray:
    """A frontal, level, eyes-open 68-point face in a unit box, for the fake engine."""
    points: list[tuple[float, float]] = []
    for i in range(17):  # jaw, ear to ear through the chin
        theta = math.pi - i * math.pi / 16
        points.append((0.5 + 0.5 * math.cos(theta), 0.25 + 0.75 * math.sin(theta)))
    for start in (0.12, 0.58):  # eyebrows
        points.extend((start + 0.075 * i, 0.2) for i in range(5))
    points.extend((0.5, 0.3 + 0.0833 * i) for i in range(4))  # nose bridge to tip
    points.extend((0.4 + 0.05 * i, 0.6) for i in range(5))  # nostrils
    for cx in (0.3, 0.7):  # eyes: corner, two upper, corner, two lower; aspect ratio 0.3
        points.extend(
            [
                (cx - 0.08, 0.35),
                (cx - 0.027, 0.326),
                (cx + 0.027, 0.326),
                (cx + 0.08, 0.35),
                (cx + 0.027, 0.374),
                (cx - 0.027, 0.374),
            ]
        )
    for count, rx, ry in ((12, 0.18, 0.06), (8, 0.12, 0.02)):  # lips, outer then inner
        for i in range(count):
            angle = math.pi + 2 * math.pi * i / count
            points.append((0.5 + rx * math.cos(angle), 0.8 + ry * math.sin(angle)))
    return np.array(points, dtype=np.float64)


_CANONICAL = _canonical_landmarks()


@dataclass(frozen=True)
class FakeFaceEngine:
    """A deterministic engine for fast tests elsewhere: no model files, no dlib.

    A picture darker on average than `blank_below` has no face; any other holds
    `faces_per_image` frontal faces side by side, each half as wide as the picture is high.
    Identity follows the mean colour of the face area rounded to `colour_step`, so two
    photos filled with the same colour (plus noise or a pattern) are one person and photos
    of clearly different colours are different people. Same person: distance about
    16 * genuine_spread; different people: about 16 * identity_spread.
    """

    faces_per_image: int = 1
    blank_below: float = 8.0
    colour_step: int = 48
    identity_spread: float = 0.06
    genuine_spread: float = 0.01

    model_name: ClassVar[str] = "fake_face_engine"
    model_version: ClassVar[str] = "1"

    def detect(self, pixels: RGBImage) -> list[FaceBox]:
        if float(pixels.mean()) < self.blank_below:
            return []
        h, w = pixels.shape[:2]
        column = w / self.faces_per_image
        side = min(column * 0.8, h * 0.5)
        return [
            FaceBox(
                left=column * (i + 0.5) - side / 2,
                top=h / 2 - side / 2,
                right=column * (i + 0.5) + side / 2,
                bottom=h / 2 + side / 2,
                score=1.0,
            )
            for i in range(self.faces_per_image)
        ]

    def landmarks(self, pixels: RGBImage, *, box: FaceBox) -> FloatArray:
        origin = np.array([box.left, box.top])
        return np.asarray(origin + _CANONICAL * np.array([box.width, box.height]), np.float64)

    def embed(self, pixels: RGBImage, *, face: DetectedFace, jitters: int = 1) -> FaceEmbedding:
        # jitters change nothing here: the fake's embedding has no crop to perturb.
        h, w = pixels.shape[:2]
        box = face.box
        region = pixels[
            max(0, int(box.top)) : min(h, int(box.bottom)),
            max(0, int(box.left)) : min(w, int(box.right)),
        ]
        colour = region.reshape(-1, 3).mean(axis=0) if region.size else np.zeros(3)
        key = tuple(int(c // self.colour_step) for c in colour)
        person = np.random.default_rng(list(key) + [7]).normal(0.0, self.identity_spread, 128)
        photo_seed = zlib.crc32(np.ascontiguousarray(region).tobytes())
        noise = np.random.default_rng(photo_seed).normal(0.0, self.genuine_spread, 128)
        return FaceEmbedding(
            vector=person + noise, model_name=self.model_name, model_version=self.model_version
        )


@dataclass(frozen=True)
class PhotoAnalysis:
    """Everything learnt from one photo; coordinates are in the working image."""

    format: str
    original_width: int
    original_height: int
    scale: float
    faces: tuple[DetectedFace, ...]
    quality: QualityReport
    embedding: FaceEmbedding | None

    @property
    def ok(self) -> bool:
        """One usable face and no quality finding."""
        return self.quality.ok and self.embedding is not None

    def main_box_in_original(self) -> FaceBox | None:
        face = self.quality.main_face
        return None if face is None else face.box.scaled(self.scale)


def analyze_photo(
    data: bytes,
    *,
    engine: FaceEngine,
    limits: DecodeLimits,
    policy: QualityPolicy,
    embed_despite_findings: bool = True,
) -> PhotoAnalysis:
    """Decode, find faces, check quality and embed the main face of one uploaded photo.

    Raises a biometrics.errors.ImageError subclass when the bytes are not a usable photo.
    The embedding is None when there is no single main face, and also when quality failed
    and embed_despite_findings is False (saves the embedding time on a photo to be retaken).
    """
    image = decode_image(data, limits=limits)
    return analyze_image(
        image, engine=engine, policy=policy, embed_despite_findings=embed_despite_findings
    )


def analyze_image(
    image: DecodedImage,
    *,
    engine: FaceEngine,
    policy: QualityPolicy,
    embed_despite_findings: bool = True,
) -> PhotoAnalysis:
    """analyze_photo for a picture that is already decoded (e.g. a video frame)."""
    pixels = image.pixels
    faces = tuple(
        DetectedFace(box=box, landmarks=engine.landmarks(pixels, box=box))
        for box in engine.detect(pixels)
    )
    report = assess_quality(image, faces=faces, policy=policy)
    embedding = None
    wanted = embed_despite_findings or report.ok
    if report.main_face is not None and report.face_count == 1 and wanted:
        embedding = engine.embed(pixels, face=report.main_face)
    return PhotoAnalysis(
        format=image.format,
        original_width=image.original_width,
        original_height=image.original_height,
        scale=image.scale,
        faces=faces,
        quality=report,
        embedding=embedding,
    )
