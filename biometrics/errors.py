"""Errors raised by the face library; each has a stable code and knows nothing of HTTP."""

from __future__ import annotations


class BiometricsError(Exception):
    """Base class: `code` is stable for clients and logs, `message` is for people."""

    code = "biometrics_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ImageError(BiometricsError):
    """The uploaded bytes cannot be turned into a usable picture."""

    code = "image_error"


class EmptyFile(ImageError):
    code = "empty_file"


class FileTooLarge(ImageError):
    code = "file_too_large"


class UnsupportedFormat(ImageError):
    code = "unsupported_format"


class CorruptImage(ImageError):
    code = "corrupt_image"


class ImageTooLarge(ImageError):
    """Too many pixels: refused from the header, before anything is decoded."""

    code = "image_too_large"


class ImageTooSmall(ImageError):
    code = "image_too_small"


class AnimatedImage(ImageError):
    code = "animated_image"


class MatchingError(BiometricsError):
    code = "matching_error"


class IncompatibleEmbeddings(MatchingError):
    """Embeddings from different models or versions live in different spaces."""

    code = "incompatible_embeddings"


class CohortTooSmall(MatchingError):
    code = "cohort_too_small"
