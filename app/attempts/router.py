"""Remote self-certification for the signed-in pensioner: start, upload, follow the outcome."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, FastAPI, File, Form, Header, Request, Response, UploadFile, status
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from app.attempts import resumable, service
from app.attempts.errors import UploadPastLength, UploadProtocolError
from app.attempts.schemas import AttemptRead, AttemptStart, SelfieCheck
from app.audit.service import Actor
from app.config import Settings
from app.db import SessionDep, SessionSlot
from app.deps import (
    CurrentPensioner,
    CurrentPensionerId,
    FaceEngineDep,
    PensionerActor,
    RateLimiterDep,
    RequireEnroller,
    SettingsDep,
    StaffActor,
)
from app.errors import PermissionDenied, UnsupportedMediaType
from app.faces import service as faces
from app.pensioners.dependencies import EnrollablePensioner
from app.reviews.service import staff_operator
from biometrics import DecodeLimits, read_limited
from biometrics.decode import inspect_image
from models.attempt import CertificationAttempt
from models.pensioner import Pensioner
from models.staff import StaffUser
from models.upload import ResumableUpload

log = logging.getLogger(__name__)


@asynccontextmanager
async def _purging_expired_uploads(app: FastAPI) -> AsyncIterator[None]:
    """While the service runs, expired resumable uploads are deleted every
    `upload_purge_seconds` (and when touched)."""

    def purge() -> None:
        with Session(app.state.engine) as session:
            resumable.purge_expired(session=session, settings=app.state.settings)

    async def loop() -> None:
        while True:
            await asyncio.sleep(app.state.settings.upload_purge_seconds)
            try:
                await run_in_threadpool(purge)
            except Exception:  # the next round tries again
                log.exception("deleting expired uploads failed")

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()


router = APIRouter(
    prefix="/certifications", tags=["remote certification"], lifespan=_purging_expired_uploads
)
# The status poll, authenticated by the pensioner's token alone (its query checks the rest).
status_router = APIRouter(prefix="/certifications", tags=["remote certification"])
# Assisted capture: a community worker's device runs the flow for the pensioner.
staff_router = APIRouter(
    prefix="/pensioners/{pensioner_id}/assisted-attempts", tags=["remote certification"]
)


@router.post(
    "/attempts",
    response_model=AttemptRead,
    status_code=status.HTTP_201_CREATED,
    summary="Start an attempt: returns the actions to record and their expiry",
)
def start_attempt(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    pensioner: CurrentPensioner,
    actor: PensionerActor,
    body: AttemptStart | None = None,
) -> AttemptRead:
    attempt = service.start(
        session=session,
        settings=settings,
        limiter=limiter,
        rng=request.app.state.challenge_rng,
        pensioner=pensioner,
        operated_by=body.operated_by if body else None,
        actor=actor,
    )
    return service.to_read(session, attempt)


@router.post(
    "/attempts/{attempt_id}/selfie-check",
    response_model=SelfieCheck,
    summary="Check a preview photo: is the face usable, and what to change if not",
    description="Multipart form: `selfie`. Nothing is stored. Allowed while the attempt waits "
    "for its upload; the page calls it every few seconds to show hints such as 'come closer'.",
)
def selfie_check(
    attempt_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    engine: FaceEngineDep,
    pensioner: CurrentPensioner,
    selfie: Annotated[UploadFile, File(description="A photo of the face")],
) -> SelfieCheck:
    attempt = service.get_own(session=session, pensioner=pensioner, attempt_id=attempt_id)
    photo = read_limited(selfie.file, max_bytes=settings.max_photo_bytes)
    # A preview is a downscaled camera frame: anything bigger is refused from its header.
    inspect_image(photo, limits=preview_limits(settings))
    return service.check_selfie(
        settings=settings, limiter=limiter, engine=engine, attempt=attempt, photo=photo
    )


def preview_limits(settings: Settings) -> DecodeLimits:
    pixels = settings.preview_max_pixels
    return DecodeLimits(
        max_bytes=settings.max_photo_bytes,
        max_pixels=pixels,
        max_full_decode_pixels=min(pixels, DecodeLimits.max_full_decode_pixels),
        max_pixels_per_byte=settings.max_pixels_per_byte,
    )


@router.post(
    "/attempts/{attempt_id}/upload",
    response_model=AttemptRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Upload the selfie and the liveness video; the answer comes back as `processing`",
    description="Multipart form: `selfie` (JPEG/PNG/WebP/HEIC), `video` (MP4/MOV/WebM), `nonce` "
    "(from the challenge) and `mirrored` (true if the video is the mirrored preview). Poll "
    "`GET /certifications/attempts/{id}` for the outcome.",
)
def upload(
    attempt_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    pensioner: CurrentPensioner,
    actor: PensionerActor,
    selfie: Annotated[UploadFile, File(description="A photo of the face")],
    video: Annotated[UploadFile, File(description="The recording of the challenge")],
    nonce: Annotated[str, Form(max_length=64)],
    mirrored: Annotated[bool, Form()] = False,
) -> AttemptRead:
    attempt = service.get_own(session=session, pensioner=pensioner, attempt_id=attempt_id)
    return _accept(
        request, session, settings, attempt, pensioner, actor, selfie, video, nonce, mirrored
    )


def _accept(
    request: Request,
    session: Session,
    settings: Settings,
    attempt: CertificationAttempt,
    pensioner: Pensioner,
    actor: Actor,
    selfie: UploadFile,
    video: UploadFile,
    nonce: str,
    mirrored: bool,
) -> AttemptRead:
    selfie_bytes = read_limited(selfie.file, max_bytes=settings.max_photo_bytes)
    video_bytes = read_limited(video.file, max_bytes=settings.max_video_bytes)
    service.accept_upload(
        session=session,
        settings=settings,
        attempt=attempt,
        pensioner=pensioner,
        nonce=nonce,
        selfie=selfie_bytes,
        video=video_bytes,
        mirrored=mirrored,
        actor=actor,
        queue=request.app.state.job_queue,
    )
    return service.to_read(session, attempt)


# ---- resumable uploads (tus 1.0: core, creation, expiration) ---------------------------------
TUS_DESCRIPTION = (
    "The [tus 1.0](https://tus.io/protocols/resumable-upload) alternative to the one-request "
    "upload, for slow or flaky links: one upload per part (`selfie`, `video`), its bytes sent in "
    "chunks at offsets, resumed after a lost connection from the offset HEAD reports. The "
    "limits are those of the one-request upload, applied as early as possible; when both parts "
    "are complete the attempt is `processing` as after the one-request upload (poll "
    "`GET /certifications/attempts/{id}`). An upload expires with its challenge and is then "
    "deleted. Every request sends `Tus-Resumable: 1.0.0`."
)


def _tus_headers(upload: ResumableUpload | None = None) -> dict[str, str]:
    headers = {"Tus-Resumable": resumable.TUS_VERSION, "Cache-Control": "no-store"}
    if upload is not None:
        headers["Upload-Offset"] = str(upload.offset)
        headers["Upload-Length"] = str(upload.length)
        headers["Upload-Expires"] = resumable.http_date(upload.expires_at)
    return headers


@router.post(
    "/attempts/{attempt_id}/uploads",
    status_code=status.HTTP_201_CREATED,
    response_class=Response,
    summary="Create a resumable upload of the selfie or the video (tus creation)",
    description=TUS_DESCRIPTION
    + " Headers: `Upload-Length` (bytes; at most the photo or video limit, else 413), "
    "`Upload-Metadata` with `part` (`selfie` or `video`), `nonce` (the challenge's) and "
    "`mirrored` (`true`/`false`), values base64. Answers 201 with `Location` (the upload's "
    "URL) and `Upload-Expires`. A new upload of a part replaces one begun before.",
    responses={201: {"description": "Created; `Location` is the upload's URL"}},
)
def create_upload(
    attempt_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    pensioner: CurrentPensioner,
    upload_length: Annotated[str | None, Header()] = None,
    upload_metadata: Annotated[str | None, Header()] = None,
    tus_resumable: Annotated[str | None, Header()] = None,
) -> Response:
    resumable.check_version(tus_resumable)
    if upload_length is None or not upload_length.isdigit():
        raise UploadProtocolError("Upload-Length must be given as a number of bytes.")
    attempt = service.get_own(session=session, pensioner=pensioner, attempt_id=attempt_id)
    upload = resumable.create(
        session=session,
        settings=settings,
        attempt=attempt,
        length=int(upload_length),
        metadata=resumable.parse_metadata(upload_metadata),
    )
    headers = _tus_headers(upload) | {"Location": f"/api/v1/certifications/uploads/{upload.id}"}
    return Response(status_code=status.HTTP_201_CREATED, headers=headers)


@router.head(
    "/uploads/{upload_id}",
    response_class=Response,
    summary="Where a resumable upload stands: `Upload-Offset` of `Upload-Length` (tus)",
    description="410 once it has expired (it is then deleted); 404 for another person's.",
)
def upload_offset(
    upload_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    pensioner: CurrentPensioner,
    tus_resumable: Annotated[str | None, Header()] = None,
) -> Response:
    resumable.check_version(tus_resumable)
    upload = resumable.get_own(
        session=session, settings=settings, pensioner=pensioner, upload_id=upload_id
    )
    return Response(status_code=status.HTTP_200_OK, headers=_tus_headers(upload))


@router.patch(
    "/uploads/{upload_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Send a chunk of a resumable upload at `Upload-Offset` (tus)",
    description="Body: the bytes, `Content-Type: application/offset+octet-stream`. 409 when "
    "`Upload-Offset` is not where the upload stands, 413 past the declared length, 415 when "
    "the first chunk is not a photo (selfie) or a video (video), 410 once expired. A chunk cut "
    "off by a lost connection keeps the bytes that arrived. Answers 204 with the new "
    "`Upload-Offset`; the chunk that completes the second part queues the attempt.",
)
async def upload_chunk(
    upload_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    pensioner: CurrentPensioner,
    actor: PensionerActor,
    upload_offset: Annotated[str | None, Header()] = None,
    content_type: Annotated[str | None, Header()] = None,
    content_length: Annotated[str | None, Header()] = None,
    tus_resumable: Annotated[str | None, Header()] = None,
) -> Response:
    resumable.check_version(tus_resumable)
    if (content_type or "").split(";")[0].strip().lower() != resumable.CHUNK_CONTENT_TYPE:
        raise UnsupportedMediaType(
            f"A chunk is sent as Content-Type: {resumable.CHUNK_CONTENT_TYPE}."
        )
    if upload_offset is None or not upload_offset.isdigit():
        raise UploadProtocolError("Upload-Offset must be given as a number of bytes.")
    offset = int(upload_offset)
    size = int(content_length) if content_length and content_length.isdigit() else None

    def precheck() -> int:
        upload = resumable.get_own(
            session=session, settings=settings, pensioner=pensioner, upload_id=upload_id
        )
        resumable.check_chunk(upload, offset=offset, size=size)
        # No transaction stays open (nor SQLite's write lock held) while the bytes arrive.
        session.commit()
        return upload.length - offset

    remaining = await run_in_threadpool(precheck)
    body = bytearray()
    received, whole = 0, True
    try:
        async for piece in request.stream():
            received += len(piece)
            if received > remaining:
                raise UploadPastLength(
                    f"The chunk runs past the declared length ({remaining} bytes were left)."
                )
            body += piece
    except ClientDisconnect:
        whole = False  # the connection was lost mid-chunk: keep what arrived
    result = await run_in_threadpool(
        lambda: resumable.write_chunk(
            session=session,
            settings=settings,
            pensioner=pensioner,
            upload_id=upload_id,
            offset=offset,
            data=bytes(body),
            received=received,
            complete_body=whole,
            actor=actor,
            queue=request.app.state.job_queue,
        )
    )
    headers = _tus_headers(result.upload) | {"Upload-Attempt-Status": result.attempt.status.value}
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=headers)


@status_router.get(
    "/attempts/{attempt_id}",
    response_model=AttemptRead,
    summary="Status and outcome",
    description="Polled every 1.5 s while the attempt is `processing`: answered from one "
    "indexed query, without the request session.",
)
def read_attempt(
    attempt_id: uuid.UUID, request: Request, pensioner_id: CurrentPensionerId, _slot: SessionSlot
) -> AttemptRead:
    return service.read_status(
        bind=request.app.state.engine, pensioner_id=pensioner_id, attempt_id=attempt_id
    )


@router.get("/attempts", response_model=list[AttemptRead], summary="Your attempts, newest first")
def list_attempts(session: SessionDep, pensioner: CurrentPensioner) -> list[AttemptRead]:
    return [
        service.to_read(session, a) for a in service.list_own(session=session, pensioner=pensioner)
    ]


def _not_the_photo_changer(session: Session, staff: StaffUser, pensioner: Pensioner) -> None:
    if faces.changed_photos_recently(session=session, staff_id=staff.id, pensioner_id=pensioner.id):
        raise PermissionDenied(
            "You changed this person's enrolled photos in the last 30 days, so another staff "
            "member must run their certification."
        )


@staff_router.post(
    "",
    response_model=AttemptRead,
    status_code=status.HTTP_201_CREATED,
    summary="Start an attempt on a staff device; the staff member is recorded",
    description="Refused (403) to a staff member who enrolled, approved or retired the "
    "person's photos in the last 30 days. An assisted attempt always ends in review.",
)
def start_assisted(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    staff: RequireEnroller,
    actor: StaffActor,
    pensioner: EnrollablePensioner,
) -> AttemptRead:
    _not_the_photo_changer(session, staff, pensioner)
    attempt = service.start(
        session=session,
        settings=settings,
        limiter=limiter,
        rng=request.app.state.challenge_rng,
        pensioner=pensioner,
        operated_by=staff_operator(staff),
        actor=actor,
    )
    return service.to_read(session, attempt)


@staff_router.post(
    "/{attempt_id}/upload",
    response_model=AttemptRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Upload the selfie and video captured on the staff device",
)
def upload_assisted(
    attempt_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: StaffActor,
    staff: RequireEnroller,
    pensioner: EnrollablePensioner,
    selfie: Annotated[UploadFile, File()],
    video: Annotated[UploadFile, File()],
    nonce: Annotated[str, Form(max_length=64)],
    mirrored: Annotated[bool, Form()] = False,
) -> AttemptRead:
    _not_the_photo_changer(session, staff, pensioner)
    attempt = service.get_own(session=session, pensioner=pensioner, attempt_id=attempt_id)
    return _accept(
        request, session, settings, attempt, pensioner, actor, selfie, video, nonce, mirrored
    )
