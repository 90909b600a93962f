"""Tokens and secrets: staff password hashing, JWT access tokens, refresh tokens, login codes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from jose import JWTError, jwt

from app.errors import InvalidToken

JWT_ALGORITHM = "HS256"
TokenKind = Literal["staff", "pensioner"]

_hasher = PasswordHasher()
# Verifying against this keeps the time of a login for an unknown user like a known one.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def create_access_token(
    *, subject: str, kind: TokenKind, key: str, lifetime: timedelta, now: datetime | None = None
) -> str:
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "typ": kind,
        "iat": int(issued.timestamp()),
        "exp": int((issued + lifetime).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return str(jwt.encode(claims, key, algorithm=JWT_ALGORITHM))


def decode_access_token(token: str, *, kind: TokenKind, key: str) -> str:
    """The token's subject, if it is a valid unexpired token of this kind signed by us."""
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != JWT_ALGORITHM:
            raise InvalidToken(f"Tokens must be signed with {JWT_ALGORITHM}.")
        claims = jwt.decode(
            token,
            key,
            algorithms=[JWT_ALGORITHM],
            options={"require_exp": True, "require_sub": True},
        )
    except JWTError as exc:
        if "expired" in str(exc).lower():
            raise InvalidToken("The access token has expired; log in again.") from exc
        raise InvalidToken() from exc
    if claims.get("typ") != kind:
        raise InvalidToken(f"This endpoint needs a {kind} token.")
    return str(claims["sub"])


RoomRole = Literal["pensioner", "agent"]


@dataclass(frozen=True)
class RoomClaims:
    """Who may join which video call's signalling room, and when."""

    appointment_id: uuid.UUID
    subject: str  # the pensioner's or the staff member's id
    role: RoomRole
    not_before: datetime
    expires_at: datetime
    token_id: str = ""  # the token's jti: a room token opens one connection only


def create_room_token(
    *,
    appointment_id: uuid.UUID,
    subject: str,
    role: RoomRole,
    not_before: datetime,
    expires_at: datetime,
    key: str,
) -> str:
    claims: dict[str, Any] = {
        "sub": subject,
        "typ": "room",
        "apt": str(appointment_id),
        "role": role,
        "iat": int(datetime.now(UTC).timestamp()),
        "nbf": int(not_before.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return str(jwt.encode(claims, key, algorithm=JWT_ALGORITHM))


def decode_room_token(token: str, *, key: str) -> RoomClaims:
    """The claims of a room token signed by us; the caller checks the window (nbf, exp) so
    that it can say whether the call has not started yet or is over."""
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != JWT_ALGORITHM:
            raise InvalidToken(f"Tokens must be signed with {JWT_ALGORITHM}.")
        claims = jwt.decode(
            token,
            key,
            algorithms=[JWT_ALGORITHM],
            options={"verify_exp": False, "verify_nbf": False, "require_sub": True},
        )
        if claims.get("typ") != "room" or claims.get("role") not in ("pensioner", "agent"):
            raise InvalidToken("This is not a video-call room token.")
        return RoomClaims(
            appointment_id=uuid.UUID(str(claims["apt"])),
            subject=str(claims["sub"]),
            role=claims["role"],
            not_before=datetime.fromtimestamp(int(claims["nbf"]), UTC),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            token_id=_token_id(claims["jti"]),
        )
    except (JWTError, KeyError, ValueError, TypeError) as exc:
        raise InvalidToken("The room token is invalid; ask for a new one.") from exc


def _token_id(value: Any) -> str:
    if not isinstance(value, str) or not 8 <= len(value) <= 64 or not value.isalnum():
        raise ValueError("a room token's jti is 8 to 64 letters and digits")
    return value


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def hash_opaque_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_otp_code(digits: int = 6) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def hash_otp(code: str, *, otp_id: uuid.UUID, key: str) -> str:
    """Keyed, so a leaked table does not let anyone try the million codes offline."""
    return hmac.new(key.encode(), f"{otp_id}:{code}".encode(), hashlib.sha256).hexdigest()


def otp_matches(code: str, *, otp_id: uuid.UUID, key: str, code_hash: str) -> bool:
    return hmac.compare_digest(hash_otp(code, otp_id=otp_id, key=key), code_hash)
