"""Errors of the face domain (mapped to HTTP with every other AppError in app/errors.py)."""

from __future__ import annotations

from app.errors import AppError


class CalibrationRefused(AppError):
    status_code = 422
    code = "CalibrationRefused"
    message = "The calibration cannot be made with these settings."
