"""Value types for a face found in a photo: its box, its landmarks and its embedding."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from biometrics.errors import IncompatibleEmbeddings

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class FaceBox:
    """A face rectangle in pixels; right and bottom are exclusive and may lie outside the image."""

    left: float
    top: float
    right: float
    bottom: float
    score: float = 0.0

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0)

    def scaled(self, factor: float) -> FaceBox:
        return FaceBox(
            left=self.left * factor,
            top=self.top * factor,
            right=self.right * factor,
            bottom=self.bottom * factor,
            score=self.score,
        )


@dataclass(frozen=True)
class FaceEmbedding:
    """A face descriptor tagged with the model that made it: only same-model vectors compare."""

    vector: FloatArray
    model_name: str
    model_version: str

    def require_compatible(self, other: FaceEmbedding) -> None:
        if (self.model_name, self.model_version) != (other.model_name, other.model_version):
            raise IncompatibleEmbeddings(
                f"cannot compare {self.model_name} {self.model_version} "
                f"with {other.model_name} {other.model_version}"
            )


@dataclass(frozen=True)
class DetectedFace:
    """A face in working-image coordinates with its 68 landmarks (x, y rows, iBUG 300-W order)."""

    box: FaceBox
    landmarks: FloatArray


def stack_vectors(embeddings: list[FaceEmbedding]) -> FloatArray:
    """Stack same-model embeddings into an (n, d) matrix."""
    if not embeddings:
        raise ValueError("no embeddings given")
    first = embeddings[0]
    for other in embeddings[1:]:
        first.require_compatible(other)
    return np.stack([np.asarray(e.vector, dtype=np.float64) for e in embeddings])
