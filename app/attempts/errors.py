"""Errors of the certification attempt domain (mapped to HTTP with every other
AppError in app/errors.py)."""

from __future__ import annotations

from app.errors import AppError, NotFound


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


# ---- resumable uploads (tus 1.0) ------------------------------------------------------------
class UploadNotFound(NotFound):
    code = "UploadNotFound"
    message = "No such upload for you (it may have expired and been deleted)."


class UploadExpired(AppError):
    status_code = 410
    code = "UploadExpired"
    message = (
        "This upload expired with its recording instructions and was deleted; start a new attempt."
    )


class UploadOffsetMismatch(AppError):
    status_code = 409
    code = "UploadOffsetMismatch"
    message = "The chunk does not start where the upload stands; ask for the offset (HEAD)."


class UploadTooLarge(AppError):
    status_code = 413
    code = "UploadTooLarge"
    message = "The declared size is over the limit for this kind of file."


class UploadPastLength(AppError):
    status_code = 413
    code = "UploadPastLength"
    message = "The chunk runs past the upload's declared length; nothing of it was stored."


class UploadProtocolError(AppError):
    status_code = 400
    code = "UploadProtocolError"
    message = "The request does not follow the tus 1.0 upload protocol."


class UploadVersionUnsupported(AppError):
    status_code = 412
    code = "UploadVersionUnsupported"
    message = "Only tus 1.0.0 is supported: send the header Tus-Resumable: 1.0.0."
