"""Staff login backs off after wrong passwords and locks; an administrator unlocks (audited)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, col, select

from app.auth import service as auth_service
from app.config import Settings
from models.audit import AuditEvent
from models.staff import StaffUser
from tests.conftest import PASSWORD, Factory

TOKEN_URL = "/api/v1/auth/token"


async def _login(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post(TOKEN_URL, data={"username": username, "password": password})


def _rewind_last_failure(db: Session, staff_id: object, seconds: int = 3600) -> StaffUser:
    db.expire_all()
    staff = db.get(StaffUser, staff_id)
    assert staff is not None
    staff.last_failed_login_at = datetime.now(UTC) - timedelta(seconds=seconds)
    db.add(staff)
    db.commit()
    return staff


def _actions(db: Session, staff_id: object) -> list[str]:
    db.expire_all()
    return list(
        db.exec(
            select(AuditEvent.action)
            .where(AuditEvent.entity_id == str(staff_id))
            .order_by(col(AuditEvent.seq))
        ).all()
    )


@pytest.fixture
def lockout(settings: Settings) -> Settings:
    settings.staff_login_backoff_after = 3
    settings.staff_login_lock_after = 5
    return settings


async def test_wrong_passwords_back_off_then_lock_until_an_admin_unlocks(
    lockout: Settings, client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    staff = factory.staff("reviewer", username="guessed", scope="11")
    for _ in range(3):
        response = await _login(client, "guessed", "wrong password 123")
        assert response.status_code == 401
        assert response.json()["error"] == "InvalidCredentials"
    # Three in a row: the next try must wait, even with the right password. (The last failure
    # is made "just now": on a loaded machine the three tries alone can outlast the 1-s wait.)
    _rewind_last_failure(db, staff.id, seconds=0)  # type: ignore[attr-defined]
    wait = await _login(client, "guessed")
    assert wait.status_code == 429
    assert wait.json()["error"] == "LoginBackoff"
    assert wait.json()["retry_after"] >= 1
    assert wait.headers["Retry-After"] == str(wait.json()["retry_after"])

    _rewind_last_failure(db, staff.id)  # type: ignore[attr-defined]
    assert (await _login(client, "guessed", "wrong again 456")).status_code == 401
    # The wait doubles with each further failure.
    assert auth_service.backoff_seconds(settings=lockout, failures=4) == 2
    _rewind_last_failure(db, staff.id, seconds=0)  # type: ignore[attr-defined]
    again = await _login(client, "guessed", "wrong again 456")
    assert again.status_code == 429 and again.json()["retry_after"] >= 1
    _rewind_last_failure(db, staff.id)  # type: ignore[attr-defined]
    assert (await _login(client, "guessed", "fifth wrong 789")).status_code == 401

    # Five wrong passwords: locked, whatever the wait, until an administrator unlocks.
    _rewind_last_failure(db, staff.id)  # type: ignore[attr-defined]
    locked = await _login(client, "guessed")
    assert locked.status_code == 423
    assert locked.json()["error"] == "StaffAccountLocked"
    assert _actions(db, staff.id) == ["staff.login_failed"] * 4 + ["staff.locked"]  # type: ignore[attr-defined]

    admin = factory.staff("admin", scope="11")
    listed = await client.get(f"/api/v1/staff/{staff.id}", headers=factory.auth(admin))  # type: ignore[attr-defined]
    assert listed.json()["locked_at"] is not None and listed.json()["failed_logins"] == 5
    unlocked = await client.post(
        f"/api/v1/staff/{staff.id}/unlock",  # type: ignore[attr-defined]
        headers=factory.auth(admin),
    )
    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json()["locked_at"] is None and unlocked.json()["failed_logins"] == 0
    assert (await _login(client, "guessed")).status_code == 200
    actions = _actions(db, staff.id)  # type: ignore[attr-defined]
    assert actions[-2:] == ["staff.unlock", "staff.login"]
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "staff.unlock")).one()
    assert event.actor_id == str(admin.id)  # type: ignore[attr-defined]


async def test_unlock_needs_an_admin_in_scope(
    lockout: Settings, client: httpx.AsyncClient, factory: Factory
) -> None:
    staff = factory.staff("reviewer", scope="44")
    outside = factory.staff("admin", scope="11")
    reviewer = factory.staff("reviewer", scope="")
    url = f"/api/v1/staff/{staff.id}/unlock"  # type: ignore[attr-defined]
    assert (await client.post(url, headers=factory.auth(outside))).status_code == 404
    assert (await client.post(url, headers=factory.auth(reviewer))).status_code == 403


async def test_a_successful_login_forgives_earlier_failures(
    lockout: Settings, client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    staff = factory.staff("admin", username="typo")
    for _ in range(2):
        assert (await _login(client, "typo", "wrong password 123")).status_code == 401
    assert (await _login(client, "typo")).status_code == 200
    db.expire_all()
    assert db.get(StaffUser, staff.id).failed_logins == 0  # type: ignore[attr-defined, union-attr]


async def test_a_burst_of_parallel_guesses_meets_the_backoff(
    lockout: Settings,
    client: httpx.AsyncClient,
    factory: Factory,
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lockout.staff_login_rate_per_client = "1000/minute"
    staff = factory.staff("admin", username="burst")
    checked = 0
    lock = threading.Lock()
    real_verify = auth_service.verify_password

    def counting_verify(password: str, password_hash: str | None) -> bool:
        nonlocal checked
        with lock:
            checked += 1
        return real_verify(password, password_hash)

    monkeypatch.setattr(auth_service, "verify_password", counting_verify)
    # A backoff longer than the burst, however slow the machine: the first one (1 s) can pass
    # while twelve Argon2 checks queue on a loaded CPU, and this is about taking turns.
    real_backoff = auth_service.backoff_seconds
    monkeypatch.setattr(
        auth_service,
        "backoff_seconds",
        lambda *, settings, failures: 60 * real_backoff(settings=settings, failures=failures),
    )
    responses = await asyncio.gather(
        *(_login(client, "burst", f"guess number {i:03d}") for i in range(12))
    )
    statuses = sorted(r.status_code for r in responses)
    # Only as many passwords as the backoff allows were ever checked; the rest waited.
    assert checked == lockout.staff_login_backoff_after
    assert statuses == [401] * 3 + [429] * 9
    db.expire_all()
    assert db.get(StaffUser, staff.id).failed_logins == 3  # type: ignore[attr-defined, union-attr]


@pytest.fixture
def strict_staff_client_limit(settings: Settings) -> Settings:
    settings.staff_login_rate_per_client = "3/minute"
    return settings


async def test_staff_logins_are_rate_limited_per_client(
    strict_staff_client_limit: Settings, client: httpx.AsyncClient, factory: Factory
) -> None:
    statuses = [(await _login(client, f"nobody{i}")).status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]
