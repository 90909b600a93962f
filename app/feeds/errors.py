"""Errors of the feeds domain (mapped to HTTP with every other AppError in app/errors.py)."""

from __future__ import annotations

from app.errors import AppError, Conflict, NotFound, UnprocessableEntity


class InvalidFeedKey(AppError):
    status_code = 401
    code = "InvalidFeedKey"
    message = "The feed key is unknown or has been revoked."


class FeedClientNotFound(NotFound):
    code = "FeedClientNotFound"
    message = "No feed client with this id."


class DuplicateFeedClient(Conflict):
    code = "DuplicateFeedClient"
    message = "A feed client with this name exists already."


class FeedClientRevoked(Conflict):
    code = "FeedClientRevoked"
    message = "This feed client's key is revoked already."


class HeldRecordNotFound(NotFound):
    code = "HeldRecordNotFound"
    message = "No death record awaiting confirmation with this id in your region."


class HeldRecordDecided(Conflict):
    code = "HeldRecordDecided"
    message = "This death record was confirmed or refused already."


class InvalidFeed(UnprocessableEntity):
    code = "InvalidFeed"
    message = "The feed file cannot be read; see the detail for what to fix."


class BatchAlreadyImported(Conflict):
    code = "BatchAlreadyImported"
    message = "This file was already imported as another feed type."


class FeedBatchNotFound(NotFound):
    code = "FeedBatchNotFound"
    message = "No feed batch with this id."
