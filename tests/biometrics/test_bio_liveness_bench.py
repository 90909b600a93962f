"""Liveness bench: APCER/BPCER and the naive-baseline timing on a two-clip folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from biometrics import DlibFaceEngine
from biometrics.liveness_bench import run_liveness_bench
from tests.biometrics import attacks


def _folder(fixtures_dir: Path, out: Path) -> Path:
    photo = attacks.load_photo(fixtures_dir / "faces" / "fr_obama" / "1.jpg")
    attacks.still_photo_as_video(photo, out / "still.mp4", seconds=2.0)
    live = fixtures_dir / "videos" / "live" / "liveportrait_driving_d0.mp4"
    # The challenge field is quoted because it holds a comma.
    (out / "labels.csv").write_text(
        f'file,label,challenge\nstill.mp4,attack,"blink,open_mouth"\n{live},live,open_mouth\n'
        "missing_text.mp4,attack,blink\n"
    )
    (out / "missing_text.mp4").write_bytes(b"not a video at all")
    return out


def test_bench_reports_error_rates_and_speed(
    fixtures_dir: Path, engine: DlibFaceEngine, tmp_path: Path
) -> None:
    folder = _folder(fixtures_dir, tmp_path)
    report = run_liveness_bench(folder, engine=engine, naive_seconds=0.5)
    assert report["files"] == 3
    assert report["apcer"] == 0.0 and report["bpcer"] == 0.0
    decisions = {Path(e["file"]).name: e["decision"] for e in report["per_file"]}
    assert decisions == {
        "still.mp4": "not_live",
        "liveportrait_driving_d0.mp4": "live",
        "missing_text.mp4": "refused",
    }
    refused = next(e for e in report["per_file"] if e["decision"] == "refused")
    assert refused["reasons"] == ["not_a_video"]
    assert report["video_seconds_per_cpu_second"] > 0
    assert report["naive_seconds_per_video_second"] > 0
    assert report["speedup_vs_naive"] > 0


def test_bench_reports_apcer_per_attack_type(
    fixtures_dir: Path, engine: DlibFaceEngine, tmp_path: Path
) -> None:
    """labels.csv with the optional attack_type column (ISO/IEC 30107-3 reports APCER per
    attack type): a still photo (print), a screen replay, and a live clip."""
    photo = attacks.load_photo(fixtures_dir / "faces" / "fr_obama" / "1.jpg")
    attacks.still_photo_as_video(photo, tmp_path / "still.mp4", seconds=2.0)
    live = fixtures_dir / "videos" / "live" / "liveportrait_driving_d0.mp4"
    attacks.on_a_screen(live, tmp_path / "screen.mp4")
    (tmp_path / "labels.csv").write_text(
        "file,label,challenge,attack_type\n"
        "still.mp4,attack,blink,print\n"
        "screen.mp4,attack,open_mouth,replay\n"
        f"{live},live,open_mouth,\n"
    )
    report = run_liveness_bench(tmp_path, engine=engine, naive_seconds=0.2)
    per_type = report["apcer_per_type"]
    assert set(per_type) == {"print", "replay"}
    assert per_type["print"]["apcer"] == 0.0 and per_type["replay"]["apcer"] == 0.0
    assert report["apcer_worst_type"] == 0.0
    assert report["live_with_attack_reason"] == 0
    flags = {Path(e["file"]).name: e["passive_flag"] for e in report["per_file"]}
    # The still is caught by its stillness, the replay by the screen: both passively.
    assert flags == {"still.mp4": True, "screen.mp4": True, live.name: False}
    assert per_type["print"]["passive_flagged"] == 1


def test_bench_refuses_an_unknown_attack_type(tmp_path: Path, engine: DlibFaceEngine) -> None:
    (tmp_path / "labels.csv").write_text(
        "file,label,challenge,attack_type\nx.mp4,attack,blink,deepfake\n"
    )
    with pytest.raises(ValueError, match="attack_type"):
        run_liveness_bench(tmp_path, engine=engine)
