"""Stored uploads (photos, videos, key frames, feed files) written so no half file is left."""

from __future__ import annotations

from pathlib import Path


def write_atomically(path: Path, data: bytes) -> Path:
    """A crash leaves a .part file, never a half-written file under the real name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def store(*, media_dir: Path, relative: str, data: bytes) -> Path:
    return write_atomically(media_dir / relative, data)


def remove(*, media_dir: Path, relative: str) -> None:
    """Delete a stored file; one already gone is fine (a purge may be re-run after a crash)."""
    (media_dir / relative).unlink(missing_ok=True)
