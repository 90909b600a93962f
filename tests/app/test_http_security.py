"""Security headers on every response, and the client address taken only from trusted proxies."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, select

from app.config import Settings
from app.main import STATIC_DIR
from models.audit import AuditEvent
from tests.conftest import PASSWORD, Factory

CODE_URL = "/api/v1/auth/pensioner/code"


def _assert_secure(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


async def test_every_kind_of_response_carries_the_security_headers(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    responses = [
        await client.get("/"),
        await client.get("/staff/"),
        await client.get("/js/pensioner.js"),
        await client.get("/healthz"),
        await client.get("/api/v1/pensioners"),  # 401
        await client.get("/api/v1/no-such-thing"),  # 404
        await client.post(CODE_URL, json={"national_id": "bad"}),  # 422
        await client.post(
            "/api/v1/pensioners/import",
            content=b"x" * (60 * 1024 * 1024),
            headers=factory.auth(factory.staff("admin")),
        ),  # 413 from the body limit
    ]
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 401, 404, 422, 413]
    for response in responses:
        _assert_secure(response)
        # Plain HTTP: no HSTS, which would lock a development browser out of http://.
        assert "strict-transport-security" not in response.headers


async def test_hsts_only_over_https(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as tls:
        response = await tls.get("/healthz")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")
    _assert_secure(response)


async def test_the_api_docs_keep_working_with_their_own_policy(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "https://cdn.jsdelivr.net" in csp and "frame-ancestors 'none'" in csp


def test_the_pages_load_only_same_origin_modules_and_no_inline_code() -> None:
    """What the strict policy allows: the pages must not need more (it would break them)."""
    for page in (STATIC_DIR / "index.html", STATIC_DIR / "staff" / "index.html"):
        html = page.read_text()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert re.search(r'src="/[^/]', tag), f"{page.name}: inline or foreign script {tag}"
        assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html), f"{page.name}: inline script"
        assert "<style" not in html and " style=" not in html, f"{page.name}: inline style"
        assert not re.search(r"\son[a-z]+=", html), f"{page.name}: inline event handler"
        for ref in re.findall(r'(?:href|src)="([^"]+)"', html):
            assert ref.startswith(("/", "#")) and not ref.startswith("//"), f"{page.name}: {ref}"
    for script in (STATIC_DIR / "js").glob("*.js"):
        code = script.read_text()
        for module in re.findall(r'^\s*import\b[^"\']*["\']([^"\']+)["\']', code, re.M):
            assert module.startswith("./"), f"{script.name} imports {module}"
        assert 'setAttribute("style"' not in code and "eval(" not in code, script.name
        assert "new Function(" not in code, script.name
        assert not re.search(r"https?://(?!www\.w3\.org/)", code), f"{script.name}: foreign URL"


@pytest.fixture
def proxied(settings: Settings) -> Settings:
    settings.trusted_proxies = ["127.0.0.1"]  # the test client connects from 127.0.0.1
    settings.otp_rate_per_client = "2/hour"
    return settings


@pytest.fixture
def not_proxied(settings: Settings) -> Settings:
    settings.otp_rate_per_client = "2/hour"
    return settings


async def _code(client: httpx.AsyncClient, national_id: str, forwarded: str) -> int:
    response = await client.post(
        CODE_URL, json={"national_id": national_id}, headers={"X-Forwarded-For": forwarded}
    )
    return response.status_code


async def test_behind_a_trusted_proxy_each_client_has_its_own_budget(
    proxied: Settings, client: httpx.AsyncClient, factory: Factory
) -> None:
    ids = [factory.pensioner().national_id for _ in range(5)]
    assert [await _code(client, nid, "203.0.113.5") for nid in ids[:3]] == [202, 202, 429]
    # Another pensioner behind the same proxy is not punished for the first one.
    assert await _code(client, ids[3], "198.51.100.7") == 202
    # The client cannot escape its budget by writing its own X-Forwarded-For entry: only the
    # hop the trusted proxy appended counts.
    assert await _code(client, ids[4], "10.9.8.7, 203.0.113.5") == 429


async def test_forwarded_headers_from_anyone_else_are_ignored(
    not_proxied: Settings, client: httpx.AsyncClient, factory: Factory
) -> None:
    ids = [factory.pensioner().national_id for _ in range(3)]
    statuses = [await _code(client, nid, f"203.0.113.{i}") for i, nid in enumerate(ids, start=1)]
    assert statuses == [202, 202, 429]


async def test_the_audit_trail_records_the_forwarded_client(
    proxied: Settings, client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    factory.staff("admin", username="behind.proxy")
    response = await client.post(
        "/api/v1/auth/token",
        data={"username": "behind.proxy", "password": PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.23", "X-Forwarded-Proto": "https"},
    )
    assert response.status_code == 200
    # The proxy terminated TLS: HSTS is sent.
    assert "strict-transport-security" in response.headers
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "staff.login")).one()
    assert event.client_address == "198.51.100.23"


async def test_an_untrusted_peer_cannot_claim_https(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" not in response.headers
