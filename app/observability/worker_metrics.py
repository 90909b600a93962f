"""`lifecert worker --metrics-port N`: the worker processes' face and liveness timings for
Prometheus. Dramatiq's processes write their metrics to one folder (prometheus_client's
multiprocess mode); this parent process serves their sum on the given address and port, and
passes SIGTERM and SIGINT on to Dramatiq's launcher."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from types import FrameType


def run_with_metrics(command: list[str], *, address: str, port: int, directory: Path) -> int:
    """Run `command` with PROMETHEUS_MULTIPROC_DIR=directory (emptied first) and serve the
    metrics its processes write; returns its exit code."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    # Imported only now: prometheus_client picks its storage when first imported.
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    server, thread = start_http_server(port, addr=address, registry=registry)
    child = subprocess.Popen(command)

    def forward(signum: int, frame: FrameType | None) -> None:
        child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    try:
        return child.wait()
    finally:
        server.shutdown()
        thread.join(timeout=5)
