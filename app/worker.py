"""What `lifecert worker` runs (`python -m dramatiq app.worker`): the broker configured from
the settings and the actors it serves. Dramatiq's launcher imports a module that declares
its actors on a broker, so this module does that on import; only worker processes import it."""

from __future__ import annotations

import dramatiq

from app.attempts.jobs import run_attempt_job
from app.broker import ATTEMPTS_QUEUE, PROCESS_ATTEMPT, broker_for
from app.config import get_settings

# The timing series exist from boot (zero until a job runs), for `worker --metrics-port`.
from app.observability import metrics  # noqa: F401

_settings = get_settings()
broker = broker_for(_settings)
dramatiq.set_broker(broker)


# Retries cover a crash inside the job (the database was down); a killed worker's message is
# redelivered by the broker instead. Both are safe: the job is idempotent.
@dramatiq.actor(
    actor_name=PROCESS_ATTEMPT,
    queue_name=ATTEMPTS_QUEUE,
    broker=broker,
    max_retries=5,
    min_backoff=2000,
    time_limit=600_000,
)
def process_attempt(attempt_id: str) -> None:
    run_attempt_job(attempt_id, _settings.model_dump_json())
