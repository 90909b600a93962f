"""deploy/prometheus.yml and deploy/alerts.yml: promtool accepts them, and the alerts fire on
made-up series and stay quiet on healthy ones (deploy/alerts_test.yml); every series they name
is one the service exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from app.observability import metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMTOOL = shutil.which("promtool")


def _promtool(*args: str, cwd: Path) -> str:
    assert PROMTOOL is not None, "promtool: apt-get install prometheus"
    done = subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_accepts_the_configuration(tmp_path: Path) -> None:
    # As installed: both files side by side, and the token file the scrape job reads.
    for name in ("prometheus.yml", "alerts.yml"):
        shutil.copy(DEPLOY / name, tmp_path / name)
    (tmp_path / "lifecert-metrics-token").write_text("a-token\n")
    assert "SUCCESS" in _promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert "SUCCESS: 4 rules found" in _promtool("check", "rules", "alerts.yml", cwd=DEPLOY)


def test_the_alerts_fire_when_they_should() -> None:
    assert "SUCCESS" in _promtool("test", "rules", "alerts_test.yml", cwd=DEPLOY)


def test_the_alerts_name_exported_series() -> None:
    exported = {
        "lifecert_http_request_duration_seconds_count",
        "lifecert_job_queue_oldest_age_seconds",
        "lifecert_job_queue_depth",
        "lifecert_attempt_decisions_total",
        "lifecert_database_up",
    }
    assert metrics.REQUEST_SECONDS._name + "_count" in exported
    named = set(re.findall(r"\blifecert_[a-z_]+", (DEPLOY / "alerts.yml").read_text()))
    assert named <= exported, named - exported
    source = Path(metrics.__file__).read_text()
    for name in exported - {"lifecert_http_request_duration_seconds_count"}:
        assert f'"{name.removesuffix("_total")}"' in source, name
