"""What `lifecert worker` runs (`python -m dramatiq app.worker`): the broker configured from
the settings and the actors it serves. Dramatiq's launcher imports a module that declares
its actors on a broker, so this module does that on import; only worker processes import it."""

from __future__ import annotations

import dramatiq

from app.attempts.jobs import lower_cpu_priority, run_attempt_job
from app.broker import ATTEMPTS_QUEUE, PROCESS_ATTEMPT, broker_for
from app.config import get_settings
from app.faces.jobs import IMPORT_FACES, IMPORTS_QUEUE, run_import_job

# The timing series exist from boot (zero until a job runs), for `worker --metrics-port`.
from app.observability import metrics  # noqa: F401

_settings = get_settings()
# Also when Dramatiq is started directly rather than by `lifecert worker`.
lower_cpu_priority(_settings.worker_nice)
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


# A bulk face import of an uploaded archive (POST /faces/imports); rerunning is safe: photos
# already imported are skipped by content hash.
@dramatiq.actor(
    actor_name=IMPORT_FACES,
    queue_name=IMPORTS_QUEUE,
    broker=broker,
    max_retries=3,
    min_backoff=5000,
    time_limit=24 * 3600 * 1000,
)
def import_faces(batch_id: str) -> None:
    run_import_job(batch_id, _settings.model_dump_json())
