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
