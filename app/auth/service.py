"""Staff login with rotating refresh tokens; pensioner login with a one-time code."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.encoders import jsonable_encoder
from limits import parse
from limits.strategies import RateLimiter
from sqlmodel import Session, col, select, update

from app.audit import service as audit
from app.auth.errors import (
    InvalidCredentials,
    InvalidRefreshToken,
    LoginBackoff,
    OtpInvalid,
    StaffAccountLocked,
)
from app.auth.schemas import PensionerToken, TokenPair
from app.auth.senders import OtpSender, code_message
from app.config import Settings
from app.errors import RateLimited
from app.kit import audited, rate_limits
from app.security import (
    create_access_token,
    hash_opaque_token,
    hash_otp,
    new_opaque_token,
    new_otp_code,
    otp_matches,
    verify_password,
)
from models.otp import OtpCode
from models.pensioner import Pensioner
from models.staff import RefreshToken, StaffUser


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _issue_pair(
    *, session: Session, settings: Settings, staff: StaffUser, family_id: uuid.UUID
) -> TokenPair:
    refresh = new_opaque_token()
    session.add(
        RefreshToken(
            token_hash=hash_opaque_token(refresh),
            family_id=family_id,
            staff_id=staff.id,
            expires_at=datetime.now(UTC) + timedelta(days=settings.refresh_token_days),
        )
    )
    session.flush()
    lifetime = timedelta(minutes=settings.access_token_minutes)
    return TokenPair(
        access_token=create_access_token(
            subject=str(staff.id), kind="staff", key=settings.signing_key, lifetime=lifetime
        ),
        expires_in=int(lifetime.total_seconds()),
        refresh_token=refresh,
    )


def backoff_seconds(*, settings: Settings, failures: int) -> int:
    """How long after the last wrong password the next try must wait."""
    if failures < settings.staff_login_backoff_after:
        return 0
    exponent = min(failures - settings.staff_login_backoff_after, 30)
    return int(min(2**exponent, settings.staff_login_backoff_max_seconds))


def login_staff(
    *,
    session: Session,
    settings: Settings,
    limiter: RateLimiter,
    username: str,
    password: str,
    actor: audit.Actor,
) -> TokenPair:
    client = actor.client_address or "unknown"
    if not limiter.hit(parse(settings.staff_login_rate_per_client), "staff-login", client):
        raise RateLimited("Too many login tries from this device; wait a minute.")
    rate_limits.spend_global_budget(
        limiter=limiter, rate=settings.global_staff_login_rate, budget=rate_limits.STAFF_LOGIN
    )
    # Logins of one account take turns (a row lock; SQLite's writers take turns anyway), so
    # a burst of parallel guesses meets the backoff like guesses one after another.
    staff = session.exec(
        select(StaffUser).where(StaffUser.username == username).with_for_update()
    ).first()
    now = datetime.now(UTC)
    if staff is not None:
        if staff.locked_at is not None:
            raise StaffAccountLocked()
        wait = backoff_seconds(settings=settings, failures=staff.failed_logins)
        if wait and staff.last_failed_login_at is not None:
            remaining = (_aware(staff.last_failed_login_at) + timedelta(seconds=wait)) - now
            if remaining > timedelta(0):
                # The password is not even checked: guessing gets no faster by trying more.
                raise LoginBackoff(retry_after=max(1, int(remaining.total_seconds() + 0.999)))
    if not verify_password(password, staff.password_hash if staff else None) or staff is None:
        if staff is not None:
            _count_failure(session=session, settings=settings, staff=staff, now=now, actor=actor)
        raise InvalidCredentials(persist_changes=True)
    if not staff.is_active:
        raise InvalidCredentials("This staff account has been deactivated.")
    if staff.failed_logins:
        staff.failed_logins = 0
        staff.last_failed_login_at = None
        session.add(staff)
    audit.record(
        session=session,
        actor=audit.Actor("staff", str(staff.id), actor.client_address),
        action="staff.login",
        entity_type="staff_user",
        entity_id=staff.id,
        region_code=staff.region_scope or None,
    )
    return _issue_pair(session=session, settings=settings, staff=staff, family_id=uuid.uuid4())


def _count_failure(
    *, session: Session, settings: Settings, staff: StaffUser, now: datetime, actor: audit.Actor
) -> None:
    """One more wrong password, counted atomically (parallel guesses all count); the one that
    reaches the threshold locks the account."""
    failures = session.execute(
        update(StaffUser)
        .where(col(StaffUser.id) == staff.id)
        .values(failed_logins=col(StaffUser.failed_logins) + 1, last_failed_login_at=now)
        .returning(col(StaffUser.failed_logins))
        .execution_options(synchronize_session=False)
    ).scalar_one()
    locked = failures >= settings.staff_login_lock_after
    if locked:
        session.execute(
            update(StaffUser)
            .where(col(StaffUser.id) == staff.id, col(StaffUser.locked_at).is_(None))
            .values(locked_at=now)
            .execution_options(synchronize_session=False)
        )
    audit.record(
        session=session,
        actor=actor,
        action="staff.locked" if locked else "staff.login_failed",
        entity_type="staff_user",
        entity_id=staff.id,
        region_code=staff.region_scope or None,
        after={"failed_logins": failures},
    )


def unlock_staff(*, session: Session, staff: StaffUser, actor: audit.Actor) -> StaffUser:
    """An administrator lifts a lockout (and forgives the failures counted so far)."""
    before = {"locked_at": staff.locked_at, "failed_logins": staff.failed_logins}
    staff.locked_at = None
    staff.failed_logins = 0
    staff.last_failed_login_at = None
    audited.write(
        session=session,
        actor=actor,
        rows=[staff],
        action="staff.unlock",
        entity_type="staff_user",
        entity_id=staff.id,
        region_code=staff.region_scope or None,
        before=jsonable_encoder(before),
        after={"locked_at": None, "failed_logins": 0},
    )
    return staff


def revoke_all_refresh_tokens(*, session: Session, staff_id: uuid.UUID) -> None:
    """End every login of a staff member (their access tokens lapse within minutes)."""
    session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.staff_id) == staff_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )


def refresh_staff(*, session: Session, settings: Settings, refresh_token: str) -> TokenPair:
    """Rotate: the presented token is spent; presenting a spent one revokes its whole family."""
    row = session.exec(
        select(RefreshToken).where(RefreshToken.token_hash == hash_opaque_token(refresh_token))
    ).first()
    now = datetime.now(UTC)
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now:
        raise InvalidRefreshToken()
    if row.used_at is not None:
        # Someone replayed a spent token: it may have been stolen, so end that login everywhere.
        _revoke_family(session=session, family_id=row.family_id, now=now)
        raise InvalidRefreshToken(
            "This refresh token was already used; the session has been ended for safety. "
            "Log in again.",
            persist_changes=True,
        )
    staff = session.get(StaffUser, row.staff_id)
    if staff is None or not staff.is_active:
        raise InvalidRefreshToken("This staff account has been deactivated.")
    row.used_at = now
    session.add(row)
    return _issue_pair(session=session, settings=settings, staff=staff, family_id=row.family_id)


def _revoke_family(*, session: Session, family_id: uuid.UUID, now: datetime) -> None:
    session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )


def logout_staff(*, session: Session, refresh_token: str) -> None:
    row = session.exec(
        select(RefreshToken).where(RefreshToken.token_hash == hash_opaque_token(refresh_token))
    ).first()
    if row is not None:
        _revoke_family(session=session, family_id=row.family_id, now=datetime.now(UTC))


def request_code(
    *,
    session: Session,
    settings: Settings,
    limiter: RateLimiter,
    sender: OtpSender,
    national_id: str,
    client_address: str,
) -> None:
    """Send a code if the ID is registered; the caller answers the same either way."""
    per_client = parse(settings.otp_rate_per_client)
    per_id = parse(settings.otp_rate_per_id)
    if not limiter.hit(per_client, "otp-client", client_address):
        raise RateLimited("Too many code requests from this device; wait and try again later.")
    if not limiter.hit(per_id, "otp-id", national_id):
        raise RateLimited(
            "Several codes were already sent for this ID number; wait a few minutes and use "
            "the newest text message."
        )
    rate_limits.spend_global_budget(
        limiter=limiter, rate=settings.global_code_request_rate, budget=rate_limits.CODE_REQUEST
    )
    pensioner = session.exec(select(Pensioner).where(Pensioner.national_id == national_id)).first()
    if pensioner is None:
        return
    now = datetime.now(UTC)
    recent = session.exec(
        select(OtpCode.id).where(
            OtpCode.pensioner_id == pensioner.id,
            col(OtpCode.consumed_at).is_(None),
            col(OtpCode.expires_at) > now,
            col(OtpCode.attempts) < settings.otp_max_attempts,
            col(OtpCode.created_at) > now - timedelta(seconds=settings.otp_resend_after_seconds),
        )
    ).first()
    if recent is not None:
        # Someone else asking for a code must not void the one the pensioner is typing in:
        # the text sent less than a minute ago stays the valid one.
        return
    # Otherwise only the newest code works, so an old text cannot be confused with the new one.
    session.execute(
        update(OtpCode)
        .where(col(OtpCode.pensioner_id) == pensioner.id, col(OtpCode.consumed_at).is_(None))
        .values(consumed_at=now)
    )
    code = new_otp_code()
    otp = OtpCode(
        pensioner_id=pensioner.id,
        code_hash="",
        expires_at=now + timedelta(seconds=settings.otp_ttl_seconds),
    )
    otp.code_hash = hash_otp(code, otp_id=otp.id, key=settings.signing_key)
    session.add(otp)
    session.flush()
    sender.send(
        phone=pensioner.phone,
        message=code_message(
            code=code,
            minutes=max(1, settings.otp_ttl_seconds // 60),
            language=pensioner.preferred_language.value,
        ),
    )


def _take_try(*, session: Session, otp_id: uuid.UUID, max_attempts: int) -> bool:
    """Count one try, atomically, if the code still has one: concurrent requests cannot
    compare more codes than the limit, whatever the database's isolation level."""
    result = session.execute(
        update(OtpCode)
        .where(
            col(OtpCode.id) == otp_id,
            col(OtpCode.attempts) < max_attempts,
            col(OtpCode.consumed_at).is_(None),
        )
        .values(attempts=col(OtpCode.attempts) + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def login_pensioner(
    *,
    session: Session,
    settings: Settings,
    limiter: RateLimiter,
    national_id: str,
    code: str,
    actor: audit.Actor,
) -> PensionerToken:
    """Every refusal is the same OtpInvalid: no tries left, nothing about the ID number."""
    client = actor.client_address or "unknown"
    if not limiter.hit(parse(settings.otp_login_rate_per_client), "login-client", client):
        raise RateLimited("Too many login tries from this device; wait and try again later.")
    if not limiter.hit(parse(settings.otp_login_rate_per_id), "login-id", national_id):
        raise RateLimited("Too many login tries for this ID number; wait and try again later.")
    rate_limits.spend_global_budget(
        limiter=limiter,
        rate=settings.global_pensioner_login_rate,
        budget=rate_limits.PENSIONER_LOGIN,
    )
    pensioner = session.exec(select(Pensioner).where(Pensioner.national_id == national_id)).first()
    row = None
    if pensioner is not None:
        row = session.exec(
            select(OtpCode.id, OtpCode.code_hash, OtpCode.expires_at)
            .where(OtpCode.pensioner_id == pensioner.id, col(OtpCode.consumed_at).is_(None))
            .order_by(col(OtpCode.created_at).desc())
            .limit(1)
        ).first()
    now = datetime.now(UTC)
    if pensioner is None or row is None or _aware(row[2]) <= now:
        raise OtpInvalid()
    otp_id, code_hash = row[0], row[1]
    # The try is counted before the comparison, so a request that lost the race for the last
    # try never learns whether its code was right.
    if not _take_try(session=session, otp_id=otp_id, max_attempts=settings.otp_max_attempts):
        raise OtpInvalid()
    if not otp_matches(code, otp_id=otp_id, key=settings.signing_key, code_hash=code_hash):
        raise OtpInvalid()
    consumed = session.execute(
        update(OtpCode)
        .where(col(OtpCode.id) == otp_id, col(OtpCode.consumed_at).is_(None))
        .values(consumed_at=now)
        .execution_options(synchronize_session=False)
    )
    if consumed.rowcount != 1:  # type: ignore[attr-defined]
        raise OtpInvalid()  # the same code used twice at once: one login only
    audit.record(
        session=session,
        actor=audit.Actor("pensioner", str(pensioner.id), actor.client_address),
        action="pensioner.login",
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
    )
    lifetime = timedelta(minutes=settings.pensioner_token_minutes)
    return PensionerToken(
        access_token=create_access_token(
            subject=str(pensioner.id), kind="pensioner", key=settings.signing_key, lifetime=lifetime
        ),
        expires_in=int(lifetime.total_seconds()),
    )
