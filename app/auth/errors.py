"""Errors of the sign-in domain (mapped to HTTP with every other AppError in app/errors.py)."""

from __future__ import annotations

from app.errors import AppError, RateLimited


class InvalidCredentials(AppError):
    status_code = 401
    code = "InvalidCredentials"
    message = "Wrong username or password."


class InvalidRefreshToken(AppError):
    status_code = 401
    code = "InvalidRefreshToken"
    message = "The refresh token is invalid, expired or already used; log in again."


class CsrfHeaderMissing(AppError):
    """A refresh or logout by the refresh cookie without the header a cross-site form cannot
    send (the cookie is SameSite=Strict too; this is the second lock)."""

    status_code = 403
    code = "CsrfHeaderMissing"
    message = "Refreshing or ending a login by its cookie needs the X-Requested-With header."


class OtpInvalid(AppError):
    """Every failed pensioner login, whatever the reason: the answer tells an attacker nothing
    (not whether the ID is registered, nor how many tries are left)."""

    status_code = 401
    code = "OtpInvalid"
    message = (
        "The ID number or the code is not right, or the code has expired or was tried too "
        "many times. Check the text message, or ask for a new code."
    )
    persist_changes = True


class LoginBackoff(RateLimited):
    code = "LoginBackoff"
    message = "Several wrong passwords in a row: wait a little before the next try."


class StaffAccountLocked(AppError):
    status_code = 423
    code = "StaffAccountLocked"
    message = (
        "This account is locked after too many wrong passwords; ask an administrator to unlock it."
    )
