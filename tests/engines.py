"""The real dlib engine with each answer remembered for the rest of the test run.

Many tests analyse the same fixture photos and clips (every module enrols the same cohort, on
both databases; several liveness tests read the same clip). The answers are dlib's own,
computed the first time a given picture is seen; later calls with the same pixels (and the
same box, landmarks and jitters) get that answer again instead of running the model again.

Under pytest-xdist the workers share their answers through a folder of the run's own (the
workers' common temporary folder, made fresh for every run): a photo that two workers both
meet is analysed once per run, not once per worker. Outside xdist the memory alone is used,
so no answer outlives its run.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
from pathlib import Path
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
    def __init__(self, inner: DlibFaceEngine | None = None, *, shared: Path | None = None) -> None:
        self.inner = inner or DlibFaceEngine()
        self._answers: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
        self.calls = 0  # answers computed by the model (not remembered ones)
        self.shared = shared  # a folder the run's other processes read and write too
        if shared is not None:
            shared.mkdir(parents=True, exist_ok=True)

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
        file = self._file(key)
        if file is not None and file.exists():
            answer = pickle.loads(file.read_bytes())
        else:
            answer = compute()
            with self._lock:
                self.calls += 1
            if file is not None:
                # Written whole under a name of this process's, then renamed: a reader in another
                # worker sees the complete answer or none.
                part = file.with_name(f"{file.name}.{os.getpid()}.part")
                part.write_bytes(pickle.dumps(answer))
                part.replace(file)
        with self._lock:
            return self._answers.setdefault(key, answer)

    def _file(self, key: tuple[Any, ...]) -> Path | None:
        if self.shared is None:
            return None
        name = hashlib.blake2b(repr(key).encode(), digest_size=20).hexdigest()
        return self.shared / f"{name}.pickle"

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


def engine_for_run(basetemp: Path) -> MemoFaceEngine:
    """The engine a test session uses: under xdist (`basetemp` is then the worker's folder
    inside the run's) the workers share their answers in the run's folder."""
    shared = basetemp.parent / "face-answers" if os.environ.get("PYTEST_XDIST_WORKER") else None
    return MemoFaceEngine(DlibFaceEngine(), shared=shared)
