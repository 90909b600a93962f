"""Stored biometric files (photos, videos, key frames, call frames, consular scans): the one
place that writes, reads and deletes them, encrypted at rest.

A file is a header and AES-256-GCM ciphertext. Each file has its own random data key; the
header carries that key wrapped (AES-GCM) by a master key from the settings, named by a key
id, so several master keys can be in use while `lifecert media rotate-keys` re-wraps files
under the current one without touching their ciphertext. The ciphertext is bound to the
file's path under the media folder: a file copied over another one's name does not open.
Files are written 0600 in 0700 folders, under a temporary name first so a crash never leaves
a half file under the real name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi.responses import Response
from sqlmodel import Session

from app.config import Settings, parse_media_key
from app.db import after_commit
from app.errors import AppError

log = logging.getLogger(__name__)

MAGIC = b"LCMF"
VERSION = 1
KEY_ID_BYTES = 8
NONCE_BYTES = 12
DATA_KEY_BYTES = 32
TAG_BYTES = 16
# magic, version, master key id, nonce of the wrapping, wrapped data key, nonce of the data
HEADER = struct.Struct(
    f">4sB{KEY_ID_BYTES}s{NONCE_BYTES}s{DATA_KEY_BYTES + TAG_BYTES}s{NONCE_BYTES}s"
)
FILE_MODE = 0o600
DIR_MODE = 0o700
PART_SUFFIX = ".part"


class MediaError(AppError):
    status_code = 500
    code = "MediaError"


class MediaMissing(MediaError):
    code = "MediaMissing"
    message = (
        "The stored file is missing from the media folder (`lifecert media verify` lists "
        "such records)."
    )


class MediaDeleted(AppError):
    status_code = 410
    code = "MediaDeleted"
    message = "This file was deleted at the end of its retention period; its record remains."


class MediaUnreadable(MediaError):
    code = "MediaUnreadable"
    message = (
        "The stored file failed its integrity check: it was altered or damaged on disk, or is "
        "encrypted under a master key this service is not given. It was not served."
    )


@dataclass(frozen=True)
class MasterKey:
    id: bytes
    aead: AESGCM

    @property
    def id_hex(self) -> str:
        return self.id.hex()


def key_id(raw: bytes) -> bytes:
    """A short public name of a master key (a hash of it; it reveals nothing of the key)."""
    return hashlib.sha256(b"lifecert media key id\0" + raw).digest()[:KEY_ID_BYTES]


@dataclass(frozen=True)
class Keyring:
    current: MasterKey
    by_id: dict[bytes, MasterKey]


@lru_cache(maxsize=8)
def _keyring(keys: tuple[str, ...]) -> Keyring:
    masters = []
    for text in keys:
        raw = parse_media_key(text)
        masters.append(MasterKey(id=key_id(raw), aead=AESGCM(raw)))
    return Keyring(current=masters[0], by_id={m.id: m for m in reversed(masters)})


def keyring(settings: Settings) -> Keyring:
    return _keyring(settings.media_keys)


@dataclass(frozen=True)
class Header:
    key_id: bytes
    wrap_nonce: bytes
    wrapped_key: bytes
    nonce: bytes

    def pack(self) -> bytes:
        return HEADER.pack(
            MAGIC, VERSION, self.key_id, self.wrap_nonce, self.wrapped_key, self.nonce
        )


def parse_header(blob: bytes) -> Header | None:
    """The header of an encrypted file, or None when the bytes are not one (plaintext)."""
    if len(blob) < HEADER.size or not blob.startswith(MAGIC):
        return None
    magic, version, kid, wrap_nonce, wrapped, nonce = HEADER.unpack_from(blob)
    if version != VERSION:
        return None
    return Header(key_id=kid, wrap_nonce=wrap_nonce, wrapped_key=wrapped, nonce=nonce)


def _wrap_aad(kid: bytes) -> bytes:
    return MAGIC + bytes([VERSION]) + kid


def _data_aad(relative: str) -> bytes:
    return MAGIC + bytes([VERSION]) + _clean(relative).encode()


def _clean(relative: str) -> str:
    path = PurePosixPath(relative)
    if not relative or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{relative!r} is not a path inside the media folder")
    return str(path)


def _wrap(master: MasterKey, data_key: bytes) -> tuple[bytes, bytes]:
    nonce = os.urandom(NONCE_BYTES)
    return nonce, master.aead.encrypt(nonce, data_key, _wrap_aad(master.id))


def _unwrap(ring: Keyring, header: Header) -> bytes:
    master = ring.by_id.get(header.key_id)
    if master is None:
        raise MediaUnreadable(
            f"The stored file is encrypted under master key {header.key_id.hex()}, which this "
            "service is not given (LIFECERT_MEDIA_MASTER_KEY / LIFECERT_MEDIA_OLD_MASTER_KEYS)."
        )
    try:
        return master.aead.decrypt(header.wrap_nonce, header.wrapped_key, _wrap_aad(master.id))
    except InvalidTag as exc:
        raise MediaUnreadable() from exc


def rewrap(ring: Keyring, header: Header) -> Header:
    """The same file's header with its data key wrapped under the current master key."""
    data_key = _unwrap(ring, header)
    wrap_nonce, wrapped = _wrap(ring.current, data_key)
    return Header(ring.current.id, wrap_nonce, wrapped, header.nonce)


