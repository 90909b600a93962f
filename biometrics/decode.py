"""Turn uploaded photo bytes into an upright RGB array of working size, refusing bad files early."""

from __future__ import annotations

import io
import math
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Literal

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from biometrics.errors import (
    AnimatedImage,
    CorruptImage,
    DecoderBusy,
    EmptyFile,
    FileTooLarge,
    ImageTooDense,
    ImageTooLarge,
    ImageTooSmall,
    UnsupportedFormat,
)

ImageFormat = Literal["jpeg", "png", "webp", "heif"]
RGBImage = NDArray[np.uint8]

_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
)
_PIL_FORMAT: dict[ImageFormat, str] = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
# EXIF orientations 5-8 swap width and height.
_TRANSPOSING_ORIENTATIONS = frozenset({5, 6, 7, 8})


@dataclass(frozen=True)
class DecodeLimits:
    """What an upload may be; every number is checked before the costly step it protects."""

    max_bytes: int = 25 * 1024 * 1024
    # Header pixel count; JPEGs are decoded with DCT scaling so they may be larger than
    # formats that must be decoded in full.
    max_pixels: int = 120_000_000
    max_full_decode_pixels: int = 50_000_000
    min_side: int = 64
    # Faces the selfie gate accepts stay wider than the embedding's 150 px chip needs, and
    # DCT scaling reaches this size from 12 MP at 1/4 scale.
    working_max_side: int = 1280
    # Photos hold a few pixels per byte (a flat JPEG at most a few hundred); a file that
    # declares thousands is a decompression bomb. Below density_floor_pixels a decode is
    # cheap whatever the ratio.
    max_pixels_per_byte: float = 1000.0
    density_floor_pixels: int = 2_000_000

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_pixels <= 0 or self.working_max_side <= 0:
            raise ValueError("limits must be positive")
        if self.max_pixels_per_byte <= 0:
            raise ValueError("max_pixels_per_byte must be positive")
        if self.max_full_decode_pixels > self.max_pixels:
            raise ValueError("max_full_decode_pixels cannot exceed max_pixels")


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB picture at working size, and how it relates to the uploaded one."""

    pixels: RGBImage
    format: ImageFormat
    original_width: int
    original_height: int

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def scale(self) -> float:
        """Multiply working-image coordinates by this to get original-photo coordinates."""
        return self.original_width / self.width


class DecodeSlots:
    """A bound on how many photos one process decodes at once, so parallel uploads cannot
    add up to more memory than the machine has; a caller waits its turn for wait_seconds."""

    def __init__(self, max_concurrent: int, *, wait_seconds: float) -> None:
        if max_concurrent < 1 or wait_seconds < 0:
            raise ValueError("max_concurrent must be at least 1 and wait_seconds not negative")
        self.max_concurrent = max_concurrent
        self.wait_seconds = wait_seconds
        self._semaphore = threading.BoundedSemaphore(max_concurrent)

    @contextmanager
    def turn(self) -> Iterator[None]:
        if not self._semaphore.acquire(timeout=self.wait_seconds):
            raise DecoderBusy("the server is decoding too many photos right now; try again soon")
        try:
            yield
        finally:
            self._semaphore.release()


# The process-wide bound used by decode_image; the application sizes it from its settings.
_slots = DecodeSlots(4, wait_seconds=10.0)


def set_decode_concurrency(max_concurrent: int, *, wait_seconds: float) -> None:
    """Bound this process's concurrent decodes (decodes already running keep their slot)."""
    global _slots
    _slots = DecodeSlots(max_concurrent, wait_seconds=wait_seconds)


def decode_slots() -> DecodeSlots:
    return _slots


