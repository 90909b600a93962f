"""The lifecert command line against a real database: migrate, demo, staff, import, audit."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from app import media
from app.cli import cli
from app.config import Settings, get_settings
from app.security import hash_opaque_token
from models.audit import AuditEvent
from models.pensioner import Pensioner, Residence
from models.records import FeedClient
from models.staff import StaffUser
from models.upload import ResumableUpload, UploadPart
from tests.conftest import Backend, Factory


@pytest.fixture
def run(settings: Settings, app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("LIFECERT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LIFECERT_DATABASE_URL", settings.resolved_database_url)
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> object:
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    yield invoke
    get_settings.cache_clear()


def test_migrate_demo_and_audit_verify(run, backend: Backend, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    assert run("migrate").exit_code == 0
    result = run("demo")
    assert result.exit_code == 0, result.output
    creds = (settings.data_dir / "demo-credentials.txt").read_text()
    for username in ("admin", "reviewer", "agent", "community", "auditor"):
        assert username in creds and username in result.output
    with Session(backend.engine) as s:
        people = s.exec(select(Pensioner)).all()
        assert len(people) >= 30
        assert {p.residence for p in people} == set(Residence)
        assert all(p.overseas_timezone for p in people if p.residence is Residence.overseas)
        assert len(s.exec(select(StaffUser)).all()) == 5
    again = run("demo", "--if-empty")
    assert again.exit_code == 0 and "present" in again.output

    verified = run("audit", "verify")
    assert verified.exit_code == 0 and "intact" in verified.output
    with backend.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_event SET action = 'forged' WHERE seq = 1"))
    broken = run("audit", "verify", "--json")
    assert broken.exit_code == 1
    assert json.loads(broken.output)["problems"][0]["problem"] == "edited"


def test_create_staff(run, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    ok = run(
        "create-staff",
        "li.ming",
        "--roles",
        "reviewer,auditor",
        "--region-scope",
        "11",
        env={"LIFECERT_NEW_PASSWORD": "a very long password"},
    )
    assert ok.exit_code == 0, ok.output
    dup = run(
        "create-staff",
        "li.ming",
        "--roles",
        "reviewer",
        env={"LIFECERT_NEW_PASSWORD": "a very long password"},
    )
    assert dup.exit_code == 1
    assert json.loads(dup.output)["error"] == "DuplicateUsername"
    bad = run("create-staff", "x", "--roles", "janitor", env={"LIFECERT_NEW_PASSWORD": "short"})
    assert bad.exit_code == 2
    detail = json.loads(bad.output)["detail"]
    assert "username" in detail and "password" in detail and "roles" in detail


def test_feeds_create_client(run, backend: Backend, factory: Factory) -> None:  # type: ignore[no-untyped-def]
    factory.staff("admin", username="national")
    factory.staff("admin", scope="11", username="beijing")
    regional = run(
        "feeds", "create-client", "MPS deaths", "--source", "public_security", "--as", "beijing"
    )
    assert regional.exit_code == 1 and json.loads(regional.output)["error"] == "PermissionDenied"
    made = run(
        "feeds", "create-client", "MPS deaths", "--source", "public_security", "--as", "national"
    )
    assert made.exit_code == 0, made.output
    key = made.output.split("Key (shown once): ")[1].strip()
    with Session(backend.engine) as s:
        client = s.exec(select(FeedClient)).one()
        assert client.source_authority == "public_security"
        assert client.key_hash == hash_opaque_token(key) and key.startswith(client.key_prefix)
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "feed_client.create")).one()
        assert event.client_address == "cli"
    again = run("feeds", "create-client", "MPS deaths", "--source", "x", "--as", "national")
    assert again.exit_code == 1 and json.loads(again.output)["error"] == "DuplicateFeedClient"


def test_import_pensioners(run, backend: Backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("demo")
    good = tmp_path / "good.csv"
    good.write_text(
        "national_id,name,phone,region_code,monthly_amount_fen\n"
        "11010519491231002X,王秀英,13800138000,110105,300000\n",
        encoding="utf-8",
    )
    result = run("import-pensioners", str(good), "--as", "admin")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["created"] == 1

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "national_id,name,phone,region_code,monthly_amount_fen\n"
        "110105194912310021,王,13800138000,110105,1\n",
        encoding="utf-8",
    )
    failed = run("import-pensioners", str(bad), "--as", "admin")
    assert failed.exit_code == 1
    assert json.loads(failed.output)["report"]["errors"][0]["field"] == "national_id"
    not_admin = run("import-pensioners", str(good), "--as", "reviewer")
    assert not_admin.exit_code == 1
    with Session(backend.engine) as s:
        assert (
            s.exec(
                select(func.count())
                .select_from(Pensioner)
                .where(Pensioner.national_id == "11010519491231002X")
            ).one()
            == 1
        )


def test_run_schedule_deletes_expired_uploads_and_keeps_live_ones(  # type: ignore[no-untyped-def]
    run, factory: Factory, settings: Settings, db: Session
) -> None:
    attempt = factory.attempt(factory.pensioner())

    def upload(expires_in: timedelta) -> tuple[uuid.UUID, Path]:
        row = ResumableUpload(
            attempt_id=attempt.id,  # type: ignore[attr-defined]
            pensioner_id=attempt.pensioner_id,  # type: ignore[attr-defined]
            part=UploadPart.video,
            length=1000,
            offset=10,
            chunks=1,
            nonce=uuid.uuid4().hex,
            expires_at=datetime.now(UTC) + expires_in,
        )
        db.add(row)
        db.commit()
        relative = f"uploads/{row.pensioner_id}/{row.id}/0"
        media.store(settings=settings, relative=relative, data=b"0123456789")
        return row.id, settings.resolved_media_dir / relative

    (_, expired_file), (live, live_file) = (
        upload(timedelta(seconds=-1)),
        upload(timedelta(minutes=5)),
    )
    result = run("run-schedule")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["uploads_expired"] == 1
    db.expire_all()
    assert [u.id for u in db.exec(select(ResumableUpload)).all()] == [live]
    assert not expired_file.exists() and live_file.exists()
    again = run("run-schedule")
    assert json.loads(again.output)["uploads_expired"] == 0
