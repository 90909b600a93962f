"""Errors of the community verification domain (mapped to HTTP with every other AppError in
app/errors.py)."""

from __future__ import annotations

from app.errors import Conflict, NotFound, UnprocessableEntity


class VerificationTaskNotFound(NotFound):
    code = "VerificationTaskNotFound"
    message = "No verification task with this id in your region."


class TaskNotOpen(Conflict):
    code = "TaskNotOpen"
    message = "This verification task is already closed."


class InvalidVisit(UnprocessableEntity):
    code = "InvalidVisit"
