"""`lifecert backup DIR` and `lifecert restore DIR`: the database, the stored media as they lie
on disk (encrypted), the audit chain's head and a manifest with every table's row count.

Consistent under writes: on PostgreSQL the counts, the audit head and the list of media files
are read in one repeatable-read transaction whose snapshot `pg_dump --snapshot` dumps; on
SQLite the online backup API copies one consistent state and everything is read from the copy.
Only the files the backed-up records point to are copied, so a restore has neither orphans nor
(unless a file was deleted while the backup ran, which the manifest lists) missing files.
The master keys are not in the backup: keep them apart, and give the restored service the same
LIFECERT_MEDIA_MASTER_KEY (and old keys).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url
from sqlmodel import Session, SQLModel

from app.config import Settings
from app.media import storage
from app.media.inventory import referenced_files

MANIFEST = "manifest.json"
POSTGRES_DUMP = "database.dump"
SQLITE_COPY = "database.sqlite"
MEDIA = "media"
FORMAT = 1


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass
class Manifest:
    format: int
    created_at: str
    database: str  # "postgresql" or "sqlite"
    alembic_revision: str | None
    row_counts: dict[str, int]
    audit_head: dict[str, Any]  # {"seq": n, "hash": "..."}, seq 0 for an empty chain
    media_files: int
    media_missing: list[str] = field(default_factory=list)  # deleted while the backup ran


def _tables() -> list[str]:
    import models  # noqa: F401  (registers every table)

    return [table.name for table in SQLModel.metadata.sorted_tables]


def _read_state(conn: Connection) -> tuple[dict[str, int], dict[str, Any], str | None]:
    counts = {
        name: int(conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one())
        for name in _tables()
    }
    head = conn.execute(sa.text("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1"))
    row = head.first()
    audit_head = {"seq": int(row[0]), "hash": str(row[1])} if row else {"seq": 0, "hash": ""}
    revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return counts, audit_head, revision


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _media_paths(conn: Connection) -> list[str]:
    with Session(bind=conn) as session:
        return sorted({relative for _, relative in referenced_files(session)})


def _copy_media(settings: Settings, relatives: list[str], target: Path) -> list[str]:
    """Copy the files as stored; returns those that were gone."""
    root = settings.resolved_media_dir
    target.mkdir(mode=storage.DIR_MODE)
    missing = []
    for relative in relatives:
        source = root / relative
        destination = target / relative
        for parent in reversed(destination.relative_to(target).parents[:-1]):
            (target / parent).mkdir(mode=storage.DIR_MODE, exist_ok=True)
        try:
            shutil.copyfile(source, destination)
        except FileNotFoundError:
            missing.append(relative)
            continue
        destination.chmod(storage.FILE_MODE)
    return missing


def _empty_target(directory: Path) -> None:
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(f"{directory} is not empty: give a new or empty folder for the backup")
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)


def backup(*, settings: Settings, directory: Path) -> Manifest:
    _empty_target(directory)
    url = settings.resolved_database_url
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        if engine.dialect.name == "postgresql":
            with _pg_snapshot(engine) as (conn, snapshot):
                counts, head, revision = _read_state(conn)
                relatives = _media_paths(conn)
                _pg_dump(url, snapshot, directory / POSTGRES_DUMP)
                missing = _copy_media(settings, relatives, directory / MEDIA)
        elif engine.dialect.name == "sqlite":
            copy = directory / SQLITE_COPY
            _sqlite_copy(make_url(url).database or "", copy)
            copied = sa.create_engine(f"sqlite:///{copy}", poolclass=sa.pool.NullPool)
            with copied.connect() as conn:
                counts, head, revision = _read_state(conn)
                relatives = _media_paths(conn)
            copied.dispose()
            copy.chmod(0o600)
            missing = _copy_media(settings, relatives, directory / MEDIA)
        else:
            raise BackupError(f"no backup for a {engine.dialect.name} database")
    finally:
        engine.dispose()
    manifest = Manifest(
        format=FORMAT,
        created_at=datetime.now(UTC).isoformat(),
        database=engine.dialect.name,
        alembic_revision=revision,
        row_counts=counts,
        audit_head=head,
        media_files=len(relatives) - len(missing),
        media_missing=missing,
    )
    (directory / MANIFEST).write_text(json.dumps(manifest.__dict__, indent=2) + "\n")
    return manifest


@contextmanager
def _pg_snapshot(engine: sa.Engine) -> Iterator[tuple[Connection, str]]:
    """A repeatable-read transaction and the id under which pg_dump can share its snapshot."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
            yield conn, str(snapshot)


