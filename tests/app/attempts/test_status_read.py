"""The status poll (GET /certifications/attempts/{id}): one indexed query, the same answer as
the attempt read through the ORM, and the same refusals."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlmodel import Session

from app.attempts import service
from models.attempt import AttemptStatus, CertificationAttempt
from models.certification import Certification, CertificationMethod
from tests.conftest import Factory

BASE = "/api/v1/certifications/attempts"
TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    """The SQL the app's engine sends meanwhile, transaction control left out."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(TRANSACTION):
            seen.append(statement)

    engine = app.state.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _attempt(db: Session, factory: Factory, pensioner: Any, **fields: Any) -> Any:
    attempt: Any = factory.attempt(pensioner)
    for name, value in fields.items():
        setattr(attempt, name, value)
    db.add(attempt)
    db.commit()
    return attempt


def _orm_answer(db: Session, attempt_id: uuid.UUID) -> dict[str, Any]:
    attempt = db.get(CertificationAttempt, attempt_id)
    assert attempt is not None
    db.refresh(attempt)
    return service.to_read(db, attempt).model_dump(mode="json")


async def test_status_is_one_query_with_the_orm_answer(
    app: FastAPI, client: httpx.AsyncClient, db: Session, factory: Factory
) -> None:
    pensioner: Any = factory.pensioner()
    headers = factory.auth(pensioner, "pensioner")
    now = datetime.now(UTC)
    certification = Certification(
        pensioner_id=pensioner.id,
        method=CertificationMethod.remote_self_service,
        certified_at=now,
        valid_until=date(2027, 12, 31),
        decided_by_type="system",
        decided_by_id="test",
    )
    db.add(certification)
    db.commit()
    cases = [
        _attempt(db, factory, pensioner),  # awaiting upload: the challenge is shown
        _attempt(db, factory, pensioner, status=AttemptStatus.processing, uploaded_at=now),
        _attempt(
            db,
            factory,
            pensioner,
            status=AttemptStatus.certified,
            decided_at=now,
            certification_id=certification.id,
            decision={"face": {"score": 0.9}},
        ),
        _attempt(
            db,
            factory,
            pensioner,
            status=AttemptStatus.retry,
            reasons=["too_dark"],
            decision={"instructions": [{"zh": "开灯", "en": "Turn on a light."}]},
        ),
        _attempt(db, factory, pensioner, status=AttemptStatus.rejected, reasons=["still_image"]),
    ]
    for attempt in cases:
        with statements(app) as seen:
            response = await client.get(f"{BASE}/{attempt.id}", headers=headers)
        assert response.status_code == 200, response.text
        assert len(seen) == 1, seen
        assert seen[0].lstrip().upper().startswith("SELECT")
        assert response.json() == _orm_answer(db, attempt.id)
    certified = (await client.get(f"{BASE}/{cases[2].id}", headers=headers)).json()
    assert certified["valid_until"] == "2027-12-31"
    assert certified["decision"] is None  # scores are for staff
    assert (await client.get(f"{BASE}/{cases[0].id}", headers=headers)).json()["challenge"]


async def test_status_refusals_are_unchanged(
    client: httpx.AsyncClient, db: Session, factory: Factory
) -> None:
    owner: Any = factory.pensioner()
    other: Any = factory.pensioner()
    attempt = _attempt(db, factory, owner)
    url = f"{BASE}/{attempt.id}"

    def code(response: httpx.Response) -> tuple[int, str]:
        return response.status_code, response.json()["error"]

    # Someone else's attempt, or none: not found, as before.
    assert code(await client.get(url, headers=factory.auth(other, "pensioner"))) == (
        404,
        "AttemptNotFound",
    )
    missing = f"{BASE}/{uuid.uuid4()}"
    assert code(await client.get(missing, headers=factory.auth(owner, "pensioner")))[0] == 404
    # No token, a staff token, a forged one, a pensioner no longer in the register: 401.
    assert (await client.get(url)).status_code == 401
    staff = factory.staff("admin")
    assert (await client.get(url, headers=factory.auth(staff))).status_code == 401
    assert (
        await client.get(url, headers={"Authorization": "Bearer not.a.token"})
    ).status_code == 401
    gone = {"Authorization": f"Bearer {factory.token(uuid.uuid4(), 'pensioner')}"}
    assert code(await client.get(url, headers=gone)) == (401, "InvalidToken")
    expired = {
        "Authorization": f"Bearer {factory.token(owner, 'pensioner', timedelta(seconds=-5))}"
    }
    assert (await client.get(url, headers=expired)).status_code == 401
    assert (
        await client.get(f"{BASE}/not-a-uuid", headers=factory.auth(owner, "pensioner"))
    ).status_code == 422
