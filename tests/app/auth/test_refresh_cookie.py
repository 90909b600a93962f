"""The staff refresh token in an HttpOnly, SameSite=Strict cookie: set at login and refresh,
read by refresh and logout (with the page's header, against cross-site requests), never
handed to the pages' scripts; API clients may still send it in the body, which wins."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import PASSWORD, Factory

ROOT = Path(__file__).resolve().parents[3]
PAGE = {"X-Requested-With": "lifecert"}
COOKIE = "lifecert_refresh"


@pytest.fixture
async def https(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        yield c


async def _login(client: httpx.AsyncClient, username: str, *, page: bool = True) -> httpx.Response:
    response = await client.post(
        "/api/v1/auth/token",
        data={"username": username, "password": PASSWORD},
        headers=PAGE if page else {},
    )
    assert response.status_code == 200, response.text
    return response


def _set_cookie(response: httpx.Response) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    return cookie


async def test_login_sets_the_refresh_cookie_and_the_page_never_sees_the_token(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    factory.staff("admin", username="ck")
    response = await _login(client, "ck")
    assert response.json()["refresh_token"] is None  # the page's script gets no refresh token
    assert response.json()["access_token"]
    morsel = _set_cookie(response)[COOKIE]
    assert len(morsel.value) >= 32
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "strict"
    assert morsel["path"] == "/api/v1/auth"
    assert morsel["max-age"] == str(14 * 24 * 3600)
    assert not morsel["secure"]  # plain HTTP (development): a Secure cookie would be dropped
    # An API client (no page header) still gets the token in the body, the same as the cookie.
    api = await _login(client, "ck", page=False)
    assert api.json()["refresh_token"] == _set_cookie(api)[COOKIE].value


async def test_the_cookie_is_secure_over_https(https: httpx.AsyncClient, factory: Factory) -> None:
    factory.staff("admin", username="tls")
    assert _set_cookie(await _login(https, "tls"))[COOKIE]["secure"] is True


async def test_refresh_works_from_the_cookie_alone(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    factory.staff("admin", username="rc")
    first = _set_cookie(await _login(client, "rc"))[COOKIE].value
    refreshed = await client.post("/api/v1/auth/refresh", headers=PAGE)  # no body at all
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] is None and refreshed.json()["access_token"]
    second = _set_cookie(refreshed)[COOKIE].value
    assert second != first
    me = await client.get(
        "/api/v1/staff/me", headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    )
    assert me.status_code == 200 and me.json()["username"] == "rc"
    # Rotation as with the body: the spent cookie value, replayed, ends the whole login.
    client.cookies.set(COOKIE, first, path="/api/v1/auth")
    replay = await client.post("/api/v1/auth/refresh", headers=PAGE)
    assert replay.status_code == 401 and "already used" in replay.json()["detail"]
    client.cookies.set(COOKIE, second, path="/api/v1/auth")
    assert (await client.post("/api/v1/auth/refresh", headers=PAGE)).status_code == 401


async def test_the_cookie_without_the_page_header_is_refused(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    """What a cross-site form post would be (were SameSite not to stop it): refused, and the
    token is not spent."""
    factory.staff("admin", username="csrf")
    await _login(client, "csrf")
    for path in ("/api/v1/auth/refresh", "/api/v1/auth/logout"):
        forged = await client.post(path)
        assert forged.status_code == 403 and forged.json()["error"] == "CsrfHeaderMissing"
        wrong = await client.post(path, headers={"X-Requested-With": "XMLHttpRequest"})
        assert wrong.status_code == 403
    assert (await client.post("/api/v1/auth/refresh", headers=PAGE)).status_code == 200


async def test_the_body_wins_over_the_cookie(client: httpx.AsyncClient, factory: Factory) -> None:
    factory.staff("admin", username="a1")
    factory.staff("admin", username="a2")
    other = (await _login(client, "a2", page=False)).json()["refresh_token"]
    await _login(client, "a1")  # the cookie is now a1's
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": other})
    assert refreshed.status_code == 200
    me = await client.get(
        "/api/v1/staff/me", headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    )
    assert me.json()["username"] == "a2"
    assert refreshed.json()["refresh_token"]  # an API client's refresh keeps its body token


async def test_no_refresh_token_anywhere_is_refused(client: httpx.AsyncClient) -> None:
    for body in (None, {}, {"refresh_token": None}):
        response = await client.post("/api/v1/auth/refresh", json=body, headers=PAGE)
        assert response.status_code == 401 and response.json()["error"] == "InvalidRefreshToken"
    short = await client.post("/api/v1/auth/refresh", json={"refresh_token": "short"})
    assert short.status_code == 422


async def test_logout_by_cookie_ends_the_login_and_clears_the_cookie(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    factory.staff("admin", username="out")
    token = _set_cookie(await _login(client, "out"))[COOKIE].value
    out = await client.post("/api/v1/auth/logout", headers=PAGE)
    assert out.status_code == 204
    cleared = _set_cookie(out)[COOKIE]
    assert cleared.value == "" and cleared["max-age"] == "0"
    assert cleared["path"] == "/api/v1/auth" and cleared["httponly"] is True
    assert COOKIE not in client.cookies
    again = await client.post("/api/v1/auth/refresh", json={"refresh_token": token})
    assert again.status_code == 401


def test_the_pages_keep_no_refresh_token() -> None:
    """No page script handles a refresh token; the staff page sends the page header to the
    auth routes and stores only the access token."""
    scripts = sorted((ROOT / "static").rglob("*.js"))
    assert scripts
    for script in scripts:
        assert "refresh_token" not in script.read_text(encoding="utf-8"), script
    staff = (ROOT / "static" / "js" / "staff.js").read_text(encoding="utf-8")
    assert '"X-Requested-With": "lifecert"' in staff
    stored = re.findall(r"sessionStorage\.setItem\(KEY, ([^\n]*)\)", staff)
    assert stored and all("access_token" in s for s in stored), stored
