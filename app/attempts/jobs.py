"""Running attempt jobs off the request path: a local process pool, or Redis and workers.

Why Dramatiq for the Redis queue: it acknowledges a message only after the job returns, and
its Redis broker hands the unacknowledged messages of a worker that stopped heartbeating to
the others, which is exactly the crash recovery a certification needs; it is small,
maintained, and needs no result backend (job state lives in the database). Celery needs more
configuration to get the same (acks_late, visibility timeout), RQ moves a dead worker's job to
a failed registry instead of running it again, and arq is asyncio-first while this work is
CPU-bound.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import uuid
from concurrent.futures import Future, ProcessPoolExecutor
from functools import cache
from typing import Any, Protocol

import redis

from app import broker
from app.config import Settings
from app.errors import ServiceUnavailable

log = logging.getLogger(__name__)


class JobQueue(Protocol):
    def enqueue_attempt(self, attempt_id: uuid.UUID) -> None: ...

    def check(self) -> None:
        """Raise ServiceUnavailable if a job could not be queued now."""

    def shutdown(self) -> None: ...


AUTOGROUP = "/proc/self/autogroup"


def lower_cpu_priority(nice: int, *, autogroup: str = AUTOGROUP) -> int:
    """Run this process, and the processes it starts, at CPU niceness `nice` or lower priority;
    returns the niceness it runs at. Never raises a priority.

    Under Linux's autogroup scheduling the kernel first shares the CPU between sessions, and a
    process's niceness only weighs against the other processes of its session: the workers,
    started in a session of their own (systemd, a container, a supervisor), would still get
    as much CPU as the API. So a session leader lowers its session's group too (the group is
    then only this process and its children).
    """
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > current:
        current = os.nice(nice - current)
    if os.getsid(0) == os.getpid():
        try:
            with open(autogroup) as group:
                group_nice = int(group.read().split()[-1])  # "/autogroup-123 nice 0"
            if group_nice < nice:
                with open(autogroup, "w") as group:
                    group.write(str(nice))
        except (OSError, ValueError, IndexError):
            log.debug("no autogroup to lower (not Linux, or scheduled by cgroups)")
    return current


@cache
def _worker_context(settings_json: str) -> tuple[Any, Any, Any, Any]:
    """Per worker process: settings, database engine, face engine and cohort cache."""
    from app.db import make_engine
    from app.faces.service import CohortCache
    from biometrics import DlibFaceEngine

    settings = Settings.model_validate_json(settings_json)
    return settings, make_engine(settings), DlibFaceEngine(), CohortCache()


def run_attempt_job(attempt_id: str, settings_json: str) -> str | None:
    """Entry point of a job in any worker process."""
    from app.attempts.processing import process_attempt

    settings, db, engine, cohort = _worker_context(settings_json)
    status = process_attempt(
        uuid.UUID(attempt_id), db=db, settings=settings, engine=engine, cohort_cache=cohort
    )
    return status.value if status else None


class InProcessQueue:
    """The embedded default: worker processes owned by the service, no other service needed."""

    def __init__(self, settings: Settings) -> None:
        self.settings_json = settings.model_dump_json()
        # spawn: a fork of a threaded server process can inherit held locks.
        # The pool shares the API's session, so its lower niceness is what keeps the API fed.
        self.pool = ProcessPoolExecutor(
            max_workers=settings.inprocess_workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=lower_cpu_priority,
            initargs=(settings.worker_nice,),
        )

    def enqueue_attempt(self, attempt_id: uuid.UUID) -> None:
        future = self.pool.submit(run_attempt_job, str(attempt_id), self.settings_json)
        future.add_done_callback(_log_failure)

    def check(self) -> None:
        return None  # the pool is this process's own

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _log_failure(future: Future[str | None]) -> None:
    if future.exception() is not None:
        log.error("attempt job failed", exc_info=future.exception())


class RedisQueue:
    """Production: messages in Redis, run by `lifecert worker` processes on any machine."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def enqueue_attempt(self, attempt_id: uuid.UUID) -> None:
        broker.send(self.settings, broker.PROCESS_ATTEMPT, str(attempt_id))

    def check(self) -> None:
        """Redis answers: an upload is refused (503) before anything of it is written, rather
        than kept with its job never sent."""
        try:
            broker.broker_for(self.settings).client.ping()
        except redis.exceptions.RedisError as exc:
            raise ServiceUnavailable(
                "The job queue is briefly unreachable; nothing was saved. Send the recording "
                "again in a few seconds."
            ) from exc

    def shutdown(self) -> None:
        return None


def make_queue(settings: Settings) -> JobQueue:
    return RedisQueue(settings) if settings.job_backend == "redis" else InProcessQueue(settings)
