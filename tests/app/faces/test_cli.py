"""`lifecert verify` on real photos: decisions with their numbers, and bad files as JSON errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from tests.app.attempts.clips import COHORT_PHOTOS
from tests.conftest import FIXTURES

FACES = FIXTURES / "faces"
runner = CliRunner()


def _verify(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, ["verify", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def remembering(face_engine: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """`lifecert verify` makes its own dlib engine; here it gets the run's real engine, which
    remembers its answers, so the cohort's 60 photos are analysed once, not once per call."""
    import biometrics

    monkeypatch.setattr(biometrics, "DlibFaceEngine", lambda: face_engine)


def _cohort_folder(root: Path) -> Path:
    """One sub-folder per person: the 60 people the app tests calibrate on."""
    for photo in COHORT_PHOTOS:
        (root / photo.parent.name).mkdir(parents=True, exist_ok=True)
        (root / photo.parent.name / photo.name).write_bytes(photo.read_bytes())
    return root


@pytest.mark.usefixtures("remembering")
def test_verify_with_a_cohort_folder(tmp_path: Path) -> None:
    cohort = str(_cohort_folder(tmp_path / "cohort"))
    enrolled = str(FACES / "deepface_c01" / "1.jpg")
    args = ("--json", "--cohort", cohort, "--target-fmr", "0.01")
    code, out, _ = _verify(enrolled, str(FACES / "deepface_c01" / "3.jpg"), *args)
    assert code == 0, out
    result = json.loads(out)
    assert result["decision"] == "match", result
    assert result["cohort_size"] == 60
    assert result["score"] >= result["thresholds"]["match"]
    assert result["model"]["name"] == "dlib_face_recognition_resnet_model_v1"
    assert result["selfie"]["faces"] == 1

    code, out, _ = _verify(enrolled, str(FACES / "deepface_c03" / "1.jpg"), *args)
    assert code == 0 and json.loads(out)["decision"] != "match"

    # 60 people give 1770 pairs: too few for the default 0.1% (2995 needed), so nobody is
    # accepted automatically and the reason says so.
    code, out, _ = _verify(
        enrolled, str(FACES / "deepface_c01" / "3.jpg"), "--json", "--cohort", cohort
    )
    assert code == 0
    result = json.loads(out)
    assert result["decision"] == "review"
    assert result["reasons"] == ["calibration_too_few_pairs"]
    assert result["thresholds"]["match"] is None


@pytest.mark.usefixtures("remembering")
def test_verify_refuses_an_impossible_target(tmp_path: Path) -> None:
    code, _, err = _verify(
        str(FACES / "fr_obama" / "1.jpg"),
        str(FACES / "fr_obama" / "2.jpg"),
        "--cohort",
        str(tmp_path),
        "--target-fmr",
        "1.5",
    )
    assert code == 2 and json.loads(err)["error"] == "InvalidTarget"


@pytest.mark.usefixtures("remembering")
def test_verify_reports_quality_findings(tmp_path: Path) -> None:
    # Head turned: too far for the enrolment gate the photo on file is held to.
    code, out, _ = _verify(
        str(FACES / "fr_obama" / "2.jpg"),
        str(FACES / "fr_obama" / "1.jpg"),
        "--json",
        "--cohort",
        str(tmp_path),
    )
    assert code == 0, out
    result = json.loads(out)
    assert result["decision"] in {"review", "no_match"}
    assert "cohort_too_small" in result["reasons"]
    assert [f["issue"] for f in result["enrolled"]["findings"]] == ["head_turned"]
    assert all(f["zh"] and f["en"] for f in result["enrolled"]["findings"])


@pytest.mark.usefixtures("remembering")
def test_bad_files_exit_non_zero_with_a_json_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    good = str(FACES / "fr_obama" / "1.jpg")
    for bad, error in (
        (text, "UnsupportedFormat"),
        (empty, "EmptyFile"),
        (tmp_path / "missing.jpg", "FileNotFound"),
    ):
        code, _, err = _verify(str(bad), good, "--cohort", str(tmp_path))
        assert code != 0
        assert json.loads(err)["error"] == error
        assert json.loads(err)["detail"]


@pytest.mark.usefixtures("remembering")
def test_photo_without_a_single_face(tmp_path: Path) -> None:
    code, _, err = _verify(
        str(FIXTURES / "hard" / "multiple_faces_1.jpg"),
        str(FACES / "fr_obama" / "1.jpg"),
        "--cohort",
        str(tmp_path),
    )
    assert code == 1
    body = json.loads(err)
    assert body["error"] == "NoUsableFace"
    assert "multiple_faces" in [f["issue"] for f in body["findings"]]


def test_bench_faces_prints_every_key_and_plots(tmp_path: Path) -> None:
    root = tmp_path / "set"
    for identity in ("fr_obama", "fr_biden", "fr_rose_leslie"):
        (root / identity).mkdir(parents=True)
        for photo in sorted((FACES / identity).glob("*.jpg"))[:2]:
            (root / identity / photo.name).write_bytes(photo.read_bytes())
    plot = tmp_path / "det.png"
    result = runner.invoke(
        cli, ["bench", "faces", str(root), "--json", "--plot", str(plot), "--naive-sample", "1"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key in (
        "images",
        "identities",
        "failures_to_enrol",
        "genuine_pairs",
        "impostor_pairs",
        "fmr_accept",
        "fnmr_accept",
        "review_rate_genuine",
        "reject_rate_genuine",
        "fmr_review",
        "eer",
        "groups",
        "per_image_ms_p50",
        "per_image_ms_p95",
        "naive_per_image_ms_p50",
        "speedup_vs_naive",
    ):
        assert key in report, key
    assert (report["images"], report["identities"]) == (6, 3)
    # fr_obama is in one fold, the other two in the other: impostor pairs across the folds
    # (4 of obama's with each other person's 2 photos) are left out.
    assert (report["genuine_pairs"], report["impostor_pairs"]) == (3, 4)
    assert report["left_out_cross_fold"] == 8
    # Six photos leave no cohort of 20 and no pairs to calibrate on: nothing is accepted.
    assert report["fmr_accept"] == 0.0 and report["fnmr_accept"] == 1.0
    assert report["calibration"]["folds"][0]["match_threshold"] is None
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_the_naive_baseline_leaves_truncated_photos_refused() -> None:
    from biometrics import CorruptImage, DecodeLimits, decode_image
    from biometrics.bench import _naive_ms

    _naive_ms(FACES / "fr_obama" / "1.jpg")
    data = (FACES / "fr_obama" / "1.jpg").read_bytes()
    with pytest.raises(CorruptImage):
        decode_image(data[: len(data) // 2], limits=DecodeLimits())


def test_bench_faces_plot_without_matplotlib_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A None entry in sys.modules makes the import machinery report the module as absent.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    root = tmp_path / "set"
    root.mkdir()
    result = runner.invoke(cli, ["bench", "faces", str(root), "--plot", str(tmp_path / "d.png")])
    assert result.exit_code == 2, result.output
    body = json.loads(result.stderr)
    assert body["error"] == "MissingDependency"
    assert "pip install -e '.[bench]'" in body["detail"]
    assert not (tmp_path / "d.png").exists()
