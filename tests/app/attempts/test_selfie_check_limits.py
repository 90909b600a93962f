"""Preview checks cannot be used to exhaust memory: pixel cap, bomb refusal, bounded decodes."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image, ImageFile

from app.config import Settings
from biometrics import decode as decode_module
from tests.conftest import Factory
from tests.samples import png_bomb

BASE = "/api/v1/certifications/attempts"
BOMB = png_bomb(7000, 7000)


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    loads: list[str] = []
    real_load = ImageFile.ImageFile.load

    def recording_load(self: ImageFile.ImageFile) -> object:
        loads.append(self.format or "?")
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    return loads


async def _check(client: httpx.AsyncClient, factory: Factory, photo: bytes) -> httpx.Response:
    pensioner = factory.pensioner()
    attempt = factory.attempt(pensioner)
    return await client.post(
        f"{BASE}/{attempt.id}/selfie-check",  # type: ignore[attr-defined]
        files={"selfie": ("s.png", photo, "image/png")},
        headers=factory.auth(pensioner, "pensioner"),
    )


async def test_the_7000x7000_png_bomb_is_refused_before_decoding(
    client: httpx.AsyncClient, factory: Factory, no_decoding: list[str]
) -> None:
    response = await _check(client, factory, BOMB)
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "ImageTooDense"
    assert "7000x7000" in response.json()["detail"]
    assert no_decoding == []


async def test_a_preview_over_12_megapixels_is_refused_from_its_header(
    client: httpx.AsyncClient, factory: Factory, no_decoding: list[str]
) -> None:
    big = _jpeg(Image.effect_noise((4200, 3000), 40).convert("RGB"))  # 12.6 MP, a real JPEG
    response = await _check(client, factory, big)
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "ImageTooLarge"
    assert "12000000" in response.json()["detail"]
    assert no_decoding == []


async def test_enrolment_refuses_the_bomb_as_too_dense(
    client: httpx.AsyncClient, factory: Factory, no_decoding: list[str]
) -> None:
    admin = factory.staff("admin")
    pensioner = factory.pensioner()
    response = await client.post(
        f"/api/v1/pensioners/{pensioner.id}/faces",  # type: ignore[attr-defined]
        files={"photo": ("p.png", BOMB, "image/png")},
        headers=factory.auth(admin),
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "ImageTooDense"
    assert no_decoding == []


@pytest.fixture
def one_decode_at_a_time(settings: Settings) -> Settings:
    settings.max_concurrent_decodes = 1
    settings.decode_wait_seconds = 0.05
    return settings


async def test_decodes_beyond_the_bound_wait_then_get_503(
    one_decode_at_a_time: Settings, client: httpx.AsyncClient, factory: Factory
) -> None:
    photo = _jpeg(Image.new("RGB", (640, 480), (128, 128, 128)))
    # The app sized the process's decode slots from its settings; another decode holds the one.
    slots = decode_module.decode_slots()
    assert slots.max_concurrent == 1
    with slots.turn():
        busy = await _check(client, factory, photo)
    assert busy.status_code == 503, busy.text
    assert busy.json()["error"] == "DecoderBusy"
    assert busy.headers["Retry-After"] == "5"
    free = await _check(client, factory, photo)
    assert free.status_code == 200, free.text