def read_limited(stream: BinaryIO, *, max_bytes: int, chunk_size: int = 1 << 20) -> bytes:
    """Read an upload but never more than max_bytes + 1 bytes of it."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(chunk_size, max_bytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise FileTooLarge(f"the file is larger than {max_bytes} bytes")
    return b"".join(chunks)


def sniff_format(data: bytes) -> ImageFormat:
    """Tell the format from the first bytes; the file name and declared type are not trusted."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "heif"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        _refuse_gif(data)
    raise UnsupportedFormat("the file is not a JPEG, PNG, WebP or HEIC photo")


def decode_image(data: bytes, *, limits: DecodeLimits) -> DecodedImage:
    """Decode a photo to an upright RGB array no larger than limits.working_max_side."""
    if not data:
        raise EmptyFile("the file is empty")
    if len(data) > limits.max_bytes:
        raise FileTooLarge(f"the file is larger than {limits.max_bytes} bytes")
    fmt = sniff_format(data)
    with _slots.turn():
        if fmt == "heif":
            image = _open_heif(data, limits)
            raw_width, raw_height = image.size
        else:
            image, (raw_width, raw_height) = _open_pillow(data, fmt, limits)
        orientation = _orientation(image)
        try:
            if orientation != 1:
                image = ImageOps.exif_transpose(image)
            rgb = _to_rgb(image)
        except (OSError, SyntaxError, ValueError, zlib.error) as exc:
            raise CorruptImage("the photo is damaged or incomplete") from exc
        if orientation in _TRANSPOSING_ORIENTATIONS:
            raw_width, raw_height = raw_height, raw_width
        if min(raw_width, raw_height) < limits.min_side:
            raise ImageTooSmall(f"the photo is smaller than {limits.min_side} pixels on a side")
        pixels = _shrink(np.asarray(rgb, dtype=np.uint8), limits.working_max_side)
    return DecodedImage(
        pixels=np.ascontiguousarray(pixels),
        format=fmt,
        original_width=raw_width,
        original_height=raw_height,
    )


def _refuse_gif(data: bytes) -> None:
    try:
        with Image.open(io.BytesIO(data), formats=["GIF"]) as gif:
            animated = bool(getattr(gif, "is_animated", False))
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptImage("the GIF file is damaged") from exc
    if animated:
        raise AnimatedImage("animated pictures are not accepted; send a single photo")
    raise UnsupportedFormat("GIF pictures are not accepted; send a JPEG, PNG, WebP or HEIC photo")


def inspect_image(data: bytes, *, limits: DecodeLimits) -> tuple[ImageFormat, int, int]:
    """Format, width and height from the header alone, after every check decode_image makes
    before decoding (bytes, format, pixels, density); nothing is decoded."""
    if not data:
        raise EmptyFile("the file is empty")
    if len(data) > limits.max_bytes:
        raise FileTooLarge(f"the file is larger than {limits.max_bytes} bytes")
    fmt = sniff_format(data)
    if fmt == "heif":
        import pillow_heif

        try:
            width, height = pillow_heif.open_heif(data, convert_hdr_to_8bit=True).size
        except (ValueError, RuntimeError, OSError, EOFError, SyntaxError) as exc:
            raise CorruptImage("the HEIC photo is damaged or incomplete") from exc
    else:
        try:
            with Image.open(io.BytesIO(data), formats=[_PIL_FORMAT[fmt]]) as image:
                width, height = image.size
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge("the photo has far too many pixels") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise CorruptImage("the photo is damaged or not what its header says") from exc
    # The bomb is named as such first: that is the more useful diagnosis than "too large".
    _check_density(width, height, size=len(data), limits=limits)
    _check_pixels(width, height, limit=limits.max_pixels)
    if fmt != "jpeg":
        _check_pixels(width, height, limit=limits.max_full_decode_pixels)
    return fmt, width, height


def _check_pixels(width: int, height: int, *, limit: int) -> None:
    if width * height > limit:
        raise ImageTooLarge(f"the photo has {width}x{height} pixels, more than {limit} allowed")


