"""Pensioner login with a one-time code: delivery, hashing, expiry, tries and rate limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, select

from app.config import Settings
from models.otp import OtpCode
from tests.conftest import Factory

CODE_URL = "/api/v1/auth/pensioner/code"
TOKEN_URL = "/api/v1/auth/pensioner/token"


def _codes_sent(settings: Settings) -> list[str]:
    files = sorted(settings.outbox_dir.glob("*.txt")) if settings.outbox_dir.exists() else []
    return [re.search(r"\b(\d{6})\b", f.read_text()).group(1) for f in files]  # type: ignore[union-attr]


async def test_code_is_sent_to_the_outbox_and_logs_in(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, db: Session
) -> None:
    pensioner = factory.pensioner(phone="13912345678")
    response = await client.post(CODE_URL, json={"national_id": pensioner.national_id})
    assert response.status_code == 202
    assert response.json()["expires_in"] == 300
    [code] = _codes_sent(settings)
    message = next(settings.outbox_dir.glob("*13912345678.txt")).read_text()
    assert "验证码" in message and code in message
    # Only a keyed hash is stored.
    stored = db.exec(select(OtpCode).where(OtpCode.pensioner_id == pensioner.id)).one()
    assert code not in stored.code_hash

    login = await client.post(TOKEN_URL, json={"national_id": pensioner.national_id, "code": code})
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["name"] == pensioner.name
    assert pensioner.national_id not in me.text  # masked

    reuse = await client.post(TOKEN_URL, json={"national_id": pensioner.national_id, "code": code})
    assert reuse.status_code == 401
    assert reuse.json()["error"] == "OtpExpired"


async def test_unknown_id_gets_the_same_answer_and_no_message(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.post(CODE_URL, json={"national_id": "11010519491231002X"})
    assert response.status_code == 202
    assert _codes_sent(settings) == []


async def test_malformed_id_is_explained(client: httpx.AsyncClient) -> None:
    response = await client.post(CODE_URL, json={"national_id": "110105194912310021"})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "ValidationError"
    assert body["fields"][0]["field"] == "national_id"
    assert "check character" in body["fields"][0]["message"]


async def test_wrong_codes_count_and_five_tries_end_the_code(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    pensioner = factory.pensioner()
    await client.post(CODE_URL, json={"national_id": pensioner.national_id})
    [code] = _codes_sent(settings)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for tries_left in (4, 3, 2, 1):
        response = await client.post(
            TOKEN_URL, json={"national_id": pensioner.national_id, "code": wrong}
        )
        assert response.status_code == 401
        assert response.json()["error"] == "OtpInvalid"
        assert response.json()["tries_left"] == tries_left
    last = await client.post(TOKEN_URL, json={"national_id": pensioner.national_id, "code": wrong})
    assert last.json()["error"] == "OtpInvalid"
    # The right code no longer works after five wrong tries.
    right = await client.post(TOKEN_URL, json={"national_id": pensioner.national_id, "code": code})
    assert right.status_code == 401
    assert right.json()["error"] == "OtpExpired"


async def test_expired_code_is_refused(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, db: Session
) -> None:
    pensioner = factory.pensioner()
    await client.post(CODE_URL, json={"national_id": pensioner.national_id})
    [code] = _codes_sent(settings)
    otp = db.exec(select(OtpCode).where(OtpCode.pensioner_id == pensioner.id)).one()
    otp.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.add(otp)
    db.commit()
    response = await client.post(
        TOKEN_URL, json={"national_id": pensioner.national_id, "code": code}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "OtpExpired"
    assert "new code" in response.json()["detail"]


async def test_a_new_code_replaces_the_old_one(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    pensioner = factory.pensioner()
    await client.post(CODE_URL, json={"national_id": pensioner.national_id})
    await client.post(CODE_URL, json={"national_id": pensioner.national_id})
    old, new = _codes_sent(settings)
    if old != new:
        stale = await client.post(
            TOKEN_URL, json={"national_id": pensioner.national_id, "code": old}
        )
        assert stale.status_code == 401
    fresh = await client.post(TOKEN_URL, json={"national_id": pensioner.national_id, "code": new})
    assert fresh.status_code == 200


async def test_code_requests_are_rate_limited_per_id(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    pensioner = factory.pensioner()
    statuses = [
        (await client.post(CODE_URL, json={"national_id": pensioner.national_id})).status_code
        for _ in range(4)
    ]
    assert statuses == [202, 202, 202, 429]
    assert len(_codes_sent(settings)) == 3


@pytest.fixture
def strict_client_limit(settings: Settings) -> Settings:
    settings.otp_rate_per_client = "2/hour"
    return settings


async def test_code_requests_are_rate_limited_per_client_address(
    strict_client_limit: Settings, client: httpx.AsyncClient, factory: Factory
) -> None:
    ids = [factory.pensioner().national_id for _ in range(3)]
    statuses = [(await client.post(CODE_URL, json={"national_id": nid})).status_code for nid in ids]
    assert statuses == [202, 202, 429]
    response = await client.post(CODE_URL, json={"national_id": ids[0]})
    assert response.json()["error"] == "RateLimited"
    assert "wait" in response.json()["detail"]


async def test_staff_token_is_not_a_pensioner_token(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    staff = factory.staff("admin")
    response = await client.get("/api/v1/me", headers=factory.auth(staff))
    assert response.status_code == 401
