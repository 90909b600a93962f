"""Errors of the staff account domain (mapped to HTTP with every other
AppError in app/errors.py)."""

from __future__ import annotations

from app.errors import Conflict, NotFound


class StaffNotFound(NotFound):
    code = "StaffNotFound"
    message = "No staff account with this id."


class DuplicateUsername(Conflict):
    code = "DuplicateUsername"
    message = "This username is taken."
