"""Limits that survive a proxy and several processes: the global budgets shared by every client,
per-ID limits whatever address the tries come from, the client address taken from
X-Forwarded-For only from a trusted proxy, and the budgets counted in Redis across API
instances."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from pydantic import ValidationError

from app.config import Settings
from app.main import create_app
from biometrics import DlibFaceEngine
from tests.conftest import PASSWORD, Backend, Factory
from tests.redis_namespace import REDIS_URL, drop_namespace, new_namespace

CODE_URL = "/api/v1/auth/pensioner/code"
PENSIONER_TOKEN_URL = "/api/v1/auth/pensioner/token"
STAFF_TOKEN_URL = "/api/v1/auth/token"
ATTEMPTS_URL = "/api/v1/certifications/attempts"
GENEROUS = "1000/minute"


@asynccontextmanager
async def _client_from(app: FastAPI, peer: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose connection comes from `peer` (as a proxy's or a phone's would)."""
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def _forwarded(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


@pytest.fixture
def proxied(settings: Settings) -> Settings:
    """Behind a trusted proxy, with per-client and per-ID limits out of the way: only the
    limit a test sets is in play."""
    settings.trusted_proxies = ["127.0.0.1"]  # the test client connects from 127.0.0.1
    for name in (
        "otp_rate_per_id",
        "otp_rate_per_client",
        "otp_login_rate_per_id",
        "otp_login_rate_per_client",
        "staff_login_rate_per_client",
        "attempt_start_rate",
        "selfie_check_rate",
    ):
        setattr(settings, name, GENEROUS)
    return settings


def _assert_global_refusal(response: httpx.Response, window_seconds: int = 60) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "RateLimited"
    assert "too many of these requests" in response.json()["detail"]
    # The wait is when the oldest request leaves the window, not a fixed guess.
    assert 1 <= int(response.headers["Retry-After"]) <= window_seconds


async def test_the_code_request_budget_is_shared_by_every_client_address(
    proxied: Settings, client: httpx.AsyncClient, factory: Factory
) -> None:
    proxied.global_code_request_rate = "3/minute"
    registered = [factory.pensioner().national_id for _ in range(2)]
    ids = [*registered, "11010519491231002X", factory.pensioner().national_id]
    statuses = []
    for i, national_id in enumerate(ids):
        response = await client.post(
            CODE_URL, json={"national_id": national_id}, headers=_forwarded(f"203.0.113.{i + 1}")
        )
        statuses.append(response.status_code)
    assert statuses == [202, 202, 202, 429]
    _assert_global_refusal(response)
    # No text message went out for the refused request.
    assert len(list(proxied.outbox_dir.glob("*.txt"))) == 2


async def test_the_pensioner_login_budget_is_shared_by_every_client_address(
    proxied: Settings, client: httpx.AsyncClient, factory: Factory
) -> None:
    proxied.global_pensioner_login_rate = "3/minute"
    statuses = []
    for i in range(4):
        response = await client.post(
            PENSIONER_TOKEN_URL,
            json={"national_id": factory.pensioner().national_id, "code": "123456"},
            headers=_forwarded(f"198.51.100.{i + 1}"),
        )
        statuses.append(response.status_code)
    assert statuses == [401, 401, 401, 429]
    _assert_global_refusal(response)


async def test_the_staff_login_budget_is_shared_and_apart_from_the_pensioners(
    proxied: Settings, client: httpx.AsyncClient, factory: Factory
) -> None:
    proxied.global_staff_login_rate = "2/minute"
    proxied.global_pensioner_login_rate = "2/minute"
    factory.staff("admin", username="desk.one")
    statuses = []
    for i, username in enumerate(("nobody.a", "nobody.b", "desk.one")):
        response = await client.post(
            STAFF_TOKEN_URL,
            data={"username": username, "password": PASSWORD},
            headers=_forwarded(f"192.0.2.{i + 1}"),
        )
        statuses.append(response.status_code)
    # Refused before the password is hashed, even the right one.
    assert statuses == [401, 401, 429]
    _assert_global_refusal(response)
    # Pensioner logins have their own budget: the flood of staff tries does not stop them.
    pensioner_try = await client.post(
        PENSIONER_TOKEN_URL,
        json={"national_id": factory.pensioner().national_id, "code": "123456"},
        headers=_forwarded("192.0.2.9"),
    )
    assert pensioner_try.status_code == 401


async def test_the_attempt_start_budget_is_shared_by_every_pensioner(
    proxied: Settings, client: httpx.AsyncClient, factory: Factory
) -> None:
    proxied.global_attempt_start_rate = "2/minute"
    statuses = []
    for i in range(3):
        pensioner = factory.pensioner()
        factory.face(pensioner)
        response = await client.post(
            ATTEMPTS_URL,
            headers={**factory.auth(pensioner, "pensioner"), **_forwarded(f"203.0.113.{i + 7}")},
        )
        statuses.append(response.status_code)
    assert statuses == [201, 201, 429]
    _assert_global_refusal(response)


def _blank_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 180, 160)).save(out, format="PNG")
    return out.getvalue()


