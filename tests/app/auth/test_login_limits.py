"""Pensioner login cannot be brute-forced: atomic try counter under concurrency, rate limits."""

from __future__ import annotations

import asyncio
import re
import threading

import httpx
import pytest
from sqlmodel import Session, select

from app.auth import service as auth_service
from app.config import Settings
from models.otp import OtpCode
from tests.conftest import Factory

CODE_URL = "/api/v1/auth/pensioner/code"
TOKEN_URL = "/api/v1/auth/pensioner/token"


def _code_sent(settings: Settings) -> str:
    [message] = list(settings.outbox_dir.glob("*.txt"))
    return re.search(r"\b(\d{6})\b", message.read_text()).group(1)  # type: ignore[union-attr]


@pytest.fixture
def generous_login_limits(settings: Settings) -> Settings:
    # The rate limits would stop the burst early; this test is about the try counter alone.
    settings.otp_login_rate_per_id = "1000/minute"
    settings.otp_login_rate_per_client = "1000/minute"
    return settings


async def test_concurrent_wrong_codes_cannot_exceed_the_try_limit(
    generous_login_limits: Settings,
    client: httpx.AsyncClient,
    factory: Factory,
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = generous_login_limits
    pensioner = factory.pensioner()
    await client.post(CODE_URL, json={"national_id": pensioner.national_id})
    code = _code_sent(settings)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    compared = 0
    lock = threading.Lock()
    real_matches = auth_service.otp_matches

    def counting_matches(*args: object, **kwargs: object) -> bool:
        nonlocal compared
        with lock:
            compared += 1
        return real_matches(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(auth_service, "otp_matches", counting_matches)
    body = {"national_id": pensioner.national_id, "code": wrong}
    responses = await asyncio.gather(*(client.post(TOKEN_URL, json=body) for _ in range(60)))

    assert {r.status_code for r in responses} == {401}
    # Only as many guesses as the limit were ever compared with the code.
    assert compared == settings.otp_max_attempts
    db.expire_all()
    otp = db.exec(select(OtpCode).where(OtpCode.pensioner_id == pensioner.id)).one()
    assert otp.attempts == settings.otp_max_attempts
    right = await client.post(TOKEN_URL, json={"national_id": pensioner.national_id, "code": code})
    assert right.status_code == 401
    assert compared == settings.otp_max_attempts


async def test_the_same_code_sent_twice_at_once_logs_in_once(
    generous_login_limits: Settings, client: httpx.AsyncClient, factory: Factory
) -> None:
    pensioner = factory.pensioner()
    await client.post(CODE_URL, json={"national_id": pensioner.national_id})
    body = {"national_id": pensioner.national_id, "code": _code_sent(generous_login_limits)}
    responses = await asyncio.gather(*(client.post(TOKEN_URL, json=body) for _ in range(8)))
    assert sorted(r.status_code for r in responses) == [200] + [401] * 7


@pytest.fixture
def strict_id_limit(settings: Settings) -> Settings:
    settings.otp_login_rate_per_id = "3/10 minutes"
    return settings


async def test_login_tries_are_rate_limited_per_id_registered_or_not(
    strict_id_limit: Settings, client: httpx.AsyncClient, factory: Factory
) -> None:
    registered = factory.pensioner().national_id
    for national_id in (registered, "11010519491231002X"):
        body = {"national_id": national_id, "code": "000000"}
        statuses = [(await client.post(TOKEN_URL, json=body)).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
    limited = await client.post(TOKEN_URL, json={"national_id": registered, "code": "000000"})
    assert limited.json()["error"] == "RateLimited"
    # The client is told when to come back instead of being left to guess.
    assert limited.headers["Retry-After"] == "60"


@pytest.fixture
def strict_client_limit(settings: Settings) -> Settings:
    settings.otp_login_rate_per_client = "3/hour"
    return settings


async def test_login_tries_are_rate_limited_per_client_address(
    strict_client_limit: Settings, client: httpx.AsyncClient, factory: Factory
) -> None:
    ids = [factory.pensioner().national_id for _ in range(4)]
    statuses = [
        (await client.post(TOKEN_URL, json={"national_id": nid, "code": "123456"})).status_code
        for nid in ids
    ]
    assert statuses == [401, 401, 401, 429]
