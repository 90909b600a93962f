"""Errors of the matching domain (mapped to HTTP with every other AppError in app/errors.py)."""

from __future__ import annotations

from app.errors import Conflict, NotFound


class MatchingRunNotFound(NotFound):
    code = "MatchingRunNotFound"
    message = "No matching run with this id in your region."


class CandidateNotFound(NotFound):
    code = "CandidateNotFound"
    message = "No match candidate with this id in your region."


class CandidateAlreadyDecided(Conflict):
    code = "CandidateAlreadyDecided"
    message = "This candidate was already confirmed or rejected."
