"""Prometheus metrics: what each process measures, and what the database says at scrape time.

Measured in the process (histograms and counters of prometheus_client): request latency by
route template, face and liveness timings. With PROMETHEUS_MULTIPROC_DIR set (README
"Metrics"), the worker processes of the embedded job pool and of `uvicorn --workers` write
there too and every /metrics answer adds them up.

Read from the database when scraped (`StateCollector`, cached a few seconds): the job queue's
depth and the age of its oldest job, and decisions by outcome and method. Every API process
reports the same values for these, so aggregate them with max(), not sum().
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.attempt import FINAL_STATUSES, AttemptStatus, CertificationAttempt

__all__ = ["CONTENT_TYPE_LATEST", "StateCollector", "exposition", "timed"]
log = logging.getLogger(__name__)

REQUEST_SECONDS = Histogram(
    "lifecert_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
FACE_SECONDS = Histogram(
    "lifecert_face_seconds",
    "Face work per step (selfie: detect, quality and embed; match: the gallery comparison)",
    ["step"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0),
)
LIVENESS_SECONDS = Histogram(
    "lifecert_liveness_seconds",
    "Liveness analysis of one uploaded video",
    buckets=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0),
)
STATE_CACHE_SECONDS = 5.0


@contextmanager
def timed(histogram: Histogram, **labels: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        (histogram.labels(**labels) if labels else histogram).observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    """The matched route's path template (`/api/v1/pensioners/{pensioner_id}`), so that ids do
    not make a time series each: each path segment that is a path parameter's value is put
    back as its name. The static pages count as one route, unmatched paths as another."""
    if "route" not in scope or isinstance(scope["route"], Mount):
        return "unmatched" if scope.get("path", "").startswith("/api/") else "static"
    names = {str(value): name for name, value in (scope.get("path_params") or {}).items()}
    return "/".join(
        f"{{{names[segment]}}}" if segment in names else segment
        for segment in scope.get("path", "").split("/")
    )


class RequestMetrics:
    """Times every HTTP request; WebSockets are counted by the signalling gauges instead."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            REQUEST_SECONDS.labels(
                method=scope.get("method", ""), route=_route_template(scope), status=str(status)
            ).observe(time.perf_counter() - started)


class StateCollector(Collector):
    """The job queue and the decisions, read from the database (cached STATE_CACHE_SECONDS),
    and this process's signalling rooms."""

    def __init__(self, engine: Engine, signalling: Callable[[], tuple[int, dict[str, int]]]):
        self.engine = engine
        self.signalling = signalling
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > STATE_CACHE_SECONDS:
                try:
                    read = [*self._read_database(), _up(1)]
                except sa.exc.SQLAlchemyError:
                    # The scrape still answers (request and signalling series), and says so.
                    log.warning("metrics: the database could not be read", exc_info=True)
                    read = [_up(0)]
                self._cached = (now, read)
            yield from self._cached[1]
        rooms, parties = self.signalling()
        yield GaugeMetricFamily(
            "lifecert_signalling_rooms_open",
            "Call rooms with a party connected to this process",
            value=rooms,
        )
        connections = GaugeMetricFamily(
            "lifecert_signalling_connections",
            "Signalling WebSockets held by this process, by role",
            labels=["role"],
        )
        for role in ("pensioner", "agent"):
            connections.add_metric([role], parties.get(role, 0))
        yield connections

    def _read_database(self) -> list[Metric]:
        attempt = CertificationAttempt.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            depth, oldest = conn.execute(
                sa.select(sa.func.count(), sa.func.min(attempt.c.uploaded_at)).where(
                    attempt.c.status == AttemptStatus.processing
                )
            ).one()
            assisted = attempt.c.operated_by.is_not(None)
            decided = conn.execute(
                sa.select(attempt.c.status, assisted, sa.func.count())
                .where(attempt.c.status.in_(FINAL_STATUSES))
                .group_by(attempt.c.status, assisted)
            ).all()
        queue = GaugeMetricFamily(
            "lifecert_job_queue_depth", "Uploaded attempts waiting for their decision", value=depth
        )
        age = GaugeMetricFamily(
            "lifecert_job_queue_oldest_age_seconds",
            "How long the oldest undecided upload has waited (0 when none)",
            value=_age_seconds(oldest),
        )
        decisions = CounterMetricFamily(
            "lifecert_attempt_decisions",
            "Decided remote attempts by outcome (certified is the automatic acceptance) and "
            "method (self_service, or assisted when a staff member held the phone)",
            labels=["outcome", "method"],
        )
        for status, is_assisted, count in decided:
            outcome = status.value if isinstance(status, AttemptStatus) else str(status)
            decisions.add_metric([outcome, "assisted" if is_assisted else "self_service"], count)
        return [queue, age, decisions]


def _up(value: int) -> Metric:
    return GaugeMetricFamily(
        "lifecert_database_up", "Whether the last read of the database for metrics worked", value
    )


def _age_seconds(oldest: Any) -> float:
    if oldest is None:
        return 0.0
    if isinstance(oldest, str):  # SQLite without the column type's conversion
        oldest = datetime.fromisoformat(oldest)
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return max(0.0, float((datetime.now(UTC) - oldest).total_seconds()))


def exposition(state: CollectorRegistry) -> bytes:
    """This process's metrics (or, in multiprocess mode, every process's) and the state."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        measured = CollectorRegistry()
        MultiProcessCollector(measured)  # type: ignore[no-untyped-call]
    else:
        measured = REGISTRY
    return generate_latest(measured) + generate_latest(state)
