"""Errors of the video call domain (mapped to HTTP with every other AppError in app/errors.py)."""

from __future__ import annotations

from app.errors import AppError, Conflict, NotFound, UnprocessableEntity


class VideoCallNotFound(NotFound):
    code = "VideoCallNotFound"
    message = "No such video call assigned to you in your region."


class CallWindowNotOpen(Conflict):
    code = "CallWindowNotOpen"
    message = "The call has not started yet."


class CallWindowClosed(AppError):
    status_code = 410
    code = "CallWindowClosed"
    message = "The time of this call is over; book a new one."


class InvalidOutcome(UnprocessableEntity):
    code = "InvalidOutcome"
