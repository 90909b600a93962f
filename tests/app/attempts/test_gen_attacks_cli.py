"""`lifecert gen-attacks`: attack clips and their labels from a genuine photo, and bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli
from biometrics.video import VideoLimits, decode_video
from tests.conftest import FIXTURES

runner = CliRunner()


def test_attacks_from_a_photo_are_labelled_for_the_bench(tmp_path: Path) -> None:
    photo = FIXTURES / "spoof" / "live" / "silentface_image_T1.jpg"
    result = runner.invoke(cli, ["gen-attacks", str(photo), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    with (tmp_path / "out" / "labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["attack_type"] for r in rows] == ["print", "print"]
    assert {r["label"] for r in rows} == {"attack"}
    assert {r["challenge"] for r in rows} == {"turn_left,turn_right"}
    for row in rows:
        clip = decode_video(tmp_path / "out" / row["file"], limits=VideoLimits())
        # What a cheap webcam sends: 640x480 at 12 frames a second.
        assert (clip.metadata.coded_width, clip.metadata.coded_height) == (640, 480)
        assert 11.0 <= clip.timeline.measured_fps <= 13.0


def test_unreadable_sources_are_refused(tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    result = runner.invoke(cli, ["gen-attacks", str(fake), str(tmp_path / "out")])
    assert result.exit_code == 1
    assert json.loads(result.stderr)["error"] == "UnreadableSource"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(cli, ["gen-attacks", str(empty), str(tmp_path / "out")])
    assert result.exit_code == 2
    assert json.loads(result.stderr)["error"] == "NothingToDo"