def encrypt(*, settings: Settings, relative: str, data: bytes) -> bytes:
    master = keyring(settings).current
    data_key = AESGCM.generate_key(bit_length=DATA_KEY_BYTES * 8)
    wrap_nonce, wrapped = _wrap(master, data_key)
    header = Header(master.id, wrap_nonce, wrapped, os.urandom(NONCE_BYTES))
    body = AESGCM(data_key).encrypt(header.nonce, data, _data_aad(relative))
    return header.pack() + body


def decrypt(*, settings: Settings, relative: str, blob: bytes) -> bytes:
    header = parse_header(blob)
    if header is None and blob.startswith(MAGIC):  # cut short, or a version we do not know
        raise MediaUnreadable()
    if header is None:
        raise MediaUnreadable(
            "The stored file is not in the encrypted format (written before encryption, or "
            "replaced on disk); run `lifecert media rotate-keys` to encrypt files left from "
            "before, and `lifecert media verify` to list the others. It was not served."
        )
    data_key = _unwrap(keyring(settings), header)
    try:
        return AESGCM(data_key).decrypt(header.nonce, blob[HEADER.size :], _data_aad(relative))
    except InvalidTag as exc:
        raise MediaUnreadable() from exc


def _private_dirs(root: Path, directory: Path) -> None:
    """Create directory and the folders between it and root, all 0700 (mkdir -p ignores
    the mode for the parents it makes, and the umask narrows it anyway)."""
    levels = [root, *(root / part for part in _parts(directory.relative_to(root)))]
    for level in levels:
        level.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        if level.stat().st_mode & 0o777 != DIR_MODE:
            level.chmod(DIR_MODE)


def _parts(relative: Path) -> Iterator[Path]:
    current = Path()
    for part in relative.parts:
        current = current / part
        yield current


def write_private(*, root: Path, path: Path, data: bytes) -> Path:
    """Write path (under root) 0600 in 0700 folders; a crash leaves a .part file, never a
    half-written file under the real name."""
    _private_dirs(root, path.parent)
    tmp = path.with_name(path.name + PART_SUFFIX)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), FILE_MODE)  # a .part left by a crash keeps its own mode
        handle.write(data)
    tmp.replace(path)
    return path


def write_atomically(path: Path, data: bytes) -> Path:
    """A plain file that is not biometric (a feed batch); a crash leaves a .part file, never
    a half-written file under the real name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + PART_SUFFIX)
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def path_of(*, settings: Settings, relative: str) -> Path:
    return settings.resolved_media_dir / _clean(relative)


def store(*, settings: Settings, relative: str, data: bytes) -> Path:
    """Encrypt and write a file under the media folder; relative is what its record keeps."""
    encrypted = encrypt(settings=settings, relative=relative, data=data)
    return write_private(
        root=settings.resolved_media_dir,
        path=path_of(settings=settings, relative=relative),
        data=encrypted,
    )


def read(*, settings: Settings, relative: str | None) -> bytes:
    """The plaintext of a stored file; MediaDeleted, MediaMissing or MediaUnreadable if not."""
    if not relative:
        raise MediaDeleted()
    path = path_of(settings=settings, relative=relative)
    try:
        blob = path.read_bytes()
    except FileNotFoundError as exc:
        log.error("stored file missing: %s", relative)
        raise MediaMissing() from exc
    try:
        return decrypt(settings=settings, relative=relative, blob=blob)
    except MediaUnreadable:
        log.error("stored file failed its integrity check: %s", relative)
        raise


def response(*, settings: Settings, relative: str | None, media_type: str) -> Response:
    """An HTTP response with a stored file's plaintext."""
    return private_response(read(settings=settings, relative=relative), media_type=media_type)


def private_response(data: bytes, *, media_type: str) -> Response:
    # Decrypted biometric data: browsers and proxies keep no copy.
    return Response(content=data, media_type=media_type, headers={"Cache-Control": "no-store"})


def remove(*, settings: Settings, relative: str | None) -> None:
    """Delete a stored file now; one already gone is fine (a purge may be re-run after a crash)."""
    if relative:
        path_of(settings=settings, relative=relative).unlink(missing_ok=True)


def remove_after_commit(*, session: Session, settings: Settings, relative: str | None) -> None:
    """Delete a stored file once the session's transaction commits (its record is deleted in
    it); a rollback keeps the file, since the record then stays too."""
    if relative:
        path = path_of(settings=settings, relative=relative)
        after_commit(session, lambda: path.unlink(missing_ok=True))
