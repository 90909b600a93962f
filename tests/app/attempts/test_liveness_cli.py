"""`lifecert liveness` and `lifecert bench liveness` on the fixture clips."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli
from tests.app.attempts.clips import LIVE, SELFIE_CLIP

runner = CliRunner()


def test_liveness_reports_actions_in_time_order() -> None:
    result = runner.invoke(
        cli, ["liveness", str(SELFIE_CLIP), "--challenge", "blink,open_mouth", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["live"] is True and report["reasons"] == []
    assert set(report) >= {"live", "score", "actions", "reasons", "frames_analyzed", "ms"}
    times = [a["t"] for a in report["actions"]]
    assert times == sorted(times)


def test_liveness_wrong_order_is_not_live() -> None:
    # In this clip the mouth opens (1 s) before the eyes blink (2.7 s).
    result = runner.invoke(
        cli,
        [
            "liveness",
            str(LIVE / "liveportrait_driving_d0.mp4"),
            "--challenge",
            "blink,open_mouth",
            "--json",
        ],
    )
    report = json.loads(result.stdout)
    assert report["live"] is False and "wrong_order" in report["reasons"]


def test_liveness_bad_input(tmp_path: Path) -> None:
    text = tmp_path / "clip.mp4"
    text.write_text("not a video")
    result = runner.invoke(cli, ["liveness", str(text), "--challenge", "blink"])
    assert result.exit_code == 1
    assert json.loads(result.stderr)["error"] == "NotAVideo"
    unknown = runner.invoke(cli, ["liveness", str(SELFIE_CLIP), "--challenge", "smile"])
    assert unknown.exit_code == 2
    assert json.loads(unknown.stderr)["error"] == "InvalidChallenge"


def test_bench_liveness_keys(tmp_path: Path) -> None:
    shutil.copy(LIVE / "lowres_talking_crop_96x128.mp4", tmp_path / "small.mp4")
    shutil.copy(LIVE / "liveportrait_driving_d0.mp4", tmp_path / "d0.mp4")
    (tmp_path / "labels.csv").write_text(
        "file,label,challenge\nd0.mp4,live,open_mouth\nsmall.mp4,live,blink\n"
        'd0.mp4,attack,"blink,open_mouth"\n'
    )
    result = runner.invoke(
        cli, ["bench", "liveness", str(tmp_path), "--json", "--naive-seconds", "0.5"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key in ("files", "apcer", "bpcer", "per_file", "video_seconds_per_cpu_second"):
        assert key in report
    assert report["files"] == 3
    assert report["apcer"] == 0.0  # the wrong-order submission is not live
    assert report["bpcer"] == 0.5  # the 96x128 clip is refused as too small
