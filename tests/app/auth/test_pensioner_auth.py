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
    assert reuse.json()["error"] == "OtpInvalid"


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
    answers = []
    for _ in range(5):
        response = await client.post(
            TOKEN_URL, json={"national_id": pensioner.national_id, "code": wrong}
        )
        assert response.status_code == 401
        answers.append(response.json())
    # Nothing tells an attacker how many tries are left.
    assert all(a == answers[0] for a in answers)
    assert set(answers[0]) == {"error", "detail"} and answers[0]["error"] == "OtpInvalid"
    # The right code no longer works after five wrong tries, and says nothing more.
    right = await client.post(TOKEN_URL, json={"national_id": pensioner.national_id, "code": code})
    assert right.status_code == 401
    assert right.json() == answers[0]


async def test_every_failed_login_gets_the_same_answer(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, db: Session
) -> None:
    registered = factory.pensioner()
    await client.post(CODE_URL, json={"national_id": registered.national_id})
    [code] = _codes_sent(settings)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    no_code = factory.pensioner()
    answers = [
        await client.post(TOKEN_URL, json={"national_id": registered.national_id, "code": wrong}),
        await client.post(TOKEN_URL, json={"national_id": no_code.national_id, "code": wrong}),
        await client.post(TOKEN_URL, json={"national_id": "11010519491231002X", "code": wrong}),
    ]
    otp = db.exec(select(OtpCode).where(OtpCode.pensioner_id == registered.id)).one()
    otp.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.add(otp)
    db.commit()
    answers.append(
        await client.post(TOKEN_URL, json={"national_id": registered.national_id, "code": code})
    )
    assert [a.status_code for a in answers] == [401] * 4
    assert all(a.json() == answers[0].json() for a in answers), [a.json() for a in answers]
    assert "tries" not in answers[0].text.replace("tried", "")


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
    assert response.json()["error"] == "OtpInvalid"
    assert "new code" in response.json()["detail"]


def _age_codes(db: Session, pensioner_id: object, seconds: int = 61) -> None:
    for otp in db.exec(select(OtpCode).where(OtpCode.pensioner_id == pensioner_id)).all():
        otp.created_at = datetime.now(UTC) - timedelta(seconds=seconds)
        db.add(otp)
    db.commit()


async def test_a_second_request_within_a_minute_keeps_the_code_already_sent(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    pensioner = factory.pensioner()
    first = await client.post(CODE_URL, json={"national_id": pensioner.national_id})
    [code] = _codes_sent(settings)
    # Someone else asks for a code for the same ID seconds later: same answer, no new text,
    # and the pensioner's code still works.
    second = await client.post(CODE_URL, json={"national_id": pensioner.national_id})
    assert second.status_code == 202 and second.json() == first.json()
    assert _codes_sent(settings) == [code]
    login = await client.post(TOKEN_URL, json={"national_id": pensioner.national_id, "code": code})
    assert login.status_code == 200, login.text


async def test_a_new_code_after_a_minute_replaces_the_old_one(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, db: Session
) -> None:
    pensioner = factory.pensioner()
    await client.post(CODE_URL, json={"national_id": pensioner.national_id})
    _age_codes(db, pensioner.id)
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
    client: httpx.AsyncClient, factory: Factory, settings: Settings, db: Session
) -> None:
    pensioner = factory.pensioner()
    statuses = []
    for _ in range(4):
        response = await client.post(CODE_URL, json={"national_id": pensioner.national_id})
        statuses.append(response.status_code)
        _age_codes(db, pensioner.id)
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
