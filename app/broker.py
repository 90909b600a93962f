"""The job broker, in one place: the service sends jobs by actor name, and only the worker
entry module (`app/worker.py`, run by `lifecert worker`) declares the actors. Nothing here
connects or registers anything on import."""

from __future__ import annotations

from functools import cache

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from app.config import Settings

ATTEMPTS_QUEUE = "attempts"
PROCESS_ATTEMPT = "process_attempt"


def broker_for(settings: Settings) -> RedisBroker:
    """One broker per Redis location and namespace in a process."""
    return _broker(
        settings.redis_url,
        settings.redis_namespace,
        settings.redis_heartbeat_ms,
        settings.redis_maintenance_chance,
    )


@cache
def _broker(url: str, namespace: str, heartbeat_ms: int, maintenance_chance: int) -> RedisBroker:
    return RedisBroker(  # type: ignore[no-untyped-call]
        url=url,
        namespace=namespace,
        heartbeat_timeout=heartbeat_ms,
        maintenance_chance=maintenance_chance,
    )


def send(settings: Settings, actor_name: str, *args: str, queue_name: str = ATTEMPTS_QUEUE) -> None:
    """Queue a job for the actor of that name (declared by the workers, not imported here)."""
    message: dramatiq.Message[None] = dramatiq.Message(
        queue_name=queue_name, actor_name=actor_name, args=args, kwargs={}, options={}
    )
    broker_for(settings).enqueue(message)
