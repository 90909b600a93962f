"""`lifecert backup` under writes, `lifecert restore` into a new database: the row counts are
the manifest's, the audit chain verifies, and every media file decrypts to what was stored for
its record. A database that is not empty is refused."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result
from fastapi import FastAPI
from sqlmodel import Session, select
from typer.testing import CliRunner

from app import media
from app.audit import service as audit
from app.audit.service import Actor
from app.backup import MANIFEST
from app.cli import cli
from app.config import Environment, Settings, get_settings
from models.face import EnrolledFace, FaceSource
from tests.conftest import (
    TEST_SECRET,
    Backend,
    Factory,
    create_postgres_database,
    drop_postgres_database,
)

WRITER = Actor(type="system", id="backup-test-writer")


@dataclass
class Writer:
    """Adds a pensioner, an enrolled photo (a stored, encrypted file) and an audit event per
    transaction until stopped; remembers what each file holds."""

    factory: Factory
    stored: dict[str, bytes] = field(default_factory=dict)
    rounds: int = 0
    error: BaseException | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def write_one(self) -> None:
        session = self.factory.session
        if self.factory._seq > 900:  # a 3-digit sequence per birth date
            self.factory._seq, self.factory.born = 100, self.factory.born + timedelta(days=1)
        pensioner = self.factory.pensioner()
        photo = f"photo of {pensioner.id} {uuid.uuid4()}".encode()  # type: ignore[attr-defined]
        face = EnrolledFace(
            pensioner_id=pensioner.id,  # type: ignore[attr-defined]
            source=FaceSource.enrolment,
            photo_path=f"faces/{pensioner.id}/{uuid.uuid4()}.jpg",  # type: ignore[attr-defined]
            photo_sha256=hashlib.sha256(photo).hexdigest(),
            photo_format="jpeg",
            photo_width=640,
            photo_height=480,
            embedding=bytes(1024),
            model_name="test",
            model_version="test",
            added_by_type="system",
            added_by_id="test",
        )
        media.store(settings=self.factory.settings, relative=face.photo_path, data=photo)
        session.add(face)
        audit.record(
            session=session,
            actor=WRITER,
            action="face.enrolled",
            entity_type="pensioner",
            entity_id=pensioner.id,  # type: ignore[attr-defined]
            after={"photo": face.photo_path},
        )
        session.commit()
        self.stored[face.photo_path] = photo
        self.rounds += 1

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.write_one()
        except BaseException as exc:  # reported by the test
            self.error = exc


Invoke = Callable[..., Result]


@pytest.fixture
def lifecert(monkeypatch: pytest.MonkeyPatch) -> Iterator[Invoke]:
    """Run a lifecert command with these LIFECERT_* settings."""
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str]) -> Result:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        try:
            return runner.invoke(cli, list(args), catch_exceptions=False)
        finally:
            get_settings.cache_clear()

    yield invoke
    get_settings.cache_clear()


@pytest.fixture
def fresh_database(backend: Backend, tmp_path: Path) -> Iterator[str]:
    if backend.name == "postgresql":
        url = create_postgres_database()
        yield url
        drop_postgres_database(url)
    else:
        yield f"sqlite:///{tmp_path / 'restored' / 'lifecert.db'}"


def _counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        counts = {
            name: conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one()
            for name in names
            if name != "alembic_version"
        }
    engine.dispose()
    return counts


def test_backup_under_writes_restores_whole(
    app: FastAPI,
    backend: Backend,
    settings: Settings,
    tmp_path: Path,
    fresh_database: str,
    lifecert: Invoke,
) -> None:
    # The audit key the writer's events are keyed with, held outside the data like the media
    # master key, and carried over to the restore with it.
    audit_key = get_settings().audit_signing_key.decode()
    source_env = {
        "LIFECERT_DATA_DIR": str(settings.data_dir),
        "LIFECERT_DATABASE_URL": settings.resolved_database_url,
        "LIFECERT_SECRET_KEY": TEST_SECRET,
        "LIFECERT_ENV": Environment.test.value,
        "LIFECERT_AUDIT_KEY": audit_key,
    }
    writer = Writer(Factory(Session(backend.engine, expire_on_commit=False), settings))
    writer.factory.born = date(1951, 7, 1)  # ID numbers of its own
    for _ in range(5):
        writer.write_one()
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    try:
        while writer.rounds < 10:
            time.sleep(0.02)
        before = writer.rounds
        folder = tmp_path / "backup"
        done = lifecert("backup", str(folder), env=source_env)
        during = writer.rounds - before
        while writer.rounds < before + during + 3:  # and the writer goes on after it
            time.sleep(0.02)
    finally:
        writer.stop.set()
        thread.join(timeout=30)
        writer.factory.session.close()
    assert writer.error is None, writer.error
    assert done.exit_code == 0, done.output
    assert during > 0, "the backup ran without a concurrent write"
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["database"] == backend.name
    # A consistent cut: as many photos as faces, an audit event per photo, and less than
    # everything written by the end.
    counts = manifest["row_counts"]
    assert counts["enrolled_face"] == manifest["media_files"] == counts["audit_event"]
    assert 10 <= counts["enrolled_face"] < writer.rounds
    assert manifest["audit_head"]["seq"] == counts["audit_event"]
    assert manifest["media_missing"] == []
    assert sorted(p.stat().st_mode & 0o777 for p in (folder / "media").rglob("*.jpg"))[-1] == 0o600

    # Into a new database and media folder; only the master key and the audit key are
    # carried over.
    target_env = {
        "LIFECERT_DATA_DIR": str(tmp_path / "restored"),
        "LIFECERT_DATABASE_URL": fresh_database,
        "LIFECERT_SECRET_KEY": TEST_SECRET,
        "LIFECERT_ENV": Environment.test.value,
        "LIFECERT_MEDIA_MASTER_KEY": settings.media_keys[0],
        "LIFECERT_AUDIT_KEY": audit_key,
    }
    restored = lifecert("restore", str(folder), env=target_env)
    assert restored.exit_code == 0, restored.output
    assert "match the manifest" in restored.output
    assert _counts(fresh_database) == counts

    verified = lifecert("audit", "verify", env=target_env)
    assert verified.exit_code == 0 and "intact" in verified.output, verified.output
    # The manifest's audit head anchors the restored chain (lifecert audit verify --head).
    anchored = lifecert("audit", "verify", "--head", str(folder / MANIFEST), env=target_env)
    assert anchored.exit_code == 0 and "1 exported heads present" in anchored.output
    files = lifecert("media", "verify", "--deep", "--json", env=target_env)
    assert files.exit_code == 0, files.output
    assert json.loads(files.output)["files"] == counts["enrolled_face"]
    # Every file decrypts to the bytes written for its record, and its hash is the record's.
    restored_settings = Settings(
        env=Environment.test,
        data_dir=tmp_path / "restored",
        database_url=fresh_database,
        secret_key=TEST_SECRET,
        media_master_key=settings.media_keys[0],
    )
    engine = sa.create_engine(fresh_database, poolclass=sa.pool.NullPool)
    with Session(engine) as session:
        faces = session.exec(select(EnrolledFace)).all()
        for face in faces:
            plain = media.read(settings=restored_settings, relative=face.photo_path)
            assert plain == writer.stored[face.photo_path]
            assert hashlib.sha256(plain).hexdigest() == face.photo_sha256
    engine.dispose()
    assert len(faces) == counts["enrolled_face"]

    # Not over a database that has anything in it.
    again = lifecert(
        "restore", str(folder), env={**target_env, "LIFECERT_DATA_DIR": str(tmp_path / "other")}
    )
    assert again.exit_code == 1
    refusal = json.loads(again.stderr)
    assert refusal["error"] == "RestoreRefused" and "is not empty" in refusal["detail"]
    assert _counts(fresh_database) == counts
