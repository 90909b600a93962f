"""Errors of the region domain (mapped to HTTP with every other AppError in app/errors.py)."""

from __future__ import annotations

from app.errors import Conflict, NotFound, UnprocessableEntity


class RegionNotFound(NotFound):
    code = "RegionNotFound"
    message = "No region with this code."


class DuplicateRegion(Conflict):
    code = "DuplicateRegion"
    message = "A region with this code already exists."


class UnknownRegion(UnprocessableEntity):
    code = "UnknownRegion"
    message = "The region code is not a known region; create the region first."
