"""Processes a test started (servers, relays, forwarders): stopped together at its end."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence


def stop_all(processes: Sequence[subprocess.Popen[bytes]], *, seconds: float = 15) -> None:
    """SIGTERM to each, then wait; one that does not stop in time is killed."""
    for process in reversed(processes):
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=seconds)
