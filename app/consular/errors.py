"""Errors of the consular certificate domain (mapped to HTTP with every other
AppError in app/errors.py)."""

from __future__ import annotations

from app.errors import AppError, Conflict, NotFound, UnprocessableEntity


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
