"""Dramatiq actors for `lifecert worker`; the broker is configured from the settings."""

from __future__ import annotations

from functools import cache
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from app.config import Settings, get_settings

QUEUE = "attempts"


def actor_for(settings: Settings) -> Any:
    return _actor(settings.model_dump_json())


@cache
def _actor(settings_json: str) -> Any:
    settings = Settings.model_validate_json(settings_json)
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=settings.redis_url,
        namespace=settings.redis_namespace,
        heartbeat_timeout=settings.redis_heartbeat_ms,
        maintenance_chance=settings.redis_maintenance_chance,
    )
    dramatiq.set_broker(broker)

    # Retries cover a crash inside the job (the database was down); a killed worker's message
    # is redelivered by the broker instead. Both are safe: the job is idempotent.
    @dramatiq.actor(queue_name=QUEUE, max_retries=5, min_backoff=2000, time_limit=600_000)
    def process_attempt(attempt_id: str) -> None:
        from app.attempts.jobs import run_attempt_job

        run_attempt_job(attempt_id, settings_json)

    return process_attempt


# `dramatiq app.attempts.tasks` imports this module: declare the actor on the real broker.
if __name__ != "__main__":
    process_attempt = actor_for(get_settings())