def _check_density(width: int, height: int, *, size: int, limits: DecodeLimits) -> None:
    pixels = width * height
    if pixels > limits.density_floor_pixels and pixels > limits.max_pixels_per_byte * size:
        raise ImageTooDense(
            f"the file declares {width}x{height} pixels in only {size} bytes "
            f"({pixels / max(size, 1):.0f} pixels per byte, at most "
            f"{limits.max_pixels_per_byte:.0f} allowed); send an ordinary photo"
        )


def _open_pillow(
    data: bytes, fmt: ImageFormat, limits: DecodeLimits
) -> tuple[Image.Image, tuple[int, int]]:
    """The loaded (for big JPEGs, DCT-scaled) image and the size its header declares."""
    try:
        # Image.open reads only the header, so the size checks below cost no decoding.
        image = Image.open(io.BytesIO(data), formats=[_PIL_FORMAT[fmt]])
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge("the photo has far too many pixels") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptImage("the photo is damaged or not what its header says") from exc
    width, height = image.size
    _check_pixels(width, height, limit=limits.max_pixels)
    # MPO phone JPEGs carry depth maps or previews as extra frames; frame 0 is the photo.
    if fmt != "jpeg" and getattr(image, "is_animated", False):
        raise AnimatedImage("animated pictures are not accepted; send a single photo")
    if fmt == "jpeg":
        ratio = limits.working_max_side / max(width, height)
        if ratio < 1.0:
            # DCT scaling decodes at 1/2, 1/4 or 1/8 size: a 36 MP photo costs a fraction
            # of a full decode in time and memory.
            image.draft("RGB", (math.ceil(width * ratio), math.ceil(height * ratio)))
        drafted_w, drafted_h = image.size
        _check_pixels(drafted_w, drafted_h, limit=limits.max_full_decode_pixels)
    else:
        _check_pixels(width, height, limit=limits.max_full_decode_pixels)
    _check_density(width, height, size=len(data), limits=limits)
    try:
        image.load()
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge("the photo has far too many pixels") from exc
    except (OSError, SyntaxError, ValueError, zlib.error) as exc:
        raise CorruptImage("the photo is damaged or incomplete") from exc
    return image, (width, height)


def _open_heif(data: bytes, limits: DecodeLimits) -> Image.Image:
    import pillow_heif  # imported here: only HEIC uploads pay for loading libheif

    try:
        heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
        if len(heif) == 0:
            raise CorruptImage("the HEIC file holds no picture")
        if len(heif) > 1:
            raise AnimatedImage("HEIC files with several pictures are not accepted")
        width, height = heif.size
        _check_pixels(width, height, limit=limits.max_full_decode_pixels)
        _check_density(width, height, size=len(data), limits=limits)
        # libheif applies the container's rotation itself and resets the EXIF tag to 1.
        return heif.to_pillow()
    except (ValueError, RuntimeError, OSError, EOFError, SyntaxError) as exc:
        raise CorruptImage("the HEIC photo is damaged or incomplete") from exc


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except (OSError, SyntaxError, ValueError, TypeError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        image = Image.fromarray(_to_uint8(np.asarray(image)), mode="L")
        mode = "L"
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode == "PA":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "RGBa", "La"):
        # Transparent areas would otherwise turn black and darken the brightness checks.
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _to_uint8(values: NDArray[np.generic]) -> NDArray[np.uint8]:
    array = values.astype(np.float64)
    top = float(array.max()) if array.size else 0.0
    if values.dtype.kind == "f" and top <= 1.0:
        array = array * 255.0
    elif top > 255.0:
        # 16-bit samples: keep the high byte.
        array = array / 257.0
    return np.clip(np.rint(array), 0, 255).astype(np.uint8)


def _shrink(pixels: RGBImage, max_side: int) -> RGBImage:
    height, width = pixels.shape[:2]
    ratio = max_side / max(height, width)
    if ratio >= 1.0:
        return pixels
    size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    return np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
