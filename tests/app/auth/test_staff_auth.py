"""Staff login: password flow, rotating refresh tokens, and refused tokens of every kind."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import httpx
from jose import jwt

from tests.conftest import PASSWORD, Factory


async def _login(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )


async def test_login_returns_tokens_that_work(client: httpx.AsyncClient, factory: Factory) -> None:
    factory.staff("reviewer", username="lin.wei", scope="11")
    response = await _login(client, "lin.wei")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 15 * 60
    me = await client.get(
        "/api/v1/staff/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["username"] == "lin.wei"
    assert me.json()["roles"] == ["reviewer"]


async def test_wrong_password_and_unknown_user_look_the_same(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    factory.staff("admin", username="admin1")
    wrong = await _login(client, "admin1", "not the password")
    unknown = await _login(client, "nobody", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.json()["error"] == "InvalidCredentials"


async def test_deactivated_staff_cannot_log_in_or_use_a_token(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    staff = factory.staff("admin", username="gone", active=False)
    assert (await _login(client, "gone")).status_code == 401
    response = await client.get("/api/v1/staff/me", headers=factory.auth(staff))
    assert response.status_code == 401
    assert "deactivated" in response.json()["detail"]


async def test_refresh_rotates_and_a_replayed_token_ends_the_session(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    factory.staff("admin", username="rot")
    first = (await _login(client, "rot")).json()
    second = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert second.status_code == 200
    second_tokens = second.json()
    assert second_tokens["refresh_token"] != first["refresh_token"]

    replay = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert replay.status_code == 401
    assert replay.json()["error"] == "InvalidRefreshToken"
    assert "already used" in replay.json()["detail"]
    # The replay revoked the whole family, including the token issued by the rotation.
    after = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second_tokens["refresh_token"]}
    )
    assert after.status_code == 401


async def test_logout_revokes_the_refresh_token(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    factory.staff("admin", username="bye")
    tokens = (await _login(client, "bye")).json()
    out = await client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    again = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert again.status_code == 401


async def test_unknown_refresh_token_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": "x" * 43})
    assert response.status_code == 401
    assert response.json()["error"] == "InvalidRefreshToken"


async def test_missing_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/staff/me")
    assert response.status_code == 401
    assert response.json()["error"] == "NotAuthenticated"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_expired_token(client: httpx.AsyncClient, factory: Factory) -> None:
    staff = factory.staff("admin")
    token = factory.token(staff, lifetime=timedelta(seconds=-10))
    response = await client.get("/api/v1/staff/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"] == "InvalidToken"
    assert "expired" in response.json()["detail"]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_tampered_token(client: httpx.AsyncClient, factory: Factory) -> None:
    reviewer = factory.staff("reviewer")
    admin = factory.staff("admin")
    header, _payload, signature = factory.token(reviewer).split(".")
    claims = jwt.get_unverified_claims(factory.token(reviewer))
    claims["sub"] = str(admin.id)  # type: ignore[attr-defined]
    forged = f"{header}.{_b64(claims)}.{signature}"
    response = await client.get("/api/v1/staff", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json()["error"] == "InvalidToken"


async def test_alg_none_token(client: httpx.AsyncClient, factory: Factory) -> None:
    admin = factory.staff("admin")
    claims = jwt.get_unverified_claims(factory.token(admin))
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    response = await client.get("/api/v1/staff", headers={"Authorization": f"Bearer {unsigned}"})
    assert response.status_code == 401
    assert response.json()["error"] == "InvalidToken"


async def test_token_signed_with_another_key(client: httpx.AsyncClient, factory: Factory) -> None:
    admin = factory.staff("admin")
    claims = jwt.get_unverified_claims(factory.token(admin))
    other = jwt.encode(claims, "some-other-key-of-sufficient-length-123456", algorithm="HS256")
    response = await client.get("/api/v1/staff", headers={"Authorization": f"Bearer {other}"})
    assert response.status_code == 401


async def test_garbage_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/staff/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert response.status_code == 401
    assert response.json()["error"] == "InvalidToken"


async def test_pensioner_token_is_not_a_staff_token(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    pensioner = factory.pensioner()
    response = await client.get("/api/v1/staff/me", headers=factory.auth(pensioner, "pensioner"))
    assert response.status_code == 401
    assert "staff token" in response.json()["detail"]
