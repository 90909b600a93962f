"""Decoding: every refused file with a real or generated example, and every accepted mode."""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from PIL import Image

from biometrics import (
    AnimatedImage,
    CorruptImage,
    DecodeLimits,
    DlibFaceEngine,
    EmptyFile,
    FileTooLarge,
    ImageTooLarge,
    ImageTooSmall,
    UnsupportedFormat,
    decode_image,
    read_limited,
)
from tests.samples import encode, png_bomb


class HugeUpload(io.RawIOBase):
    """A 100 MB upload that counts how much of it was read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.size - self.served)
        buffer[:n] = b"\xff" * n
        self.served += n
        return n


@pytest.fixture(scope="module")
def obama(fixtures_dir: Path) -> Image.Image:
    return Image.open(fixtures_dir / "faces" / "fr_obama" / "1.jpg").convert("RGB")


def test_zero_bytes_is_empty_file(limits: DecodeLimits) -> None:
    with pytest.raises(EmptyFile) as caught:
        decode_image(b"", limits=limits)
    assert caught.value.code == "empty_file"


def test_text_file_named_jpg_is_unsupported(tmp_path: Path, limits: DecodeLimits) -> None:
    fake = tmp_path / "photo.jpg"
    fake.write_text("this is not a photo\n" * 20)
    with pytest.raises(UnsupportedFormat):
        decode_image(fake.read_bytes(), limits=limits)


def test_unknown_binary_format_is_unsupported(obama: Image.Image, limits: DecodeLimits) -> None:
    with pytest.raises(UnsupportedFormat):
        decode_image(encode(obama, "BMP"), limits=limits)


def test_format_comes_from_content_not_name(
    tmp_path: Path, obama: Image.Image, limits: DecodeLimits
) -> None:
    misnamed = tmp_path / "photo.jpg"
    misnamed.write_bytes(encode(obama, "PNG"))
    decoded = decode_image(misnamed.read_bytes(), limits=limits)
    assert decoded.format == "png"
    assert decoded.pixels.shape == (obama.height, obama.width, 3)


@pytest.mark.parametrize("kept", [0.3, 0.7, 0.97])
def test_truncated_jpeg_is_corrupt(fixtures_dir: Path, limits: DecodeLimits, kept: float) -> None:
    data = (fixtures_dir / "faces" / "fr_obama" / "1.jpg").read_bytes()
    with pytest.raises(CorruptImage):
        decode_image(data[: int(len(data) * kept)], limits=limits)


def test_truncated_big_jpeg_is_corrupt_with_dct_scaling(
    fixtures_dir: Path, limits: DecodeLimits
) -> None:
    data = (fixtures_dir / "faces" / "compreface_A" / "4.jpg").read_bytes()
    with pytest.raises(CorruptImage):
        decode_image(data[: len(data) // 2], limits=limits)


def test_png_bomb_is_refused_from_the_header(limits: DecodeLimits) -> None:
    bomb = png_bomb(30_000, 30_000)  # 900 MP, beyond Pillow's own bomb limit
    assert len(bomb) < 1_000_000
    with pytest.raises(ImageTooLarge):
        decode_image(bomb, limits=limits)


def test_png_over_our_full_decode_limit_is_refused(limits: DecodeLimits) -> None:
    bomb = png_bomb(8_000, 8_000)  # 64 MP: Pillow would decode it, our limit does not
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(bomb, limits=limits)
    assert caught.value.code == "image_too_large"


def test_jpeg_header_with_too_many_pixels_is_refused(
    obama: Image.Image, limits: DecodeLimits
) -> None:
    data = bytearray(encode(obama, "JPEG"))
    sof = data.find(b"\xff\xc0")
    assert sof > 0
    # Height and width of the frame header say 11000 x 11000 = 121 MP.
    data[sof + 5 : sof + 9] = struct.pack(">HH", 11_000, 11_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(ImageTooLarge):
            decode_image(bytes(data), limits=limits)


def test_100_mb_upload_is_refused_without_reading_it_all(limits: DecodeLimits) -> None:
    upload = HugeUpload(100 * 1024 * 1024)
    with pytest.raises(FileTooLarge):
        read_limited(io.BufferedReader(upload), max_bytes=limits.max_bytes)
    assert upload.served <= limits.max_bytes + io.DEFAULT_BUFFER_SIZE + (1 << 20)


def test_bytes_over_the_limit_are_refused_before_decoding() -> None:
    small = DecodeLimits(max_bytes=1000)
    with pytest.raises(FileTooLarge):
        decode_image(b"\xff\xd8\xff" + b"\x00" * 1000, limits=small)


def test_read_limited_returns_a_small_upload_whole() -> None:
    assert read_limited(io.BytesIO(b"abc"), max_bytes=3) == b"abc"


def _frames(obama: Image.Image) -> list[Image.Image]:
    small = obama.resize((120, 150))
    return [small, small.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]


def test_gif_animation_is_refused(obama: Image.Image, limits: DecodeLimits) -> None:
    first, second = _frames(obama)
    gif = encode(first, "GIF", save_all=True, append_images=[second], duration=100)
    with pytest.raises(AnimatedImage) as caught:
        decode_image(gif, limits=limits)
    assert caught.value.code == "animated_image"


def test_still_gif_is_unsupported(obama: Image.Image, limits: DecodeLimits) -> None:
    with pytest.raises(UnsupportedFormat):
        decode_image(encode(obama.resize((120, 150)), "GIF"), limits=limits)


def test_apng_is_refused(obama: Image.Image, limits: DecodeLimits) -> None:
    first, second = _frames(obama)
    apng = encode(first, "PNG", save_all=True, append_images=[second])
    with pytest.raises(AnimatedImage):
        decode_image(apng, limits=limits)


def test_animated_webp_is_refused(obama: Image.Image, limits: DecodeLimits) -> None:
    first, second = _frames(obama)
    webp = encode(first, "WEBP", save_all=True, append_images=[second], duration=100)
    with pytest.raises(AnimatedImage):
        decode_image(webp, limits=limits)


def test_still_webp_decodes(obama: Image.Image, limits: DecodeLimits) -> None:
    decoded = decode_image(encode(obama, "WEBP", quality=90), limits=limits)
    assert decoded.format == "webp"
    assert decoded.pixels.shape == (obama.height, obama.width, 3)


def test_cmyk_jpeg_becomes_rgb(obama: Image.Image, limits: DecodeLimits) -> None:
    decoded = decode_image(encode(obama.convert("CMYK"), "JPEG", quality=95), limits=limits)
    assert decoded.pixels.dtype == np.uint8
    assert decoded.pixels.shape == (obama.height, obama.width, 3)
    difference = np.abs(decoded.pixels.astype(int) - np.asarray(obama, dtype=int)).mean()
    assert difference < 8


def test_16_bit_png_keeps_its_tones(obama: Image.Image, limits: DecodeLimits) -> None:
    grey = np.asarray(obama.convert("L"), dtype=np.uint16)
    deep = Image.fromarray(grey * 257)
    assert deep.mode.startswith("I")
    data = encode(deep, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    decoded = decode_image(data, limits=limits)
    assert decoded.pixels.shape == (*grey.shape, 3)
    assert np.abs(decoded.pixels[..., 0].astype(int) - grey.astype(int)).max() <= 1


def test_rgba_png_is_composited_on_white(obama: Image.Image, limits: DecodeLimits) -> None:
    rgba = obama.convert("RGBA")
    alpha = np.full((obama.height, obama.width), 255, dtype=np.uint8)
    alpha[:, : obama.width // 4] = 0
    rgba.putalpha(Image.fromarray(alpha))
    decoded = decode_image(encode(rgba, "PNG"), limits=limits)
    assert (decoded.pixels[:, : obama.width // 4] == 255).all()
    assert np.array_equal(
        decoded.pixels[:, obama.width // 2 :], np.asarray(obama)[:, obama.width // 2 :]
    )


@pytest.mark.parametrize("mode", ["LA", "P", "L", "1"])
def test_other_modes_become_rgb(obama: Image.Image, limits: DecodeLimits, mode: str) -> None:
    decoded = decode_image(encode(obama.convert(mode), "PNG"), limits=limits)
    assert decoded.pixels.shape == (obama.height, obama.width, 3)
    assert decoded.pixels.dtype == np.uint8


def test_palette_png_with_transparency(obama: Image.Image, limits: DecodeLimits) -> None:
    palette = obama.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    decoded = decode_image(encode(palette, "PNG", transparency=0), limits=limits)
    assert decoded.pixels.shape == (obama.height, obama.width, 3)


def test_heic_round_trip(obama: Image.Image, limits: DecodeLimits, engine: DlibFaceEngine) -> None:
    buffer = io.BytesIO()
    pillow_heif.from_pillow(obama).save(buffer, quality=85)
    decoded = decode_image(buffer.getvalue(), limits=limits)
    assert decoded.format == "heif"
    assert decoded.pixels.shape == (obama.height, obama.width, 3)
    difference = np.abs(decoded.pixels.astype(int) - np.asarray(obama, dtype=int)).mean()
    assert difference < 8
    assert len(engine.detect(decoded.pixels)) == 1


def test_truncated_heic_is_corrupt(obama: Image.Image, limits: DecodeLimits) -> None:
    buffer = io.BytesIO()
    pillow_heif.from_pillow(obama).save(buffer, quality=85)
    with pytest.raises(CorruptImage):
        decode_image(buffer.getvalue()[: len(buffer.getvalue()) // 2], limits=limits)


@pytest.mark.parametrize(
    ("stored", "orientation"),
    [
        (Image.Transpose.ROTATE_90, 6),
        (Image.Transpose.ROTATE_270, 8),
        (Image.Transpose.ROTATE_180, 3),
    ],
)
def test_exif_orientation_is_applied(
    obama: Image.Image,
    limits: DecodeLimits,
    engine: DlibFaceEngine,
    stored: Image.Transpose,
    orientation: int,
) -> None:
    # The sensor stores the picture turned; the tag says how to turn it upright.
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(obama.transpose(stored), "JPEG", quality=92, exif=exif.tobytes())
    decoded = decode_image(data, limits=limits)
    assert (decoded.original_width, decoded.original_height) == obama.size
    assert decoded.pixels.shape[:2] == (obama.height, obama.width)
    assert len(engine.detect(decoded.pixels)) == 1


def test_big_phone_jpeg_is_dct_scaled_to_working_size(
    fixtures_dir: Path, limits: DecodeLimits
) -> None:
    data = (fixtures_dir / "faces" / "compreface_A" / "2.jpg").read_bytes()
    decoded = decode_image(data, limits=limits)
    assert (decoded.original_width, decoded.original_height) == (3880, 5184)
    assert max(decoded.pixels.shape[:2]) == limits.working_max_side
    assert decoded.scale == pytest.approx(5184 / limits.working_max_side, rel=0.01)


def test_working_size_is_a_parameter(obama: Image.Image) -> None:
    decoded = decode_image(encode(obama, "JPEG"), limits=DecodeLimits(working_max_side=400))
    assert max(decoded.pixels.shape[:2]) == 400
    assert decoded.original_width == obama.width


def test_tiny_image_is_refused(limits: DecodeLimits) -> None:
    with pytest.raises(ImageTooSmall):
        decode_image(encode(Image.new("RGB", (20, 20), "white"), "PNG"), limits=limits)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        DecodeLimits(max_pixels=10, max_full_decode_pixels=20)
