"""A worker killed in the middle of a job: another finishes it, exactly one decision recorded.

Runs the real thing: Redis at 127.0.0.1:6379, `dramatiq` worker processes started the way
`lifecert worker` starts them, and SIGKILL (no chance to clean up) while the job runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis
import sqlalchemy as sa
from sqlmodel import Session, select

from app.attempts.jobs import RedisQueue
from app.config import Settings
from biometrics import DlibFaceEngine
from models.attempt import AttemptStatus, CertificationAttempt
from models.audit import AuditEvent
from models.certification import Certification
from tests.app.attempts.clips import LIVE, SELFIE_CLIP, enrol_clip_person, enrol_cohort, frame_jpeg
from tests.conftest import REPO_ROOT, Backend, Factory

# A 33 s clip: its analysis takes seconds, a wide window to kill the worker in.
LONG_CLIP = LIVE / "liveportrait_driving_d6.mp4"


@pytest.fixture
def settings(settings: Settings) -> Iterator[Settings]:
    settings.job_backend = "redis"
    settings.redis_namespace = f"lifecert-test-{uuid.uuid4().hex[:8]}"
    settings.redis_heartbeat_ms = 2000
    settings.redis_maintenance_chance = 1_000_000  # look for dead workers on every fetch
    yield settings
    client = redis.Redis.from_url(settings.redis_url)
    keys = list(client.scan_iter(f"{settings.redis_namespace}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def job_queue(settings: Settings) -> RedisQueue:
    try:
        redis.Redis.from_url(settings.redis_url).ping()
    except redis.ConnectionError as exc:
        raise RuntimeError(f"Redis is needed at {settings.redis_url} for this test") from exc
    return RedisQueue(settings)


def _worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFECERT_")}
    env.update(
        {
            "LIFECERT_ENV": "test",
            "LIFECERT_DATABASE_URL": settings.resolved_database_url,
            "LIFECERT_DATA_DIR": str(settings.data_dir),
            "LIFECERT_SECRET_KEY": settings.secret_key,
            "LIFECERT_JOB_BACKEND": "redis",
            "LIFECERT_REDIS_URL": settings.redis_url,
            "LIFECERT_REDIS_NAMESPACE": settings.redis_namespace,
            "LIFECERT_REDIS_HEARTBEAT_MS": str(settings.redis_heartbeat_ms),
            "LIFECERT_REDIS_MAINTENANCE_CHANCE": str(settings.redis_maintenance_chance),
            "OMP_NUM_THREADS": "1",
        }
    )
    return env


def _start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    # What `lifecert worker --processes 1` execs.
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dramatiq",
            "app.worker",
            "--processes",
            "1",
            "--threads",
            "1",
        ],
        cwd=REPO_ROOT,
        env=_worker_env(settings),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(worker: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, sig)
    worker.wait(timeout=30)


def _attempt(backend: Backend, attempt_id: uuid.UUID) -> CertificationAttempt:
    with Session(backend.test_engine) as s:
        attempt = s.get(CertificationAttempt, attempt_id)
        assert attempt is not None
        return attempt


def _wait(
    backend: Backend,
    attempt_id: uuid.UUID,
    done,
    seconds: float,  # type: ignore[no-untyped-def]
) -> CertificationAttempt:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        attempt = _attempt(backend, attempt_id)
        if done(attempt):
            return attempt
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting; attempt is {_attempt(backend, attempt_id)}")


async def test_killed_worker_job_is_finished_by_another_exactly_once(
    client: httpx.AsyncClient,
    factory: Factory,
    db: Session,
    settings: Settings,
    backend: Backend,
    face_engine: DlibFaceEngine,
) -> None:
    enrol_cohort(db, factory, face_engine)
    pensioner = enrol_clip_person(db, factory, settings, face_engine)
    headers = factory.auth(pensioner, "pensioner")
    attempt = (await client.post("/api/v1/certifications/attempts", headers=headers)).json()
    attempt_id = uuid.UUID(attempt["id"])

    first = _start_worker(settings)
    second: subprocess.Popen[bytes] | None = None
    try:
        upload = await client.post(
            f"/api/v1/certifications/attempts/{attempt_id}/upload",
            files={
                "selfie": ("s.jpg", frame_jpeg(SELFIE_CLIP, 60), "image/jpeg"),
                "video": ("v.mp4", LONG_CLIP.read_bytes(), "video/mp4"),
            },
            data={"nonce": attempt["challenge"]["nonce"]},
            headers=headers,
        )
        assert upload.status_code == 202, upload.text
        # The worker has committed that it started the job: kill it, job and all, at once.
        _wait(backend, attempt_id, lambda a: a.job_runs == 1, seconds=120)
        _stop(first, signal.SIGKILL)
        killed = _attempt(backend, attempt_id)
        assert killed.status is AttemptStatus.processing, "the job finished before the kill"
        assert killed.decided_at is None and killed.decision == {}

        second = _start_worker(settings)
        done = _wait(
            backend, attempt_id, lambda a: a.status is not AttemptStatus.processing, seconds=180
        )
    finally:
        _stop(first, signal.SIGKILL)
        if second is not None:
            _stop(second)

    assert done.job_runs == 2  # the killed run and the one that finished
    assert done.decided_at is not None and done.decision
    with Session(backend.test_engine) as s:
        decisions = s.exec(
            select(AuditEvent.action).where(
                AuditEvent.entity_id == str(pensioner.id),
                sa.or_(
                    *(AuditEvent.action == f"attempt.{status.value}" for status in AttemptStatus)
                ),
            )
        ).all()
        assert decisions == [f"attempt.{done.status.value}"]
        certifications = s.exec(select(Certification)).all()
        assert len(certifications) == (1 if done.status is AttemptStatus.certified else 0)
