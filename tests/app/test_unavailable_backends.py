"""PostgreSQL or Redis unreachable (a restart, a fail-over): the service answers 503 with
Retry-After and a code the pages know, never a 500, and never the driver's words (they name
hosts and ports). An upload while the job queue is unreachable is refused before anything of it
is written (found by tests/topology/test_faults.py: it was accepted, its job never sent)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from app.attempts.jobs import RedisQueue
from app.config import Environment, Settings
from app.db import make_engine
from app.main import create_app
from app.security import create_access_token
from models.attempt import AttemptStatus, CertificationAttempt
from models.audit import AuditEvent
from tests.app.attempts.test_requests import _enrolled, _start, _upload
from tests.conftest import TEST_SECRET, Factory, RecordingQueue
from tests.processes import free_port

LEAKS = ("Traceback", "psycopg", "sqlalchemy", "redis", "127.0.0.1", "Connection refused")


def _no_leak(response: httpx.Response) -> None:
    for leak in LEAKS:
        assert leak not in response.text, response.text


@pytest.fixture
def job_queue(settings: Settings) -> Iterator[object]:
    """The Redis queue, pointed at a port where nothing listens."""
    down = settings.model_copy(
        update={"job_backend": "redis", "redis_url": f"redis://127.0.0.1:{free_port()}/0"}
    )
    yield RedisQueue(down)


async def test_an_upload_while_the_queue_is_unreachable_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient, factory: Factory, db: Session, settings: Settings
) -> None:
    _, headers = _enrolled(factory)
    attempt = await _start(client, headers)
    events = len(db.exec(select(AuditEvent)).all())
    response = await _upload(client, headers, attempt)
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "ServiceUnavailable"
    assert response.headers["Retry-After"] == "5"
    _no_leak(response)
    db.expire_all()
    stored = db.get(CertificationAttempt, uuid.UUID(str(attempt["id"])))
    assert stored is not None and stored.status is AttemptStatus.awaiting_upload
    assert stored.selfie_path is None and stored.video_sha256 is None
    assert not (settings.resolved_media_dir / "attempts").exists() or not any(
        (settings.resolved_media_dir / "attempts").rglob("*")
    )
    assert len(db.exec(select(AuditEvent)).all()) == events


@pytest.fixture
async def database_down(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The service with its PostgreSQL on a port where nothing listens; a pensioner's token."""
    settings = Settings(
        env=Environment.test,
        data_dir=tmp_path / "var",
        database_url=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/lifecert",
        secret_key=TEST_SECRET,
    )
    engine = make_engine(settings)
    app = create_app(settings, engine=engine, job_queue=RecordingQueue())  # type: ignore[arg-type]
    token = create_access_token(
        subject=str(uuid.uuid4()),
        kind="pensioner",
        key=settings.signing_key,
        lifetime=timedelta(minutes=5),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client, token
    engine.dispose()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/me"),
        ("POST", "/api/v1/certifications/attempts"),
        ("GET", f"/api/v1/certifications/attempts/{uuid.UUID(int=1)}"),
    ],
)
async def test_a_request_while_the_database_is_down_is_a_503_without_its_insides(
    database_down: tuple[httpx.AsyncClient, str], method: str, path: str
) -> None:
    client, token = database_down
    response = await client.request(method, path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "DatabaseUnavailable"
    assert response.headers["Retry-After"] == "5"
    _no_leak(response)


async def test_readiness_fails_without_naming_the_database(
    database_down: tuple[httpx.AsyncClient, str],
) -> None:
    client, _ = database_down
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "error": "DatabaseUnavailable",
        "detail": "The database is unreachable.",
    }
    _no_leak(response)
