"""Errors of the review domain (mapped to HTTP with every other AppError in app/errors.py)."""

from __future__ import annotations

from app.errors import Conflict, NotFound


class ReviewNotFound(NotFound):
    code = "ReviewNotFound"
    message = "No such review case in your region."


class ReviewClosed(Conflict):
    code = "ReviewClosed"
    message = "This case has already been decided."
