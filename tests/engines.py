"""The real dlib engine with each answer remembered for the rest of the test run.

Many tests analyse the same fixture photos and clips (every module enrols the same cohort, on
both databases; several liveness tests read the same clip). The answers are dlib's own,
computed the first time a given picture is seen; later calls with the same pixels (and the
same box, landmarks and jitters) get that answer again instead of running the model again.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import numpy as np

from biometrics import DlibFaceEngine
from biometrics.face import DetectedFace, FaceBox, FaceEmbedding


def _digest(array: np.ndarray) -> tuple[bytes, tuple[int, ...], str]:
    data = np.ascontiguousarray(array)
    return hashlib.blake2b(data.tobytes(), digest_size=16).digest(), data.shape, data.dtype.str


def _box(box: FaceBox) -> tuple[float, ...]:
    return (box.left, box.top, box.right, box.bottom, box.score)


class MemoFaceEngine:
    def __init__(self, inner: DlibFaceEngine | None = None) -> None:
        self.inner = inner or DlibFaceEngine()
        self._answers: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
        self.calls = 0  # answers computed by the model (not remembered ones)

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    @property
    def model_version(self) -> str:
        return self.inner.model_version

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _remember(self, key: tuple[Any, ...], compute: Any) -> Any:
        with self._lock:
            if key in self._answers:
                return self._answers[key]
        answer = compute()
        with self._lock:
            self.calls += 1
            return self._answers.setdefault(key, answer)

    def detect(self, pixels: np.ndarray) -> list[FaceBox]:
        key = ("detect", _digest(pixels))
        return list(self._remember(key, lambda: self.inner.detect(pixels)))

    def landmarks(self, pixels: np.ndarray, *, box: FaceBox) -> np.ndarray:
        key = ("landmarks", _digest(pixels), _box(box))
        answer = self._remember(key, lambda: self.inner.landmarks(pixels, box=box))
        return np.array(answer, copy=True)

    def embed(self, pixels: np.ndarray, *, face: DetectedFace, jitters: int = 1) -> FaceEmbedding:
        key = ("embed", _digest(pixels), _box(face.box), _digest(face.landmarks), jitters)
        answer: FaceEmbedding = self._remember(
            key, lambda: self.inner.embed(pixels, face=face, jitters=jitters)
        )
        return FaceEmbedding(
            vector=np.array(answer.vector, copy=True),
            model_name=answer.model_name,
            model_version=answer.model_version,
        )
