"""/metrics (only for configured scrapers), its series, the request id and masked JSON logs."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session

from app.config import Settings
from app.main import create_app
from app.observability.logs import JsonFormatter, mask_national_ids, request_id
from biometrics import DlibFaceEngine
from models.attempt import AttemptStatus
from tests.conftest import REPO_ROOT, Backend, Factory, RecordingQueue

TOKEN = "metrics-token-for-the-tests-0123456789"


@asynccontextmanager
async def _client_of(
    settings: Settings,
    backend: Backend,
    face_engine: DlibFaceEngine,
    *,
    address: str,
    **update: object,
) -> AsyncIterator[httpx.AsyncClient]:
    """A client at `address` of an instance with these settings changed."""
    instance = create_app(
        settings.model_copy(update=update),
        engine=backend.engine,
        face_engine=face_engine,
        job_queue=RecordingQueue(),  # type: ignore[arg-type]
    )
    transport = httpx.ASGITransport(app=instance, client=(address, 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def scraper(
    settings: Settings, backend: Backend, face_engine: DlibFaceEngine, app: FastAPI
) -> AsyncIterator[httpx.AsyncClient]:
    """A client at an address the instance lets scrape."""
    async with _client_of(
        settings,
        backend,
        face_engine,
        address="127.0.0.2",
        metrics_allowed_addresses=["127.0.0.2/32"],
    ) as c:
        yield c


def _value(text: str, name: str, missing: float | None = None, **labels: str) -> float:
    """The sample of `name` with exactly these labels (`missing` if there is none)."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if found == labels:
            return float(match.group(3))
    if missing is not None:
        return missing
    raise AssertionError(f"no sample {name}{labels}")


async def test_metrics_are_refused_unless_configured(
    client: httpx.AsyncClient, settings: Settings, backend: Backend, face_engine: DlibFaceEngine
) -> None:
    # The defaults serve nobody, not even loopback (a proxy on the same host is loopback).
    refused = await client.get("/metrics")
    assert refused.status_code == 403 and refused.json()["error"] == "MetricsForbidden"
    async with _client_of(
        settings, backend, face_engine, address="203.0.113.9", metrics_token=TOKEN
    ) as other:
        assert (await other.get("/metrics")).status_code == 403
        wrong = await other.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
        assert wrong.status_code == 403
        right = await other.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200
        assert right.headers["content-type"].startswith("text/plain; version=")


async def test_the_series(scraper: httpx.AsyncClient, factory: Factory, db: Session) -> None:
    pensioner = factory.pensioner()
    waiting = factory.attempt(pensioner)
    waiting.status = AttemptStatus.processing  # type: ignore[attr-defined]
    waiting.uploaded_at = datetime.now(UTC) - timedelta(minutes=10)  # type: ignore[attr-defined]
    decided = [factory.attempt(pensioner) for _ in range(3)]
    for attempt, status, operator in zip(
        decided,
        (AttemptStatus.certified, AttemptStatus.certified, AttemptStatus.needs_review),
        (None, "staff:1", None),
        strict=True,
    ):
        attempt.status = status  # type: ignore[attr-defined]
        attempt.operated_by = operator  # type: ignore[attr-defined]
    db.add_all([waiting, *decided])
    db.commit()
    # Requests to two ids of one route are one series, by its template. (The histograms are
    # the process's: other tests' requests count too, hence the difference.)
    series = {
        "method": "GET",
        "route": "/api/v1/pensioners/{pensioner_id}",
        "status": "401",
    }
    count = "lifecert_http_request_duration_seconds_count"
    before = (await scraper.get("/metrics")).text
    for _ in range(2):
        await scraper.get(f"/api/v1/pensioners/{uuid.uuid4()}")
    text = (await scraper.get("/metrics")).text
    assert _value(text, count, **series) - _value(before, count, **series, missing=0.0) == 2
    assert "lifecert_http_request_duration_seconds_bucket{" in text
    assert _value(text, "lifecert_job_queue_depth") == 1
    assert 590 <= _value(text, "lifecert_job_queue_oldest_age_seconds") <= 3600
    decisions = "lifecert_attempt_decisions_total"
    assert _value(text, decisions, outcome="certified", method="self_service") == 1
    assert _value(text, decisions, outcome="certified", method="assisted") == 1
    assert _value(text, decisions, outcome="needs_review", method="self_service") == 1
    assert _value(text, "lifecert_signalling_rooms_open") == 0
    assert _value(text, "lifecert_signalling_connections", role="agent") == 0
    for family in ("lifecert_face_seconds", "lifecert_liveness_seconds"):
        assert f"# TYPE {family} histogram" in text


async def test_request_id_in_and_out(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "edge-42.a"})
    assert given.headers["X-Request-ID"] == "edge-42.a"
    made = await client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"])
    # Not a client's to fill the logs with: replaced.
    odd = await client.get("/healthz", headers={"X-Request-ID": "x" * 200})
    assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["X-Request-ID"])


def test_json_log_lines_carry_the_request_id_and_mask_id_numbers() -> None:
    record = logging.LogRecord(
        "app.auth",
        logging.WARNING,
        __file__,
        1,
        "login for %s failed",
        ("11010519491231002X",),
        None,
    )
    token = request_id.set("req-1")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["message"] == "login for 110105************ failed"
    assert line["request_id"] == "req-1" and line["level"] == "WARNING"
    assert line["logger"] == "app.auth"
    # Only whole 18-character numbers: a longer digit run (an amount, a hash) is left alone.
    assert mask_national_ids("order 1101051949123100299") == "order 1101051949123100299"
    assert mask_national_ids("id=110105194912310021,") == "id=110105************,"


def test_multiprocess_mode_adds_up_the_worker_processes(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR, timings observed in other processes (the job pool's,
    uvicorn's workers) appear in the answering process's exposition."""
    script = """
import multiprocessing
from prometheus_client import CollectorRegistry
from app.observability.metrics import FACE_SECONDS, exposition

def work(seconds):
    FACE_SECONDS.labels(step="match").observe(seconds)

if __name__ == "__main__":
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(work, [0.3, 0.7, 1.5])
    FACE_SECONDS.labels(step="match").observe(0.2)
    print(exposition(CollectorRegistry()).decode())
"""
    (tmp_path / "metrics").mkdir()
    (tmp_path / "probe.py").write_text(script)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "probe.py")],
        cwd=REPO_ROOT,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _value(done.stdout, "lifecert_face_seconds_count", step="match") == 4
    assert _value(done.stdout, "lifecert_face_seconds_sum", step="match") == pytest.approx(2.7)
