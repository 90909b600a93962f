"""Resumable uploads of an attempt's selfie and video: the tus 1.0 core protocol with the
creation and expiration extensions (https://tus.io/protocols/resumable-upload).

A client creates one upload per part (POST with Upload-Length and Upload-Metadata `part`,
`nonce`, `mirrored`), sends its bytes in chunks (PATCH at Upload-Offset) and, after a lost
connection or a restart, asks where it stands (HEAD). The limits of the one-request upload
apply as early: the declared size at creation, the owner, the challenge's expiry and the
nonce at creation and on every chunk, the type sniffed from the first chunk's bytes. Each
chunk is stored encrypted like every other biometric file (`app.media`), as its own file
under `uploads/<pensioner>/<upload>/`. When the second part completes, both files go through
`service.accept_upload`, the same function as the one-request upload: replay refusal,
lockout and the 202/processing flow are the same. An upload expires with its challenge; an
expired one is deleted when it is next touched and by `purge_expired` (run every
`LIFECERT_UPLOAD_PURGE_SECONDS`, 60, by each API process).
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import logging
import secrets
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, col, delete, select

from app import media
from app.attempts import service
from app.attempts.errors import (
    ChallengeAlreadyUsed,
    ChallengeExpired,
    ChallengeMismatch,
    UploadExpired,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadPastLength,
    UploadProtocolError,
    UploadTooLarge,
    UploadVersionUnsupported,
)
from app.attempts.jobs import JobQueue
from app.audit.service import Actor
from app.config import Settings
from app.db import after_commit
from app.errors import UnsupportedMediaType
from app.media.storage import path_of
from biometrics import ImageError, sniff_format
from biometrics.errors import VideoError
from biometrics.video import sniff_video_format
from models.attempt import AttemptStatus, CertificationAttempt
from models.pensioner import Pensioner
from models.upload import ResumableUpload, UploadPart

log = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,expiration"
CHUNK_CONTENT_TYPE = "application/offset+octet-stream"
# Enough bytes to tell a photo or a video container from its first bytes.
SNIFF_BYTES = 16


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def http_date(value: datetime) -> str:
    """Upload-Expires is an RFC 9110 HTTP date."""
    return email.utils.format_datetime(_aware(value).astimezone(UTC), usegmt=True)


def check_version(header: str | None) -> None:
    if header != TUS_VERSION:
        raise UploadVersionUnsupported()


def parse_metadata(header: str | None) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64(value)` pairs (a key may have no value)."""
    pairs: dict[str, str] = {}
    for item in (header or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, _, encoded = item.partition(" ")
        try:
            value = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise UploadProtocolError(
                f"Upload-Metadata: the value of {key!r} is not base64 of UTF-8 text."
            ) from exc
        pairs[key] = value
    return pairs


def folder(upload: ResumableUpload) -> str:
    return f"uploads/{upload.pensioner_id}/{upload.id}"


def chunk_paths(upload: ResumableUpload) -> list[str]:
    return [f"{folder(upload)}/{n}" for n in range(upload.chunks)]


def _remove_files(settings: Settings, upload: ResumableUpload) -> None:
    shutil.rmtree(path_of(settings=settings, relative=folder(upload)), ignore_errors=True)


def _forget(session: Session, settings: Settings, upload: ResumableUpload) -> None:
    """Delete an upload's row, and its files once that is committed."""
    session.exec(delete(ResumableUpload).where(col(ResumableUpload.id) == upload.id))
    after_commit(session, lambda: _remove_files(settings, upload))


def _check_attempt(session: Session, attempt: CertificationAttempt, nonce: str) -> None:
    if attempt.challenge_used_at is not None or attempt.status is not AttemptStatus.awaiting_upload:
        raise ChallengeAlreadyUsed()
    if not secrets.compare_digest(nonce, attempt.challenge_nonce):
        raise ChallengeMismatch()
    if _aware(attempt.challenge_expires_at) <= _now():
        attempt.status = AttemptStatus.expired
        session.add(attempt)
        raise ChallengeExpired(persist_changes=True)


def create(
    *,
    session: Session,
    settings: Settings,
    attempt: CertificationAttempt,
    length: int,
    metadata: dict[str, str],
) -> ResumableUpload:
    """A new upload of one part of the attempt; one already begun for that part is replaced."""
    try:
        part = UploadPart(metadata.get("part", ""))
    except ValueError as exc:
        raise UploadProtocolError(
            "Upload-Metadata must name the part: `part` is `selfie` or `video`."
        ) from exc
    nonce = metadata.get("nonce", "")
    _check_attempt(session, attempt, nonce)
    limit = settings.max_photo_bytes if part is UploadPart.selfie else settings.max_video_bytes
    if length < 1:
        raise UploadProtocolError("Upload-Length must be at least 1 byte.")
    if length > limit:
        raise UploadTooLarge(
            f"The {part.value} is declared as {length} bytes; the limit is {limit} bytes.",
            limit=limit,
        )
    for old in session.exec(
        select(ResumableUpload).where(
            ResumableUpload.attempt_id == attempt.id, ResumableUpload.part == part
        )
    ).all():
        _forget(session, settings, old)
    upload = ResumableUpload(
        attempt_id=attempt.id,
        pensioner_id=attempt.pensioner_id,
        part=part,
        length=length,
        nonce=nonce,
        mirrored=metadata.get("mirrored", "false").lower() == "true",
        expires_at=_aware(attempt.challenge_expires_at),
    )
    session.add(upload)
    session.flush()
    return upload


def get_own(
    *,
    session: Session,
    settings: Settings,
    pensioner: Pensioner,
    upload_id: uuid.UUID,
    for_update: bool = False,
) -> ResumableUpload:
    """The pensioner's own upload, still valid; an expired one is deleted here (410)."""
    upload = session.get(ResumableUpload, upload_id, with_for_update=for_update)
    if upload is None or upload.pensioner_id != pensioner.id:
        raise UploadNotFound()
    if _aware(upload.expires_at) <= _now():
        _forget(session, settings, upload)
        raise UploadExpired(persist_changes=True)
    return upload


def check_chunk(upload: ResumableUpload, *, offset: int, size: int | None) -> None:
    """Refuse a chunk from its headers, before its bytes are read."""
    if offset != upload.offset:
        raise UploadOffsetMismatch(
            f"The chunk starts at byte {offset}; the upload stands at byte {upload.offset}.",
            offset=upload.offset,
        )
    if size is not None and offset + size > upload.length:
        raise UploadPastLength(
            f"The chunk ends at byte {offset + size}; the declared length is {upload.length}."
        )


def sniff(part: UploadPart, data: bytes) -> str:
    """The format of a part from its first bytes (the declared type is not trusted)."""
    try:
        if part is UploadPart.selfie:
            return sniff_format(data)
        return sniff_video_format(data)
    except ImageError as exc:
        raise UnsupportedMediaType(f"The selfie is not a photo: {exc.message}.") from exc
    except VideoError as exc:
        raise UnsupportedMediaType(f"The video is not a video clip: {exc.message}.") from exc


@dataclass(frozen=True)
class ChunkResult:
    upload: ResumableUpload
    attempt: CertificationAttempt


def write_chunk(
    *,
    session: Session,
    settings: Settings,
    pensioner: Pensioner,
    upload_id: uuid.UUID,
    offset: int,
    data: bytes,
    received: int,
    complete_body: bool,
    actor: Actor,
    queue: JobQueue,
) -> ChunkResult:
    """Store a chunk at `offset` (`received` body bytes were read; with complete_body False the
    client went away mid-chunk and what arrived is kept, as tus asks). When both parts are
    complete the attempt is accepted as by the one-request upload."""
    upload = get_own(
        session=session,
        settings=settings,
        pensioner=pensioner,
        upload_id=upload_id,
        for_update=True,
    )
    attempt = session.get(CertificationAttempt, upload.attempt_id, with_for_update=True)
    assert attempt is not None
    _check_attempt(session, attempt, upload.nonce)
    check_chunk(upload, offset=offset, size=len(data))
    if upload.offset == 0 and len(data) < min(SNIFF_BYTES, upload.length):
        if not complete_body:  # too little arrived to keep: it will be sent again
            upload.received += received
            session.add(upload)
            return ChunkResult(upload, attempt)
        raise UploadProtocolError(
            f"The first chunk must hold at least {SNIFF_BYTES} bytes, to tell its type."
        )
    upload.received += received
    if upload.offset == 0:
        upload.media_format = sniff(upload.part, data)
    if data:
        relative = f"{folder(upload)}/{upload.chunks}"
        media.store(settings=settings, relative=relative, data=data)
        upload.chunks += 1
        upload.offset += len(data)
    if upload.offset == upload.length:
        upload.completed_at = _now()
    session.add(upload)
    session.flush()
    if upload.completed_at is not None:
        _accept_if_complete(
            session=session,
            settings=settings,
            attempt=attempt,
            pensioner=pensioner,
            actor=actor,
            queue=queue,
        )
    return ChunkResult(upload, attempt)


def _accept_if_complete(
    *,
    session: Session,
    settings: Settings,
    attempt: CertificationAttempt,
    pensioner: Pensioner,
    actor: Actor,
    queue: JobQueue,
) -> None:
    uploads = {
        u.part: u
        for u in session.exec(
            select(ResumableUpload).where(ResumableUpload.attempt_id == attempt.id)
        ).all()
    }
    selfie, video = uploads.get(UploadPart.selfie), uploads.get(UploadPart.video)
    if selfie is None or video is None or not (selfie.completed_at and video.completed_at):
        return
    service.accept_upload(
        session=session,
        settings=settings,
        attempt=attempt,
        pensioner=pensioner,
        nonce=video.nonce,
        selfie=_assemble(settings, selfie),
        video=_assemble(settings, video),
        mirrored=video.mirrored,
        actor=actor,
        queue=queue,
    )
    # The files now live where the attempt points; the chunks go once that is committed.
    for upload in (selfie, video):
        after_commit(session, lambda u=upload: _remove_files(settings, u))  # type: ignore[misc]
        upload.chunks = 0
        session.add(upload)


def _assemble(settings: Settings, upload: ResumableUpload) -> bytes:
    data = b"".join(media.read(settings=settings, relative=p) for p in chunk_paths(upload))
    if len(data) != upload.length:  # a chunk file lost or altered on disk
        raise media.MediaUnreadable()
    return data


def purge_expired(*, session: Session, settings: Settings, now: datetime | None = None) -> int:
    """Delete the uploads past their expiry, rows and files; returns how many. Safe to run
    from several processes at once."""
    cutoff = now or _now()
    expired = session.exec(
        select(ResumableUpload).where(col(ResumableUpload.expires_at) <= cutoff)
    ).all()
    for upload in expired:
        session.exec(delete(ResumableUpload).where(col(ResumableUpload.id) == upload.id))
    session.commit()
    for upload in expired:
        _remove_files(settings, upload)
    if expired:
        log.info("deleted %d expired uploads", len(expired))
    return len(expired)
