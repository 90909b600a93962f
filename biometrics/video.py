"""Read a selfie clip (MP4/MOV or WebM) within limits, as upright, downscaled sampled frames."""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import av
import av.error
import cv2
import numpy as np
from numpy.typing import NDArray

from biometrics.decode import RGBImage
from biometrics.errors import (
    CorruptVideo,
    EmptyVideo,
    FrameRateTooHigh,
    NotAVideo,
    TruncatedVideo,
    UnsupportedVideoCodec,
    VideoDecodeTimeout,
    VideoFileTooLarge,
    VideoResolutionTooLarge,
    VideoResolutionTooSmall,
    VideoTooLong,
    VideoTooShort,
)
from biometrics.face import FloatArray

VideoSource = bytes | str | os.PathLike[str]
ContainerFormat = Literal["mp4", "webm"]

# Top-level ISO-BMFF boxes a phone or browser MP4/MOV can start with.
_MP4_FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
# The demuxer is named, never probed: ffmpeg's probing would also accept playlists and
# concat scripts, which can make it open other files.
_DEMUXER: dict[ContainerFormat, str] = {"mp4": "mov", "webm": "matroska"}
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"RIFF")
# Pixel formats whose first plane is 8-bit luma, read without conversion; others (10-bit HDR
# from iPhones) are converted.
_EIGHT_BIT_LUMA_FIRST = frozenset(
    {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"}
)
# Timestamps closer than this are one instant (container time bases are at least 1 ms).
_EPS = 1e-3


@dataclass(frozen=True)
class VideoLimits:
    """What an uploaded clip may be; each limit is checked from the container header before
    decoding and enforced again while decoding, since headers can lie."""

    max_bytes: int = 50 * 1024 * 1024
    # A challenge takes a few seconds; a minute leaves room for a slow elderly user while
    # a long clip is refused before it costs decoding time.
    max_duration_s: float = 60.0
    min_duration_s: float = 1.0
    min_frames: int = 8
    # 4K phone video is accepted; 8K and beyond is refused from the header.
    max_pixels: int = 4096 * 2304
    min_side: int = 64
    # 120 fps covers phone high-frame-rate modes; slow-motion 240 fps is not a selfie.
    max_fps: float = 120.0
    # Wall-clock seconds for reading one clip, including the analysis done between frames.
    time_budget_s: float = 30.0
    # Actions last several tenths of a second, so 15 analysed frames a second see every blink
    # on at least one frame at half of the camera's 30 fps.
    sample_fps: float = 15.0
    # Faces in a selfie are a third of the frame or more: at 640 px they stay > 150 px wide,
    # well above what the 68-point landmark model needs.
    working_max_side: int = 640
    # Texture checks (moire, bezel) need pixels the working size throws away; one detail
    # frame each detail_every_s keeps their cost small.
    detail_max_side: int = 1280
    detail_every_s: float = 1.0
    thumbnail_side: int = 48
    allowed_codecs: frozenset[str] = frozenset({"h264", "hevc", "vp8", "vp9", "av1"})

    def __post_init__(self) -> None:
        positive = (
            self.max_bytes,
            self.max_duration_s,
            self.max_pixels,
            self.max_fps,
            self.time_budget_s,
            self.sample_fps,
            self.working_max_side,
            self.detail_max_side,
            self.detail_every_s,
            self.thumbnail_side,
        )
        if any(value <= 0 for value in positive):
            raise ValueError("limits must be positive")
        if self.min_duration_s > self.max_duration_s:
            raise ValueError("min_duration_s cannot exceed max_duration_s")


@dataclass(frozen=True)
class VideoMetadata:
    """What the container declares, before decoding; tags keep encoder and handler names."""

    container: ContainerFormat
    codec: str
    coded_width: int
    coded_height: int
    declared_fps: float | None
    declared_duration_s: float | None
    declared_frames: int | None
    byte_size: int
    # Container tags as they are, then stream tags prefixed "stream:"; keys lower-case.
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VideoFrame:
    """One sampled frame, upright (rotation metadata applied)."""

    index: int
    t: float
    pixels: RGBImage
    # Multiply working-image coordinates by this to get original-frame coordinates.
    scale: float
    # The same frame at up to detail_max_side, on every detail_every_s; else None.
    detail: RGBImage | None = None

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


@dataclass(frozen=True)
class VideoTimeline:
    """Every decoded frame, not only sampled ones: for frame-rate, duplicate and cut checks."""

    timestamps: FloatArray
    # (n, side, side) grey thumbnails, one per decoded frame, not rotated.
    thumbnails: NDArray[np.uint8]
    rotation: int
    truncated: bool
    duration_s: float
    decode_ms: float

    @property
    def frame_count(self) -> int:
        return int(self.timestamps.shape[0])

    @property
    def measured_fps(self) -> float:
        return self.frame_count / self.duration_s if self.duration_s > 0 else 0.0


@dataclass(frozen=True)
class DecodedVideo:
    metadata: VideoMetadata
    frames: tuple[VideoFrame, ...]
    timeline: VideoTimeline


class VideoReader:
    """An open clip whose header passed the limits; frames() decodes it once, in bounds."""

    def __init__(
        self,
        *,
        container: Any,
        metadata: VideoMetadata,
        limits: VideoLimits,
        truncated_hint: bool,
        started: float,
    ) -> None:
        self.metadata = metadata
        self._container = container
        self._stream = container.streams.video[0]
        self._limits = limits
        self._truncated_hint = truncated_hint
        self._started = started
        self._timeline: VideoTimeline | None = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    @property
    def timeline(self) -> VideoTimeline:
        """Available once frames() has run to its end."""
        if self._timeline is None:
            raise RuntimeError("read all frames first")
        return self._timeline

    def frames(self) -> Iterator[VideoFrame]:
        """Yield sampled frames; raise a VideoError as soon as a limit is crossed."""
        if self._timeline is not None:
            raise RuntimeError("the clip has already been read")
        limits = self._limits
        interval = 1.0 / limits.sample_fps
        stamps: list[float] = []
        thumbs: list[NDArray[np.uint8]] = []
        first: float | None = None
        rotation = 0
        next_sample = 0.0
        next_detail = 0.0
        truncated = False
        fallback_step = 1.0 / (self.metadata.declared_fps or 30.0)
        max_count = math.ceil(limits.max_fps * (limits.max_duration_s + 1.0))
        for frame in self._decoded():
            if frame is None:
                truncated = True
                break
            self._check_budget()
            if frame.width * frame.height > limits.max_pixels:
                raise VideoResolutionTooLarge(
                    f"the video has {frame.width}x{frame.height} pixels per frame, "
                    f"more than {limits.max_pixels}"
                )
            if frame.time is None:
                t = stamps[-1] + fallback_step if stamps else 0.0
            else:
                if first is None:
                    first = float(frame.time)
                t = float(frame.time) - first
            if not stamps:
                rotation = _quarter_turns(frame.rotation) * 90
            if t > limits.max_duration_s:
                raise VideoTooLong(f"the video is longer than {limits.max_duration_s:g} s")
            stamps.append(t)
            count = len(stamps)
            if count > max_count:
                raise VideoTooLong(f"the video has more than {max_count} frames")
            if count > limits.max_fps * (t + 1.0):
                raise FrameRateTooHigh(f"the video has more than {limits.max_fps:g} frames/s")
            thumbs.append(_thumbnail(frame, limits.thumbnail_side))
            if t + _EPS >= next_sample:
                next_sample = max(next_sample + interval, t + interval / 2.0)
                detail = None
                if t + _EPS >= next_detail:
                    next_detail = max(next_detail + limits.detail_every_s, t + _EPS)
                    detail = _picture(frame, rotation, limits.detail_max_side)
                pixels = _picture(frame, rotation, limits.working_max_side)
                original_width = frame.height if rotation % 180 else frame.width
                yield VideoFrame(
                    index=count - 1,
                    t=t,
                    pixels=pixels,
                    scale=original_width / pixels.shape[1],
                    detail=detail,
                )
        self._timeline = self._finish(stamps, thumbs, rotation, truncated, fallback_step)

    def _decoded(self) -> Iterator[Any]:
        """Decoded frames; None once a damaged tail stops decoding after some good frames."""
        stream = self._stream
        produced = 0
        try:
            for packet in self._container.demux(stream):
                self._check_budget()
                for frame in packet.decode():
                    produced += 1
                    yield frame
        except av.error.FFmpegError as exc:
            if produced == 0:
                raise self._damaged() from exc
            yield None
        except (EOFError, ValueError) as exc:
            if produced == 0:
                raise self._damaged() from exc
            yield None

    def _damaged(self) -> CorruptVideo | TruncatedVideo:
        if self._truncated_hint:
            return TruncatedVideo("the video is incomplete: the upload may have been cut short")
        return CorruptVideo("the video is damaged and no frame could be decoded")

    def _check_budget(self) -> None:
        if time.monotonic() - self._started > self._limits.time_budget_s:
            raise VideoDecodeTimeout(
                f"reading the video took more than {self._limits.time_budget_s:g} s"
            )

    def _finish(
        self,
        stamps: list[float],
        thumbs: list[NDArray[np.uint8]],
        rotation: int,
        truncated: bool,
        fallback_step: float,
    ) -> VideoTimeline:
        limits = self._limits
        if not stamps:
            raise self._damaged()
        times = np.asarray(stamps, dtype=np.float64)
        steps = np.diff(times)
        positive = steps[steps > _EPS]
        # The last frame is shown for one frame interval too.
        step = float(np.median(positive)) if positive.size else fallback_step
        duration = float(times.max()) + step
        declared = self.metadata.declared_duration_s
        if declared is not None and duration < declared - max(0.5, 0.1 * declared):
            truncated = True
        if len(stamps) < limits.min_frames or duration < limits.min_duration_s:
            raise VideoTooShort(
                f"the video has {len(stamps)} frames over {duration:.2f} s; at least "
                f"{limits.min_frames} frames and {limits.min_duration_s:g} s are needed"
            )
        side = limits.thumbnail_side
        return VideoTimeline(
            timestamps=times,
            thumbnails=np.stack(thumbs) if thumbs else np.zeros((0, side, side), np.uint8),
            rotation=rotation,
            truncated=truncated or self._truncated_hint,
            duration_s=duration,
            decode_ms=(time.monotonic() - self._started) * 1000.0,
        )


def open_video(source: VideoSource, *, limits: VideoLimits) -> VideoReader:
    """Check bytes, format, codec, size, duration and frame rate from the header; open the clip.

    Raises a biometrics.errors.VideoError subclass for anything that is not an acceptable clip.
    """
    started = time.monotonic()
    data = _read_source(source, limits=limits)
    container_format = sniff_video_format(data)
    truncated_hint = container_format == "mp4" and _mp4_truncated(data)
    try:
        container = av.open(
            io.BytesIO(data), mode="r", format=_DEMUXER[container_format], metadata_errors="ignore"
        )
    except av.error.FFmpegError as exc:
        if truncated_hint:
            raise TruncatedVideo(
                "the video is incomplete: the upload may have been cut short"
            ) from exc
        raise CorruptVideo("the video is damaged or not what its header says") from exc
    try:
        metadata = _check_header(container, container_format, len(data), limits)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
    except BaseException:
        container.close()
        raise
    return VideoReader(
        container=container,
        metadata=metadata,
        limits=limits,
        truncated_hint=truncated_hint,
        started=started,
    )


def decode_video(source: VideoSource, *, limits: VideoLimits) -> DecodedVideo:
    """Read a whole clip into memory: sampled frames, timeline and metadata.

    Holds every sampled frame at once; analysis code streams VideoReader.frames() instead.
    """
    with open_video(source, limits=limits) as reader:
        frames = tuple(reader.frames())
        return DecodedVideo(metadata=reader.metadata, frames=frames, timeline=reader.timeline)


def sniff_video_format(data: bytes) -> ContainerFormat:
    """Tell the container from the first bytes; the file name and declared type are not trusted."""
    if data[:4] == _EBML_MAGIC:
        return "webm"
    if data[4:8] in _MP4_FIRST_BOXES:
        return "mp4"
    if data.startswith(_IMAGE_MAGIC):
        raise NotAVideo("the file is a picture, not a video")
    raise NotAVideo("the file is not an MP4, MOV or WebM video")


def _read_source(source: VideoSource, *, limits: VideoLimits) -> bytes:
    if isinstance(source, bytes):
        data = source
    else:
        # The size is checked before a byte is read.
        size = os.stat(source).st_size
        if size > limits.max_bytes:
            raise VideoFileTooLarge(f"the video is larger than {limits.max_bytes} bytes")
        with open(source, "rb") as handle:
            data = handle.read(limits.max_bytes + 1)
    if not data:
        raise EmptyVideo("the video file is empty")
    if len(data) > limits.max_bytes:
        raise VideoFileTooLarge(f"the video is larger than {limits.max_bytes} bytes")
    return data


def _mp4_truncated(data: bytes) -> bool:
    """True when the top-level boxes run past the end of the bytes or the index is missing.

    Phones write the moov index last, so an upload cut short usually has no index at all.
    """
    pos, end, seen_index = 0, len(data), False
    while pos + 8 <= end:
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        header = 8
        if size == 1:
            if pos + 16 > end:
                return True
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            return False  # not a box structure: the demuxer gives the verdict
        if pos + size > end:
            return True
        seen_index = seen_index or kind in (b"moov", b"moof")
        pos += size
    return pos != end or not seen_index


def _check_header(
    container: Any, container_format: ContainerFormat, byte_size: int, limits: VideoLimits
) -> VideoMetadata:
    if not container.streams.video:
        raise NotAVideo("the file has no video track")
    stream = container.streams.video[0]
    context = stream.codec_context
    width, height = int(context.width or 0), int(context.height or 0)
    if width * height > limits.max_pixels:
        raise VideoResolutionTooLarge(
            f"the video has {width}x{height} pixels per frame, more than {limits.max_pixels}"
        )
    codec = str(context.name)
    if codec not in limits.allowed_codecs:
        raise UnsupportedVideoCodec(f"video encoded as {codec} is not accepted")
    if width <= 0 or height <= 0:
        raise CorruptVideo("the video header declares no frame size")
    if min(width, height) < limits.min_side:
        raise VideoResolutionTooSmall(
            f"the video is {width}x{height}, smaller than {limits.min_side} pixels on a side"
        )
    duration = _declared_duration(container, stream)
    if duration is not None and duration > limits.max_duration_s:
        raise VideoTooLong(
            f"the video lasts {duration:.1f} s, longer than {limits.max_duration_s:g} s"
        )
    frames = int(stream.frames or 0) or None
    if frames is not None and frames < limits.min_frames:
        raise VideoTooShort(f"the video has {frames} frames; {limits.min_frames} are needed")
    if duration is not None and 0.0 < duration < limits.min_duration_s:
        raise VideoTooShort(f"the video lasts {duration:.2f} s; {limits.min_duration_s:g} needed")
    fps = float(stream.average_rate) if stream.average_rate else None
    # MP4 derives the average rate from the index; WebM from a browser often declares none or
    # a time-base rate, so there the rate is only enforced while decoding.
    if container_format == "mp4" and fps is not None and fps > limits.max_fps:
        raise FrameRateTooHigh(f"the video has {fps:g} frames/s, more than {limits.max_fps:g}")
    tags = {str(k).lower(): str(v) for k, v in dict(container.metadata).items()}
    tags.update({f"stream:{str(k).lower()}": str(v) for k, v in dict(stream.metadata).items()})
    return VideoMetadata(
        container=container_format,
        codec=codec,
        coded_width=width,
        coded_height=height,
        declared_fps=fps,
        declared_duration_s=duration,
        declared_frames=frames,
        byte_size=byte_size,
        tags=tags,
    )


def _declared_duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        value = float(stream.duration * stream.time_base)
        if value > 0:
            return value
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / 1_000_000.0
    return None


def _quarter_turns(rotation: float | int | None) -> int:
    """Counter-clockwise quarter turns that make a frame upright (phones store it sideways)."""
    if not rotation:
        return 0
    return round(float(rotation) / 90.0) % 4


def _picture(frame: Any, rotation: int, max_side: int) -> RGBImage:
    width, height = int(frame.width), int(frame.height)
    ratio = min(1.0, max_side / max(width, height))
    size = {"width": max(1, round(width * ratio)), "height": max(1, round(height * ratio))}
    pixels = frame.to_ndarray(format="rgb24", interpolation="AREA", **size)
    turns = _quarter_turns(rotation)
    if turns:
        pixels = np.rot90(pixels, k=turns)
    return np.ascontiguousarray(pixels, dtype=np.uint8)


def _thumbnail(frame: Any, side: int) -> NDArray[np.uint8]:
    """A grey side x side thumbnail from a strided view of the luma plane: no colour conversion."""
    width, height = int(frame.width), int(frame.height)
    if frame.format.name not in _EIGHT_BIT_LUMA_FIRST:
        grey = frame.to_ndarray(format="gray", width=side, height=side, interpolation="AREA")
        return np.ascontiguousarray(grey, dtype=np.uint8)
    plane = frame.planes[0]
    luma = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
    step = max(1, min(width, height) // side)
    view = np.ascontiguousarray(luma[:height:step, :width:step])
    small = cv2.resize(view, (side, side), interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.uint8)
