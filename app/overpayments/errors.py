"""Errors of the overpayment domain (mapped to HTTP with every other AppError in app/errors.py)."""

from __future__ import annotations

from app.errors import Conflict, NotFound


class OverpaymentClaimNotFound(NotFound):
    code = "OverpaymentClaimNotFound"
    message = "No overpayment claim with this id in your region."


class InvalidRecoveryStep(Conflict):
    code = "InvalidRecoveryStep"
