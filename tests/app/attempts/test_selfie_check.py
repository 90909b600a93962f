"""The preview check the page calls while the camera is open: hints before the upload."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import httpx
from PIL import Image
from sqlmodel import Session

from models.attempt import AttemptStatus, CertificationAttempt
from tests.conftest import FIXTURES, Factory

BASE = "/api/v1/certifications/attempts"
SELFIE = (FIXTURES / "faces" / "fr_obama" / "1.jpg").read_bytes()


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


async def _check(client: httpx.AsyncClient, factory: Factory, photo: bytes) -> httpx.Response:
    pensioner = factory.pensioner()
    attempt = factory.attempt(pensioner)
    return await client.post(
        f"{BASE}/{attempt.id}/selfie-check",  # type: ignore[attr-defined]
        files={"selfie": ("s.jpg", photo, "image/jpeg")},
        headers=factory.auth(pensioner, "pensioner"),
    )


async def test_a_good_photo_passes_and_says_where_the_face_is(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    response = await _check(client, factory, SELFIE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True and body["faces"] == 1 and body["hints"] == []
    face = body["face"]
    assert 0 < face["left"] < 1 and 0 < face["top"] < 1
    assert 0.05 < face["width"] < 1 and 0.05 < face["height"] < 1


async def test_a_far_away_face_gets_come_closer(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    # The same face pasted small in a large grey frame: too small for the selfie gate.
    face = Image.open(io.BytesIO(SELFIE)).convert("RGB")
    face.thumbnail((350, 350))
    canvas = Image.new("RGB", (1280, 960), (128, 128, 128))
    canvas.paste(face, (540, 380))
    response = await _check(client, factory, _jpeg(canvas))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is False
    issues = [h["issue"] for h in body["hints"]]
    assert "face_too_small" in issues, issues
    hint = body["hints"][issues.index("face_too_small")]
    assert hint["zh"] and hint["en"]


async def test_a_photo_without_a_face_says_so(client: httpx.AsyncClient, factory: Factory) -> None:
    response = await _check(client, factory, _jpeg(Image.new("RGB", (640, 480), (200, 180, 160))))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is False and body["faces"] == 0 and body["face"] is None
    assert [h["issue"] for h in body["hints"]] == ["no_face"]


async def test_a_corrupt_photo_is_a_named_error(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    response = await _check(client, factory, SELFIE[: len(SELFIE) // 3])
    assert response.status_code in (415, 422), response.text
    assert response.json()["detail"]
    text = await _check(client, factory, b"this is not a photo")
    assert text.status_code == 415, text.text
    assert "photo" in text.json()["detail"].lower() or "image" in text.json()["detail"].lower()


async def test_only_while_the_attempt_waits_for_its_upload(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    pensioner = factory.pensioner()
    headers = factory.auth(pensioner, "pensioner")
    files = {"selfie": ("s.jpg", SELFIE, "image/jpeg")}
    expired = factory.attempt(pensioner)
    assert isinstance(expired, CertificationAttempt)
    expired.challenge_expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.add(expired)
    used = factory.attempt(pensioner)
    assert isinstance(used, CertificationAttempt)
    used.status = AttemptStatus.processing
    db.add(used)
    db.commit()
    late = await client.post(f"{BASE}/{expired.id}/selfie-check", files=files, headers=headers)
    assert late.status_code == 410, late.text
    done = await client.post(f"{BASE}/{used.id}/selfie-check", files=files, headers=headers)
    assert done.status_code == 409, done.text
    assert "start a new one" in done.json()["detail"]


async def test_checks_are_rate_limited_per_attempt(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    pensioner = factory.pensioner()
    attempt = factory.attempt(pensioner)
    headers = factory.auth(pensioner, "pensioner")
    blank = _jpeg(Image.new("RGB", (64, 64), (0, 0, 0)))
    url = f"{BASE}/{attempt.id}/selfie-check"  # type: ignore[attr-defined]
    codes = [
        (
            await client.post(
                url, files={"selfie": ("s.jpg", blank, "image/jpeg")}, headers=headers
            )
        ).status_code
        for _ in range(31)
    ]
    assert codes[:30] == [200] * 30 and codes[30] == 429, codes
