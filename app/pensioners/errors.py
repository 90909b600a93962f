"""Errors of the pensioner register domain (mapped to HTTP with every other
AppError in app/errors.py)."""

from __future__ import annotations

from pydantic import ValidationError

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


class InvalidChange(UnprocessableEntity):
    """A change that would leave the record invalid; the same body as a request that does not
    match the document (`fields`), so clients handle both alike."""

    code = "ValidationError"
    message = "The change would leave the record invalid."

    @classmethod
    def from_validation(cls, exc: ValidationError) -> InvalidChange:
        fields = [
            {
                "field": ".".join(str(p) for p in err["loc"]),
                "message": str(err["msg"]).removeprefix("Value error, "),
                "type": err["type"],
            }
            for err in exc.errors()
        ]
        summary = "; ".join(f"{f['field'] or 'record'}: {f['message']}" for f in fields[:5])
        return cls(f"The change would leave the record invalid: {summary}", fields=fields)
