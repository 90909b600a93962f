"""Errors of the face domain (mapped to HTTP with every other AppError in app/errors.py)."""

from __future__ import annotations

from app.errors import AppError, NotFound


class CalibrationRefused(AppError):
    status_code = 422
    code = "CalibrationRefused"
    message = "The calibration cannot be made with these settings."


class DuplicatePhoto(AppError):
    status_code = 409
    code = "DuplicatePhoto"
    message = "This photo is already on file for this person."


class FaceNotPending(AppError):
    status_code = 409
    code = "FaceNotPending"
    message = "This photo is not waiting for a check (already approved, turned away or retired)."


class FaceNotFound(NotFound):
    code = "FaceNotFound"
    message = "No such face photo for this pensioner."


class NotEnrolled(AppError):
    status_code = 409
    code = "NotEnrolled"
    message = "This pensioner has no enrolled face photo yet; staff must enrol one first."


class PhotoQualityFailed(AppError):
    status_code = 422
    code = "PhotoQualityFailed"
    message = "The photo cannot be used; see the findings for what to change."


class NoUsableFace(AppError):
    status_code = 422
    code = "NoUsableFace"