async def test_the_selfie_check_budget_is_shared_by_every_attempt(
    proxied: Settings, client: httpx.AsyncClient, factory: Factory
) -> None:
    proxied.global_selfie_check_rate = "2/minute"
    statuses = []
    for _ in range(3):
        pensioner = factory.pensioner()
        attempt = factory.attempt(pensioner)
        response = await client.post(
            f"{ATTEMPTS_URL}/{attempt.id}/selfie-check",  # type: ignore[attr-defined]
            files={"selfie": ("s.png", _blank_png(), "image/png")},
            headers=factory.auth(pensioner, "pensioner"),
        )
        statuses.append(response.status_code)
    assert statuses == [200, 200, 429]
    _assert_global_refusal(response)


async def test_per_id_limits_hold_whatever_address_the_tries_come_from(
    proxied: Settings, client: httpx.AsyncClient, factory: Factory
) -> None:
    proxied.otp_login_rate_per_id = "3/10 minutes"
    proxied.otp_rate_per_id = "2/10 minutes"
    target = factory.pensioner().national_id
    logins = [
        await client.post(
            PENSIONER_TOKEN_URL,
            json={"national_id": target, "code": f"{i:06d}"},
            headers=_forwarded(f"203.0.113.{i + 20}"),
        )
        for i in range(4)
    ]
    assert [r.status_code for r in logins] == [401, 401, 401, 429]
    assert "for this ID number" in logins[-1].json()["detail"]
    codes = [
        await client.post(
            CODE_URL, json={"national_id": target}, headers=_forwarded(f"198.51.100.{i + 20}")
        )
        for i in range(3)
    ]
    assert [r.status_code for r in codes] == [202, 202, 429]
    # Another ID number from the same addresses is not affected.
    other = await client.post(
        PENSIONER_TOKEN_URL,
        json={"national_id": factory.pensioner().national_id, "code": "000000"},
        headers=_forwarded("203.0.113.20"),
    )
    assert other.status_code == 401


@pytest.fixture
def behind_proxy_network(settings: Settings) -> Settings:
    settings.trusted_proxies = ["10.0.0.0/8"]
    settings.otp_login_rate_per_client = "2/hour"
    settings.otp_login_rate_per_id = GENEROUS
    return settings


async def test_forwarded_addresses_count_only_when_the_peer_is_a_trusted_proxy(
    behind_proxy_network: Settings, app: FastAPI, factory: Factory
) -> None:
    async def tries(peer: str) -> list[int]:
        statuses = []
        async with _client_from(app, peer) as c:
            for i in range(3):
                response = await c.post(
                    PENSIONER_TOKEN_URL,
                    json={"national_id": factory.pensioner().national_id, "code": "123456"},
                    headers=_forwarded(f"203.0.113.{i + 40}"),
                )
                statuses.append(response.status_code)
        return statuses

    # From the proxy (10.1.2.3), each forwarded address is a client with its own budget.
    assert await tries("10.1.2.3") == [401, 401, 401]
    # From anyone else the header is ignored: the three tries share the peer's budget of two.
    assert await tries("192.0.2.50") == [401, 401, 429]


def test_a_rate_setting_that_is_not_a_rate_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="is not a rate such as"):
        Settings(global_staff_login_rate="lots")
    with pytest.raises(ValidationError, match="otp_login_rate_per_id"):
        Settings(otp_login_rate_per_id="10 per fortnight")


@pytest.fixture
def redis_limits(settings: Settings) -> Iterator[Settings]:
    namespace = new_namespace("limits")
    settings.rate_limit_storage = REDIS_URL
    settings.redis_namespace = namespace
    settings.otp_rate_per_client = GENEROUS
    settings.global_code_request_rate = "3/minute"
    yield settings
    drop_namespace(namespace)


async def test_the_global_budget_in_redis_holds_across_api_instances(
    redis_limits: Settings,
    app: FastAPI,
    backend: Backend,
    face_engine: DlibFaceEngine,
    job_queue: object,
    factory: Factory,
) -> None:
    other = create_app(
        redis_limits,
        engine=backend.engine,
        face_engine=face_engine,
        job_queue=job_queue,  # type: ignore[arg-type]
    )
    statuses = []
    async with _client_from(app, "192.0.2.1") as first, _client_from(other, "192.0.2.2") as second:
        for c in (first, second, first, second):
            response = await c.post(CODE_URL, json={"national_id": factory.pensioner().national_id})
            statuses.append(response.status_code)
    # Each instance saw two requests; together they spent the budget of three.
    assert statuses == [202, 202, 202, 429]
    _assert_global_refusal(response)
