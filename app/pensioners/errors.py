"""Errors of the pensioner register domain (mapped to HTTP with every other
AppError in app/errors.py)."""

from __future__ import annotations

from app.errors import Conflict, NotFound, UnprocessableEntity


class PensionerNotFound(NotFound):
    code = "PensionerNotFound"
    message = "No pensioner with this id in your region."


class DuplicateNationalId(Conflict):
    code = "DuplicateNationalId"
    message = "A pensioner with this national ID number is already registered."


class ImportRejected(UnprocessableEntity):
    code = "ImportRejected"
    message = "The file has invalid rows; nothing was imported. See the report."


class InvalidCsv(UnprocessableEntity):
    code = "InvalidCsv"
