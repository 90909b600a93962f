"""`lifecert worker --metrics-port`: Dramatiq's processes write their metrics to one folder
and the parent serves them; SIGTERM reaches the workers and the command ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from tests.redis_namespace import drop_namespace

LIFECERT = Path(sys.executable).parent / "lifecert"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_workers_metrics_are_served_and_sigterm_stops_them(tmp_path: Path) -> None:
    port = _free_port()
    namespace = f"lifecert-worker-metrics-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "LIFECERT_DATA_DIR": str(tmp_path / "var"),
        "LIFECERT_JOB_BACKEND": "redis",
        "LIFECERT_REDIS_NAMESPACE": namespace,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    worker = subprocess.Popen(
        [str(LIFECERT), "worker", "--processes", "1", "--metrics-port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        text, deadline = "", time.monotonic() + 90
        # The worker process writes its series once it has imported the job code.
        while "lifecert_liveness_seconds_count" not in text:
            assert time.monotonic() < deadline, text or "no answer"
            assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert "lifecert_liveness_seconds_count 0.0" in text
        assert list((tmp_path / "var" / "worker-metrics").glob("*.db"))
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
        drop_namespace(namespace)
    # Nothing listens any more.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
