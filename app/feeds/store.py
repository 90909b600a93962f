"""Where feed files live: the source as received, the normalised records, DuckDB scratch space."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

import duckdb

from app.config import Settings
from app.media import write_atomically
from models.records import FeedType


def open_duckdb(settings: Settings) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB bounded in memory and threads; it spills to the feeds' tmp folder."""
    tmp = settings.resolved_feeds_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        config={
            "memory_limit": settings.duckdb_memory_limit,
            "threads": settings.duckdb_threads,
            "temp_directory": str(tmp),
        }
    )
    # Batch work: the progress bar only writes to stderr.
    con.execute("SET enable_progress_bar = false")
    return con


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def source_path(settings: Settings, sha256: str, suffix: str) -> Path:
    path = settings.resolved_feeds_dir / "source" / f"{sha256}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def keep_source_bytes(settings: Settings, sha256: str, suffix: str, content: bytes) -> Path:
    path = source_path(settings, sha256, suffix)
    if not path.exists():
        write_atomically(path, content)
    return path


def keep_source_file(settings: Settings, sha256: str, original: Path) -> Path:
    """A hard link when possible (no copy of a large file), a copy otherwise."""
    path = source_path(settings, sha256, original.suffix.lower())
    if not path.exists():
        try:
            os.link(original, path)
        except OSError:
            shutil.copyfile(original, path)
    return path


def records_path(settings: Settings, feed_type: FeedType, batch_id: uuid.UUID) -> Path:
    path = settings.resolved_feeds_dir / "records" / feed_type.value / f"{batch_id}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def relative(settings: Settings, path: Path) -> str:
    try:
        return str(path.relative_to(settings.resolved_feeds_dir))
    except ValueError:
        return str(path)


def absolute(settings: Settings, stored: str) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else settings.resolved_feeds_dir / path
