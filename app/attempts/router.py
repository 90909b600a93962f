"""Remote self-certification for the signed-in pensioner: start, upload, follow the outcome."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile, status
from sqlmodel import Session

from app.attempts import service
from app.attempts.schemas import AttemptRead, AttemptStart, SelfieCheck
from app.audit.service import Actor
from app.config import Settings
from app.db import SessionDep
from app.deps import (
    CurrentPensioner,
    FaceEngineDep,
    PensionerActor,
    RateLimiterDep,
    RequireEnroller,
    SettingsDep,
    StaffActor,
)
from app.errors import PermissionDenied
from app.faces import service as faces
from app.pensioners.dependencies import EnrollablePensioner
from app.reviews.service import staff_operator
from biometrics import DecodeLimits, read_limited
from biometrics.decode import inspect_image
from models.attempt import CertificationAttempt
from models.pensioner import Pensioner
from models.staff import StaffUser

router = APIRouter(prefix="/certifications", tags=["remote certification"])
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


@router.get("/attempts/{attempt_id}", response_model=AttemptRead, summary="Status and outcome")
def read_attempt(
    attempt_id: uuid.UUID, session: SessionDep, pensioner: CurrentPensioner
) -> AttemptRead:
    attempt = service.get_own(session=session, pensioner=pensioner, attempt_id=attempt_id)
    return service.to_read(session, attempt)


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
