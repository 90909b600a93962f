"""Face work runs at a lower CPU priority than the API (LIFECERT_WORKER_NICE, `lifecert worker
--nice`): in the worker processes, in the session group the kernel schedules them as, and in
the embedded pool."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.attempts.jobs import InProcessQueue
from app.config import Settings
from tests.redis_namespace import drop_namespace

LIFECERT = Path(sys.executable).parent / "lifecert"
AUTOGROUP = Path("/proc/self/autogroup")


def _run(code: str, *, new_session: bool) -> list[str]:
    """Run `code` in a fresh interpreter (niceness cannot be undone in this one); its output."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=new_session,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def _nice_of(pid: int) -> int:
    # /proc/PID/stat: field 19 is the niceness (after the command name in parentheses).
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_priority_is_lowered_to_the_setting_and_never_raised(tmp_path: Path) -> None:
    group = tmp_path / "autogroup"
    group.write_text("/autogroup-1 nice 0\n")
    out = _run(
        f"""
        import os
        from app.attempts.jobs import lower_cpu_priority
        print(lower_cpu_priority(7, autogroup={str(group)!r}))
        print(lower_cpu_priority(3, autogroup={str(group)!r}))
        print(os.getpriority(os.PRIO_PROCESS, 0))
        """,
        new_session=False,
    )
    assert out == ["7", "7", "7"]
    # Not a session leader: the session's group (the test run's) is left alone.
    assert group.read_text() == "/autogroup-1 nice 0\n"


def test_a_session_leader_lowers_its_session_group(tmp_path: Path) -> None:
    group = tmp_path / "autogroup"
    group.write_text("/autogroup-1 nice 0\n")
    out = _run(
        f"""
        from app.attempts.jobs import lower_cpu_priority
        print(lower_cpu_priority(9, autogroup={str(group)!r}))
        """,
        new_session=True,
    )
    assert out == ["9"]
    assert group.read_text() == "9"


def test_a_group_already_lower_is_not_raised(tmp_path: Path) -> None:
    group = tmp_path / "autogroup"
    group.write_text("/autogroup-1 nice 15\n")
    _run(
        f"""
        from app.attempts.jobs import lower_cpu_priority
        lower_cpu_priority(9, autogroup={str(group)!r})
        """,
        new_session=True,
    )
    assert group.read_text() == "/autogroup-1 nice 15\n"


def test_worker_processes_and_their_session_group_run_at_the_setting(tmp_path: Path) -> None:
    if not AUTOGROUP.exists():
        pytest.skip("this kernel schedules without autogroups (CONFIG_SCHED_AUTOGROUP off)")
    namespace = f"lifecert-worker-nice-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "LIFECERT_DATA_DIR": str(tmp_path / "var"),
        "LIFECERT_JOB_BACKEND": "redis",
        "LIFECERT_REDIS_NAMESPACE": namespace,
        "LIFECERT_WORKER_NICE": "6",
    }
    # Its own session, as systemd or a container starts it.
    worker = subprocess.Popen(
        [str(LIFECERT), "worker", "--processes", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        children: list[int] = []
        deadline = time.monotonic() + 60
        while not children:
            assert time.monotonic() < deadline, "Dramatiq started no worker process"
            assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
            children = [
                int(p.name)
                for p in Path("/proc").iterdir()
                if p.name.isdigit() and _parent_of(p) == worker.pid
            ]
            time.sleep(0.3)
        assert _nice_of(worker.pid) == 6
        assert all(_nice_of(child) == 6 for child in children)
        assert Path(f"/proc/{worker.pid}/autogroup").read_text().split()[-1] == "6"
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        drop_namespace(namespace)
    assert b"at niceness 6" in (worker.stdout.read() if worker.stdout else b"")


def _parent_of(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError):
        return None


def test_embedded_pool_runs_jobs_at_the_setting(tmp_path: Path) -> None:
    queue = InProcessQueue(Settings(data_dir=tmp_path, worker_nice=5))
    try:
        niceness = queue.pool.submit(os.getpriority, os.PRIO_PROCESS, 0).result(timeout=60)
    finally:
        queue.shutdown()
    assert niceness == max(5, os.getpriority(os.PRIO_PROCESS, 0))


@pytest.mark.parametrize("value", [-1, 20])
def test_niceness_outside_0_to_19_is_refused(tmp_path: Path, value: int) -> None:
    with pytest.raises(ValidationError, match="worker_nice"):
        Settings(data_dir=tmp_path, worker_nice=value)


def test_worker_refuses_a_niceness_out_of_range(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(LIFECERT), "worker", "--nice", "25"],
        env={**os.environ, "LIFECERT_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "less than or equal to 19" in done.stderr
