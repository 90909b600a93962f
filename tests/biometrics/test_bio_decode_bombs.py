"""Decoding cannot exhaust memory: dense files refused from the header, decodes bounded."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from biometrics import DecodeLimits, decode_image
from biometrics import decode as decode_module
from biometrics.decode import DecodeSlots, inspect_image, set_decode_concurrency
from biometrics.errors import DecoderBusy, ImageTooDense, ImageTooLarge
from tests.samples import encode, png_bomb

BOMB = png_bomb(7000, 7000)  # a 1-bit PNG: about 6 KB that decodes to 49 MP (147 MB as RGB)
PREVIEW = DecodeLimits(max_pixels=12_000_000, max_full_decode_pixels=12_000_000)


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records any attempt to decode pixel data; refused files must never get there."""
    loads: list[str] = []
    real_load = ImageFile.ImageFile.load

    def recording_load(self: ImageFile.ImageFile) -> object:
        loads.append(self.format or "?")
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    return loads


@pytest.fixture
def restore_slots() -> Iterator[None]:
    before = decode_module.decode_slots()
    yield
    set_decode_concurrency(before.max_concurrent, wait_seconds=before.wait_seconds)


def test_a_6kb_7000x7000_png_is_refused_as_too_dense_before_decoding(
    no_decoding: list[str],
) -> None:
    assert len(BOMB) < 8 * 1024
    with pytest.raises(ImageTooDense) as caught:
        decode_image(BOMB, limits=DecodeLimits())
    assert caught.value.code == "image_too_dense"
    assert "7000x7000" in caught.value.message and "pixels per byte" in caught.value.message
    assert isinstance(caught.value, ImageTooLarge)  # mapped to 413 like any too-large photo
    assert no_decoding == []


def test_inspect_names_the_bomb_from_the_header_alone(no_decoding: list[str]) -> None:
    with pytest.raises(ImageTooDense):
        inspect_image(BOMB, limits=PREVIEW)
    assert no_decoding == []


def test_the_density_threshold_is_a_parameter(no_decoding: list[str]) -> None:
    lax = DecodeLimits(max_pixels_per_byte=1_000_000.0)
    assert inspect_image(BOMB, limits=lax) == ("png", 7000, 7000)
    assert no_decoding == []


def test_ordinary_photos_are_far_below_the_density_limit(fixtures_dir: Path) -> None:
    photo = Image.open(fixtures_dir / "faces" / "fr_obama" / "1.jpg").convert("RGB")
    # Even a flat, highly compressible 12 MP JPEG stays well under 1000 pixels per byte.
    flat = encode(Image.new("RGB", (4000, 3000), (200, 180, 170)), "JPEG", quality=85)
    for data in (encode(photo, "JPEG"), encode(photo, "PNG"), flat):
        fmt, width, height = inspect_image(data, limits=DecodeLimits())
        assert width * height / len(data) < 1000
    decoded = decode_image(flat, limits=DecodeLimits())
    assert decoded.original_width == 4000


def test_preview_pixel_cap_refuses_a_large_photo_from_the_header(no_decoding: list[str]) -> None:
    big = encode(Image.effect_noise((4200, 3000), 40).convert("RGB"), "JPEG", quality=80)
    loads_before = len(no_decoding)
    with pytest.raises(ImageTooLarge) as caught:
        inspect_image(big, limits=PREVIEW)
    assert caught.value.code == "image_too_large"
    assert len(no_decoding) == loads_before


def test_concurrent_decodes_are_bounded_per_process(
    restore_slots: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_decode_concurrency(2, wait_seconds=30.0)
    running = 0
    most = 0
    lock = threading.Lock()
    real_to_rgb = decode_module._to_rgb

    def slow_to_rgb(image: Image.Image) -> Image.Image:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return real_to_rgb(image)

    monkeypatch.setattr(decode_module, "_to_rgb", slow_to_rgb)
    photo = encode(Image.new("RGB", (640, 480), (90, 120, 150)), "PNG")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            decode_image(photo, limits=DecodeLimits())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert most == 2


def test_a_decode_that_waits_too_long_for_a_turn_is_refused(restore_slots: None) -> None:
    set_decode_concurrency(1, wait_seconds=0.05)
    photo = encode(Image.new("RGB", (640, 480), (90, 120, 150)), "PNG")
    with decode_module.decode_slots().turn(), pytest.raises(DecoderBusy) as caught:
        decode_image(photo, limits=DecodeLimits())
    assert caught.value.code == "decoder_busy"
    # The slot is free again afterwards.
    assert decode_image(photo, limits=DecodeLimits()).width == 640


def test_slots_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        DecodeSlots(0, wait_seconds=1.0)