def _run(command: list[str], what: str) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is needed for {what} (Debian: postgresql-client)")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{what} failed: {done.stderr.strip() or done.stdout.strip()}")


def _pg_dump(url: str, snapshot: str, target: Path) -> None:
    _run(
        ["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={target}", _libpq(url)],
        "pg_dump",
    )
    target.chmod(0o600)


def _sqlite_copy(source: str, target: Path) -> None:
    if not Path(source).exists():
        raise BackupError(f"no SQLite database at {source}")
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # one step: a consistent copy even while others write
    finally:
        dst.close()
        src.close()


# --- restore -----------------------------------------------------------------------------------


@dataclass
class RestoreReport:
    manifest: Manifest
    row_counts: dict[str, int]
    audit_head: dict[str, Any]
    media_files: int

    @property
    def mismatches(self) -> dict[str, tuple[int, int]]:
        """Tables whose restored row count differs from the manifest's (expected, found)."""
        return {
            name: (count, self.row_counts.get(name, -1))
            for name, count in self.manifest.row_counts.items()
            if self.row_counts.get(name, -1) != count
        }

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.audit_head == self.manifest.audit_head


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST
    if not path.exists():
        raise BackupError(f"{directory} holds no {MANIFEST}: not a lifecert backup")
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise BackupError(f"{path}: backup format {data.get('format')} is not {FORMAT}")
    return Manifest(**data)


def _existing_tables(engine: sa.Engine) -> list[str]:
    return sorted(sa.inspect(engine).get_table_names())


def restore(*, settings: Settings, directory: Path) -> RestoreReport:
    manifest = read_manifest(directory)
    url = settings.resolved_database_url
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    if engine.dialect.name == "sqlite":
        Path(make_url(url).database or "").parent.mkdir(parents=True, exist_ok=True)
    try:
        if engine.dialect.name != manifest.database:
            raise BackupError(
                f"the backup is of a {manifest.database} database; LIFECERT_DATABASE_URL names "
                f"a {engine.dialect.name} one"
            )
        tables = _existing_tables(engine)
        if tables:
            raise BackupError(
                f"the database {make_url(url).render_as_string(hide_password=True)} is not "
                f"empty ({len(tables)} tables, e.g. {', '.join(tables[:3])}): restore only into "
                "a new, empty database (PostgreSQL: createdb; SQLite: a new file)"
            )
        media_root = settings.resolved_media_dir
        if media_root.exists() and any(media_root.iterdir()):
            raise BackupError(f"the media folder {media_root} is not empty: give an empty one")
        if manifest.database == "postgresql":
            _run(
                [
                    "pg_restore",
                    "--no-owner",
                    "--exit-on-error",
                    "--single-transaction",
                    f"--dbname={_libpq(url)}",
                    str(directory / POSTGRES_DUMP),
                ],
                "pg_restore",
            )
        else:
            _sqlite_copy(str(directory / SQLITE_COPY), Path(make_url(url).database or ""))
        files = _restore_media(directory / MEDIA, media_root)
        with engine.connect() as conn:
            counts, head, _ = _read_state(conn)
    finally:
        engine.dispose()
    return RestoreReport(manifest=manifest, row_counts=counts, audit_head=head, media_files=files)


def _restore_media(source: Path, root: Path) -> int:
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(storage.DIR_MODE)
    files = 0
    for folder, dirs, names in os.walk(source):
        base = Path(folder)
        for name in dirs:
            (root / (base / name).relative_to(source)).mkdir(mode=storage.DIR_MODE)
        for name in names:
            destination = root / (base / name).relative_to(source)
            shutil.copyfile(base / name, destination)
            destination.chmod(storage.FILE_MODE)
            files += 1
    return files
