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


class ImageTooDense(ImageTooLarge):
    """Far more pixels than the file's size can honestly hold (a decompression bomb): refused
    from the header, before anything is decoded."""

    code = "image_too_dense"


class DecoderBusy(BiometricsError):
    """Every decoding slot of this process stayed busy for the whole wait."""

    code = "decoder_busy"


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


class VideoError(BiometricsError):
    """The uploaded bytes cannot be turned into a usable video clip."""

    code = "video_error"


class NotAVideo(VideoError):
    code = "not_a_video"


class EmptyVideo(VideoError):
    code = "empty_video"


class VideoFileTooLarge(VideoError):
    code = "video_file_too_large"


class UnsupportedVideoCodec(VideoError):
    code = "unsupported_video_codec"


class CorruptVideo(VideoError):
    code = "corrupt_video"


class TruncatedVideo(VideoError):
    """The upload stopped part-way and what arrived holds no playable frames."""

    code = "truncated_video"


class VideoTooShort(VideoError):
    code = "video_too_short"


class VideoTooLong(VideoError):
    code = "video_too_long"


class VideoResolutionTooLarge(VideoError):
    """Too many pixels per frame: refused from the header, before anything is decoded."""

    code = "video_resolution_too_large"


class VideoResolutionTooSmall(VideoError):
    code = "video_resolution_too_small"


class FrameRateTooHigh(VideoError):
    code = "frame_rate_too_high"


class VideoDecodeTimeout(VideoError):
    """Reading the clip took longer than its wall-clock budget."""

    code = "video_decode_timeout"
