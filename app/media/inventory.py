"""The media folder checked against the records that point into it, and master-key rotation.

`verify` lists files no record points to (left by a crash between writing and committing, or
put there by hand), records whose file is gone, files not in the encrypted format or under a
master key the service is not given, and loose permissions; `deep` also decrypts every file.
`rotate_keys` re-wraps every file's data key under the current master key (the ciphertext is
not touched), encrypts files left from before encryption, and tightens permissions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, col, or_, select

from app.config import Settings
from app.media import storage
from app.media.storage import DIR_MODE, FILE_MODE, PART_SUFFIX, MediaUnreadable
from models.attempt import CertificationAttempt
from models.consular import ConsularDocument
from models.face import EnrolledFace
from models.video_call import CallFrame


@dataclass
class VerifyReport:
    files: int = 0
    records: int = 0
    orphan_files: list[str] = field(default_factory=list)  # no record points to them
    missing_files: list[dict[str, str]] = field(default_factory=list)  # {"kind", "path"}
    partial_files: list[str] = field(default_factory=list)  # .part files left by a crash
    not_encrypted: list[str] = field(default_factory=list)
    unknown_key: list[str] = field(default_factory=list)
    # Failed the integrity check (damaged headers always; altered contents with deep).
    unreadable: list[str] = field(default_factory=list)
    loose_permissions: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.orphan_files
            or self.missing_files
            or self.partial_files
            or self.not_encrypted
            or self.unknown_key
            or self.unreadable
            or self.loose_permissions
        )


def referenced_files(session: Session) -> Iterator[tuple[str, str]]:
    """(kind, relative path) of every stored file a record points to."""
    for path in session.exec(
        select(EnrolledFace.photo_path).where(col(EnrolledFace.photo_path) != "")
    ):
        yield "photo", path
    attempts = select(
        CertificationAttempt.selfie_path,
        CertificationAttempt.video_path,
        CertificationAttempt.decision,
    ).where(
        or_(
            col(CertificationAttempt.selfie_path).is_not(None),
            col(CertificationAttempt.video_path).is_not(None),
        )
    )
    for selfie, video, decision in session.exec(attempts.execution_options(yield_per=1000)):
        if selfie:
            yield "attempt_selfie", selfie
        if video:
            yield "attempt_video", video
        for frame in (decision or {}).get("key_frames", []):
            yield "key_frame", frame
    for path in session.exec(select(CallFrame.path).where(col(CallFrame.path) != "")):
        yield "call_frame", path
    for path in session.exec(
        select(ConsularDocument.file_path).where(col(ConsularDocument.file_path) != "")
    ):
        yield "consular_scan", path


def _walk(root: Path) -> Iterator[tuple[Path, bool]]:
    """(path, is a directory) of everything under root, root included, links not followed."""
    if not root.is_dir():
        return
    yield root, True
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        for name in sorted(dirs):
            yield base / name, True
        for name in sorted(files):
            yield base / name, False


def _mode(path: Path) -> int:
    return path.lstat().st_mode & 0o777


def verify(*, session: Session, settings: Settings, deep: bool = False) -> VerifyReport:
    root = settings.resolved_media_dir
    ring = storage.keyring(settings)
    expected: dict[str, str] = {}
    for kind, relative in referenced_files(session):
        expected[relative] = kind
    report = VerifyReport(records=len(expected))
    seen: set[str] = set()
    for path, is_dir in _walk(root):
        relative = path.relative_to(root).as_posix()
        if is_dir:
            if _mode(path) != DIR_MODE:
                report.loose_permissions.append(relative + "/")
            continue
        report.files += 1
        if _mode(path) != FILE_MODE:
            report.loose_permissions.append(relative)
        if relative.endswith(PART_SUFFIX):
            report.partial_files.append(relative)
            continue
        if relative not in expected:
            report.orphan_files.append(relative)
            continue
        seen.add(relative)
        with path.open("rb") as handle:
            head = handle.read(storage.HEADER.size)
        header = storage.parse_header(head)
        if header is None:
            damaged = head.startswith(storage.MAGIC)  # cut short, or from a newer version
            (report.unreadable if damaged else report.not_encrypted).append(relative)
        elif header.key_id not in ring.by_id:
            report.unknown_key.append(relative)
        elif deep:
            try:
                storage.read(settings=settings, relative=relative)
            except MediaUnreadable:
                report.unreadable.append(relative)
    report.missing_files = [
        {"kind": kind, "path": relative}
        for relative, kind in sorted(expected.items())
        if relative not in seen
    ]
    return report


@dataclass
class RotateReport:
    key_id: str  # the current master key's id
    rewrapped: int = 0
    encrypted: int = 0  # plaintext files from before encryption
    current: int = 0  # already under the current key
    permissions_fixed: int = 0
    failed: list[str] = field(default_factory=list)  # under a key not given, or damaged


def rotate_keys(*, settings: Settings) -> RotateReport:
    """Every file under the current master key; safe to re-run after an interruption."""
    root = settings.resolved_media_dir
    ring = storage.keyring(settings)
    report = RotateReport(key_id=ring.current.id_hex)
    for path, is_dir in list(_walk(root)):
        wanted = DIR_MODE if is_dir else FILE_MODE
        if _mode(path) != wanted:
            path.chmod(wanted)
            report.permissions_fixed += 1
        if is_dir or path.name.endswith(PART_SUFFIX):
            continue
        relative = path.relative_to(root).as_posix()
        blob = path.read_bytes()
        header = storage.parse_header(blob)
        if header is None and blob.startswith(storage.MAGIC):
            report.failed.append(relative)  # damaged, not plaintext: encrypting it would hide that
            continue
        if header is None:
            storage.store(settings=settings, relative=relative, data=blob)
            report.encrypted += 1
            continue
        if header.key_id == ring.current.id:
            report.current += 1
            continue
        try:
            rewrapped = storage.rewrap(ring, header)
        except MediaUnreadable:
            report.failed.append(relative)
            continue
        storage.write_private(
            root=root, path=path, data=rewrapped.pack() + blob[storage.HEADER.size :]
        )
        report.rewrapped += 1
    return report
