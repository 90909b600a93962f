"""A password, role, scope or activation change of a staff member ends their refresh tokens."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import PASSWORD, Factory


async def _login(client: httpx.AsyncClient, username: str) -> str:
    response = await client.post(
        "/api/v1/auth/token", data={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["refresh_token"])


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})


@pytest.mark.parametrize(
    "change",
    [
        {"password": "a brand new password 42"},
        {"roles": ["auditor"]},
        {"region_scope": "1101"},
    ],
    ids=["password", "roles", "scope"],
)
async def test_a_security_change_revokes_every_login_of_that_account(
    client: httpx.AsyncClient, factory: Factory, change: dict[str, object]
) -> None:
    admin = factory.staff("admin", scope="11")
    factory.staff("reviewer", username="changed", scope="11")
    staff_id = (await client.get("/api/v1/staff", headers=factory.auth(admin))).json()
    [target] = [s["id"] for s in staff_id if s["username"] == "changed"]
    laptop, phone = await _login(client, "changed"), await _login(client, "changed")
    # One login already rotated once: the new token of that family must die too.
    rotated = await _refresh(client, laptop)
    assert rotated.status_code == 200
    laptop = rotated.json()["refresh_token"]

    response = await client.patch(
        f"/api/v1/staff/{target}", json=change, headers=factory.auth(admin)
    )
    assert response.status_code == 200, response.text
    for token in (laptop, phone):
        refused = await _refresh(client, token)
        assert refused.status_code == 401
        assert refused.json()["error"] == "InvalidRefreshToken"


async def test_a_name_change_keeps_logins(client: httpx.AsyncClient, factory: Factory) -> None:
    admin = factory.staff("admin")
    staff = factory.staff("reviewer", username="renamed")
    token = await _login(client, "renamed")
    response = await client.patch(
        f"/api/v1/staff/{staff.id}",  # type: ignore[attr-defined]
        json={"full_name": "Wang Fang"},
        headers=factory.auth(admin),
    )
    assert response.status_code == 200
    assert (await _refresh(client, token)).status_code == 200
