"""The one error hierarchy of the service and the one place that maps errors to HTTP."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.limits import BodyTooLarge, too_large_body
from biometrics.errors import BiometricsError


class AppError(Exception):
    """A domain error: `code` is stable for clients, `message` is for people."""

    status_code = 400
    code = "BadRequest"
    message = "The request could not be processed."
    persist_changes = False
    # Seconds a client should wait before trying again (sent as Retry-After), if it should.
    retry_after: int | None = None

    def __init__(
        self, message: str | None = None, *, persist_changes: bool | None = None, **extra: Any
    ) -> None:
        self.message = message or self.message
        if persist_changes is not None:
            self.persist_changes = persist_changes
        self.extra = extra
        super().__init__(self.message)


class NotAuthenticated(AppError):
    status_code = 401
    code = "NotAuthenticated"
    message = "Log in first: this request needs a valid access token."


class InvalidToken(AppError):
    status_code = 401
    code = "InvalidToken"
    message = "The access token is invalid or has expired; log in again."


class InvalidCredentials(AppError):
    status_code = 401
    code = "InvalidCredentials"
    message = "Wrong username or password."


class InvalidRefreshToken(AppError):
    status_code = 401
    code = "InvalidRefreshToken"
    message = "The refresh token is invalid, expired or already used; log in again."


class PermissionDenied(AppError):
    status_code = 403
    code = "PermissionDenied"
    message = "Your account does not have the role needed for this action."


class NotFound(AppError):
    status_code = 404
    code = "NotFound"
    message = "Not found."


class PensionerNotFound(NotFound):
    code = "PensionerNotFound"
    message = "No pensioner with this id in your region."


class StaffNotFound(NotFound):
    code = "StaffNotFound"
    message = "No staff account with this id."


class FaceNotFound(NotFound):
    code = "FaceNotFound"
    message = "No such face photo for this pensioner."


class NotEnrolled(AppError):
    status_code = 409
    code = "NotEnrolled"
    message = "This pensioner has no enrolled face photo yet; staff must enrol one first."


class PhotoQualityFailed(AppError):
    status_code = 422
    code = "PhotoQualityFailed"
    message = "The photo cannot be used; see the findings for what to change."


class NoUsableFace(AppError):
    status_code = 422
    code = "NoUsableFace"


class AttemptNotFound(NotFound):
    code = "AttemptNotFound"
    message = "No such certification attempt for you."


class ChallengeExpired(AppError):
    status_code = 410
    code = "ChallengeExpired"
    message = (
        "The recording instructions have expired; start a new attempt and record within a few "
        "minutes."
    )


class ChallengeAlreadyUsed(AppError):
    status_code = 409
    code = "ChallengeAlreadyUsed"
    message = "This attempt already has its recording; start a new attempt to try again."


class ChallengeMismatch(AppError):
    status_code = 409
    code = "ChallengeMismatch"
    message = "The upload does not belong to this attempt's instructions (wrong nonce)."


class AttemptsLockedOut(AppError):
    status_code = 423
    code = "AttemptsLockedOut"
    message = (
        "There were 3 unsuccessful tries in the last 24 hours. Please book a video call with "
        "staff or ask for a community visit instead."
    )


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "UnsupportedMediaType"


class RegionNotFound(NotFound):
    code = "RegionNotFound"
    message = "No region with this code."


class Conflict(AppError):
    status_code = 409
    code = "Conflict"


class DuplicateNationalId(Conflict):
    code = "DuplicateNationalId"
    message = "A pensioner with this national ID number is already registered."


class DuplicateUsername(Conflict):
    code = "DuplicateUsername"
    message = "This username is taken."


class DuplicateRegion(Conflict):
    code = "DuplicateRegion"
    message = "A region with this code already exists."


class UnprocessableEntity(AppError):
    status_code = 422
    code = "Invalid"


class UnknownRegion(UnprocessableEntity):
    code = "UnknownRegion"
    message = "The region code is not a known region; create the region first."


class OutOfScope(AppError):
    status_code = 403
    code = "RegionOutOfScope"
    message = "The region is outside your region scope."


class ImportRejected(UnprocessableEntity):
    code = "ImportRejected"
    message = "The file has invalid rows; nothing was imported. See the report."


class InvalidCsv(UnprocessableEntity):
    code = "InvalidCsv"


class OtpInvalid(AppError):
    """Every failed pensioner login, whatever the reason: the answer tells an attacker nothing
    (not whether the ID is registered, nor how many tries are left)."""

    status_code = 401
    code = "OtpInvalid"
    message = (
        "The ID number or the code is not right, or the code has expired or was tried too "
        "many times. Check the text message, or ask for a new code."
    )
    persist_changes = True


class RateLimited(AppError):
    status_code = 429
    code = "RateLimited"
    message = "Too many requests; wait a few minutes and try again."
    retry_after = 60


class LoginBackoff(RateLimited):
    code = "LoginBackoff"
    message = "Several wrong passwords in a row: wait a little before the next try."


class StaffAccountLocked(AppError):
    status_code = 423
    code = "StaffAccountLocked"
    message = (
        "This account is locked after too many wrong passwords; ask an administrator to unlock it."
    )


class InvalidFeed(UnprocessableEntity):
    code = "InvalidFeed"
    message = "The feed file cannot be read; see the detail for what to fix."


class BatchAlreadyImported(Conflict):
    code = "BatchAlreadyImported"
    message = "This file was already imported as another feed type."


class FeedBatchNotFound(NotFound):
    code = "FeedBatchNotFound"
    message = "No feed batch with this id."


class MatchingRunNotFound(NotFound):
    code = "MatchingRunNotFound"
    message = "No matching run with this id in your region."


class CandidateNotFound(NotFound):
    code = "CandidateNotFound"
    message = "No match candidate with this id in your region."


class CandidateAlreadyDecided(Conflict):
    code = "CandidateAlreadyDecided"
    message = "This candidate was already confirmed or rejected."


class VerificationTaskNotFound(NotFound):
    code = "VerificationTaskNotFound"
    message = "No verification task with this id in your region."


class TaskNotOpen(Conflict):
    code = "TaskNotOpen"
    message = "This verification task is already closed."


class InvalidVisit(UnprocessableEntity):
    code = "InvalidVisit"


class OverpaymentClaimNotFound(NotFound):
    code = "OverpaymentClaimNotFound"
    message = "No overpayment claim with this id in your region."


class InvalidRecoveryStep(Conflict):
    code = "InvalidRecoveryStep"


class UnknownTimeZone(UnprocessableEntity):
    code = "UnknownTimeZone"
    message = "This is not an IANA time zone name such as Asia/Shanghai or Pacific/Auckland."


class VideoCallNotOffered(AppError):
    status_code = 403
    code = "VideoCallNotOffered"
    message = (
        "Video-call certification is for pensioners living abroad and for those who cannot "
        "certify remotely (locked out, refused, or no photo on file). Please certify with the "
        "app or page instead."
    )


class AppointmentNotFound(NotFound):
    code = "AppointmentNotFound"
    message = "No such video-call appointment of yours."


class VideoCallNotFound(NotFound):
    code = "VideoCallNotFound"
    message = "No such video call assigned to you in your region."


class SlotNotAvailable(Conflict):
    code = "SlotNotAvailable"
    message = "This time is not an open slot; pick one from the list of open slots."


class SlotTaken(Conflict):
    code = "SlotTaken"
    message = "This time was just taken, please pick another."


class AlreadyBooked(Conflict):
    code = "AlreadyBooked"
    message = "You already have a video call booked; reschedule or cancel it instead."


class TooLateToChange(Conflict):
    code = "TooLateToChange"
    message = "This appointment is too close to change or cancel."


class AppointmentClosed(Conflict):
    code = "AppointmentClosed"
    message = "This appointment was cancelled, rescheduled or has already been decided."


class CallWindowNotOpen(Conflict):
    code = "CallWindowNotOpen"
    message = "The call has not started yet."


class CallWindowClosed(AppError):
    status_code = 410
    code = "CallWindowClosed"
    message = "The time of this call is over; book a new one."


class InvalidAvailability(UnprocessableEntity):
    code = "InvalidAvailability"


class InvalidOutcome(UnprocessableEntity):
    code = "InvalidOutcome"


class ConsularDocumentNotFound(NotFound):
    code = "ConsularDocumentNotFound"
    message = "No such consular life certificate in your region."


class ConsularDocumentNotOffered(AppError):
    status_code = 403
    code = "ConsularDocumentNotOffered"
    message = (
        "A consular life certificate is only for pensioners registered as living abroad; "
        "please certify with the app, the page or a video call."
    )


class ConsularDocumentPending(Conflict):
    code = "ConsularDocumentPending"
    message = "Your last certificate is still being checked; wait for the result."


class ConsularDocumentDecided(Conflict):
    code = "ConsularDocumentDecided"
    message = "This certificate was already verified or rejected."


class CorruptScan(UnprocessableEntity):
    code = "CorruptScan"
    message = "The scan is damaged or incomplete; scan the certificate again and upload it."


def error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "detail": detail, **extra}


# Library errors know nothing of HTTP; this is where they get a status.
_BIOMETRICS_STATUS = {
    "file_too_large": 413,
    "image_too_large": 413,
    "image_too_dense": 413,
    "decoder_busy": 503,
    "unsupported_format": 415,
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BiometricsError)
    async def _biometrics_error(_request: Request, exc: BiometricsError) -> JSONResponse:
        status = _BIOMETRICS_STATUS.get(exc.code, 422)
        return JSONResponse(
            status_code=status,
            content=error_body(type(exc).__name__, exc.message),
            # A busy decoder frees up within seconds: say when to come back.
            headers={"Retry-After": "5"} if status == 503 else None,
        )

    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
        wait = exc.extra.get("retry_after", exc.retry_after)
        if wait is not None:
            headers["Retry-After"] = str(int(wait))
        return JSONResponse(
            status_code=exc.status_code,
            content=jsonable_encoder(error_body(exc.code, exc.message, **exc.extra)),
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "message": str(err.get("msg", "")).removeprefix("Value error, "),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return JSONResponse(
            status_code=422,
            content=jsonable_encoder(
                error_body("ValidationError", f"Invalid request: {summary}", fields=fields)
            ),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI reports any failure while reading a body as 400; a streamed body cut off by
        # the size limit is a 413.
        if isinstance(exc.__cause__, BodyTooLarge):
            return JSONResponse(status_code=413, content=too_large_body(exc.__cause__.limit))
        codes = {404: "NotFound", 405: "MethodNotAllowed", 401: "NotAuthenticated"}
        return JSONResponse(
            status_code=exc.status_code,
            content=error_body(codes.get(exc.status_code, "HTTPError"), str(exc.detail)),
            headers=getattr(exc, "headers", None),
        )
