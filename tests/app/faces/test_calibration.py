"""Calibrating the face decision on the register: stored, audited, refused when the data is
thin, ignored for another model, labelled by reviewers, and watched for drift (real dlib)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from app.config import Settings
from app.faces import calibration, service
from biometrics import DlibFaceEngine, FaceEmbedding
from models.audit import AuditEvent
from models.face import EnrolledFace, FaceCalibration
from tests.app.attempts.clips import SURNAMES, calibrate_register, embedding_row
from tests.conftest import FIXTURES, Factory

FACES = FIXTURES / "faces"
DLIB = (DlibFaceEngine.model_name, DlibFaceEngine.model_version)
# Press and celebrity photos: every identity that is not East-Asian (one photo each), and
# East-Asian people (LFW and web photos) for the population that joins later.
PRESS = [
    sorted(f.glob("*.jpg"))[0]
    for f in sorted(FACES.iterdir())
    if f.is_dir() and not f.name.startswith("ea_")
]
EAST_ASIAN = [sorted(f.glob("*.jpg"))[0] for f in sorted(FACES.glob("ea_*"))[:60]]


@pytest.fixture(scope="module")
def embeddings(face_engine: DlibFaceEngine) -> dict[Path, FaceEmbedding]:
    out = {}
    for path in PRESS + EAST_ASIAN:
        analysis = service.analyze(
            path.read_bytes(), engine=face_engine, settings=Settings(), gate="selfie"
        )
        assert analysis.embedding is not None, path
        out[path] = analysis.embedding
    return out


def _enrol_people(
    db: Session, factory: Factory, photos: list[Path], embeddings: dict[Path, FaceEmbedding]
) -> list[object]:
    people = []
    for path in photos:
        seq = len(db.exec(select(EnrolledFace)).all())
        person = factory.pensioner(
            "110108", name=f"{SURNAMES[seq % len(SURNAMES)]}某", phone=f"137{seq:08d}"
        )
        db.add(embedding_row(person, embeddings[path]))
        db.commit()
        people.append(person)
    return people


def _calibrate(db: Session, settings: Settings, target: float) -> FaceCalibration:
    return calibrate_register(
        db, settings, model=DLIB, target_fmr=target, require_auto_accept=False
    )


def _report(db: Session, settings: Settings) -> dict[str, object]:
    cohort, owners = service.CohortCache().get(
        session=db, model_name=DLIB[0], model_version=DLIB[1], limit=settings.face_cohort_max
    )
    return calibration.report(
        session=db,
        settings=settings,
        model_name=DLIB[0],
        model_version=DLIB[1],
        cohort=cohort,
        owners=owners,
    )


@pytest.fixture
def east_asian_register(
    db: Session, factory: Factory, embeddings: dict[Path, FaceEmbedding]
) -> Iterator[list[object]]:
    yield _enrol_people(db, factory, EAST_ASIAN, embeddings)


def test_too_few_people_keep_auto_accept_off_and_say_how_many_are_needed(
    east_asian_register: list[object], db: Session, settings: Settings
) -> None:
    made = _calibrate(db, settings, 0.001)
    assert not made.auto_accept
    assert made.population == 60 and made.impostor_pairs + made.relative_pairs == 60 * 59 // 2
    assert made.reason is not None and "about 78 enrolled people" in made.reason
    # Verification: review at best, with the reason.
    person = east_asian_register[0]
    bars, calibration_id = calibration.thresholds_for(
        session=db, settings=settings, pensioner=person, model_name=DLIB[0], model_version=DLIB[1]
    )
    assert bars.match is None and calibration_id == made.id
    assert "calibration_too_few_pairs" in bars.reasons


def test_a_calibration_is_audited_with_before_and_after_and_replaces_the_last(
    east_asian_register: list[object], db: Session, settings: Settings
) -> None:
    first = _calibrate(db, settings, 0.05)
    second = _calibrate(db, settings, 0.02)
    assert first.auto_accept and second.auto_accept
    db.refresh(first)
    assert not first.active and second.active
    events = db.exec(
        select(AuditEvent).where(AuditEvent.action == "face.calibration").order_by(AuditEvent.seq)  # type: ignore[arg-type]
    ).all()
    assert len(events) == 2
    assert events[0].before is None and events[0].after["calibration_id"] == first.id
    assert events[1].before["calibration_id"] == first.id
    assert events[1].after["target_fmr"] == 0.02
    # A stricter target can only raise the bar.
    assert second.thresholds["overall"]["match"] >= first.thresholds["overall"]["match"]
    assert second.thresholds["overall"]["fmr_upper"] <= 0.02


def test_a_calibration_of_another_model_or_normalisation_is_not_used(
    east_asian_register: list[object], db: Session, settings: Settings
) -> None:
    made = _calibrate(db, settings, 0.05)
    person = east_asian_register[0]
    other, _ = calibration.thresholds_for(
        session=db, settings=settings, pensioner=person, model_name=DLIB[0], model_version="v2"
    )
    assert other.match is None and other.reasons == ("calibration_for_another_model",)
    settings.face_tail_fraction = 0.5
    renormalised, _ = calibration.thresholds_for(
        session=db, settings=settings, pensioner=person, model_name=DLIB[0], model_version=DLIB[1]
    )
    assert renormalised.match is None
    assert made.tail_fraction == 0.1


def test_people_in_a_slice_the_calibration_never_saw_are_reviewed(
    east_asian_register: list[object], db: Session, factory: Factory, settings: Settings
) -> None:
    _calibrate(db, settings, 0.05)
    factory.region("440305", "深圳市南山区")
    newcomer = factory.pensioner("440305", name="钱某", phone="13600000000")
    bars, _ = calibration.thresholds_for(
        session=db,
        settings=settings,
        pensioner=newcomer,
        model_name=DLIB[0],
        model_version=DLIB[1],
    )
    assert bars.match is None
    assert bars.reasons == ("calibration_slice_missing:region:44",)


def test_possible_relatives_are_counted_apart(
    db: Session, factory: Factory, settings: Settings, embeddings: dict[Path, FaceEmbedding]
) -> None:
    _enrol_people(db, factory, EAST_ASIAN[:30], embeddings)
    # Two more who share a surname and a phone with each other: possibly one household.
    for path in EAST_ASIAN[30:32]:
        person = factory.pensioner("110108", name="欧阳某", phone="13512345678")
        db.add(embedding_row(person, embeddings[path]))
    db.commit()
    made = _calibrate(db, settings, 0.05)
    assert made.relative_pairs == 1
    assert made.impostor_pairs == 32 * 31 // 2 - 1


def test_drift_report_detects_a_calibration_made_on_another_population(
    db: Session, factory: Factory, settings: Settings, embeddings: dict[Path, FaceEmbedding]
) -> None:
    """Calibrated while the register held press photos; then it becomes East-Asian."""
    settings.face_calibration_slices = []
    press = _enrol_people(db, factory, PRESS, embeddings)
    made = _calibrate(db, settings, 0.05)
    assert made.auto_accept
    assert _report(db, settings)["warnings"] == []  # the same population: no drift
    for person in press:
        for face in service.active_faces(session=db, pensioner_id=person.id):  # type: ignore[attr-defined]
            face.active = False
            db.add(face)
    db.commit()
    _enrol_people(db, factory, EAST_ASIAN, embeddings)
    report = _report(db, settings)
    register = report["register"]
    assert isinstance(register, dict)
    assert register["population"] == 60
    warnings = report["warnings"]
    assert isinstance(warnings, list) and warnings, report
    assert any("drift" in w for w in warnings)


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    from app.config import get_settings

    monkeypatch.setenv("LIFECERT_DATABASE_URL", settings.resolved_database_url)
    get_settings.cache_clear()
    yield {"LIFECERT_DATABASE_URL": settings.resolved_database_url}
    get_settings.cache_clear()


def test_calibrate_command_needs_a_national_admin_and_reports(
    east_asian_register: list[object], factory: Factory, cli_env: dict[str, str]
) -> None:
    from app.cli import cli

    runner = CliRunner()
    regional = factory.staff("admin", scope="11")
    national = factory.staff("admin", scope="")
    env = cli_env
    denied = runner.invoke(cli, ["faces", "calibrate", "--as", regional.username], env=env)  # type: ignore[attr-defined]
    assert denied.exit_code == 1 and json.loads(denied.stderr)["error"] == "PermissionDenied"
    bad = runner.invoke(cli, ["faces", "calibrate", "--target-fmr", "0"], env=env)
    assert bad.exit_code == 2 and json.loads(bad.stderr)["error"] == "InvalidTarget"
    made = runner.invoke(
        cli,
        ["faces", "calibrate", "--as", national.username, "--target-fmr", "0.05"],  # type: ignore[attr-defined]
        env=env,
    )
    assert made.exit_code == 0, made.output
    summary = json.loads(made.stdout)
    assert summary["auto_accept"] is True and summary["population"] == 60
    report = runner.invoke(cli, ["faces", "calibrate", "--report"], env=env)
    assert report.exit_code == 0, report.output
    body = json.loads(report.stdout)
    assert body["calibration"]["calibration_id"] == summary["calibration_id"]
    assert body["warnings"] == []
