"""Login endpoints: staff password + refresh tokens, pensioner one-time codes. Public by design."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from app.audit.service import Actor
from app.auth import service
from app.auth.errors import CsrfHeaderMissing, InvalidRefreshToken
from app.auth.schemas import (
    CodeLogin,
    CodeRequest,
    CodeSent,
    PensionerToken,
    RefreshRequest,
    TokenPair,
)
from app.config import Settings
from app.db import SessionDep
from app.deps import ClientAddress, RateLimiterDep, SettingsDep

router = APIRouter(prefix="/auth", tags=["auth"])


# The staff refresh token as a cookie: HttpOnly (no script reads it), SameSite=Strict (no
# other site's page sends it), sent only to the auth routes, Secure over HTTPS (directly or
# through a trusted proxy that says so).
REFRESH_COOKIE = "lifecert_refresh"
REFRESH_COOKIE_PATH = "/api/v1/auth"
# The pages send this header with every login, refresh and logout; a cross-site form cannot
# set headers, and a cross-site script would need a CORS preflight the service never allows.
PAGE_HEADER = "X-Requested-With"
PAGE_HEADER_VALUE = "lifecert"


def _from_page(request: Request) -> bool:
    return request.headers.get(PAGE_HEADER) == PAGE_HEADER_VALUE


def _with_cookie(
    request: Request, response: Response, settings: Settings, pair: TokenPair
) -> TokenPair:
    """Set the refresh cookie from `pair`; the pages get the pair without the refresh token."""
    assert pair.refresh_token is not None
    response.set_cookie(
        REFRESH_COOKIE,
        pair.refresh_token,
        max_age=settings.refresh_token_days * 24 * 3600,
        path=REFRESH_COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return pair.model_copy(update={"refresh_token": None}) if _from_page(request) else pair


def _presented(request: Request, body: RefreshRequest | None) -> str:
    """The refresh token of a refresh or logout: the body's when it has one (API clients),
    else the cookie's, which needs the page header (CSRF)."""
    if body is not None and body.refresh_token:
        return body.refresh_token
    cookie = request.cookies.get(REFRESH_COOKIE)
    if not cookie:
        raise InvalidRefreshToken("No refresh token: log in again.")
    if not _from_page(request):
        raise CsrfHeaderMissing()
    return cookie


@router.post("/token", response_model=TokenPair, summary="Staff login (OAuth2 password flow)")
def staff_token(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    address: ClientAddress,
) -> TokenPair:
    pair = service.login_staff(
        session=session,
        settings=settings,
        limiter=limiter,
        username=form.username,
        password=form.password,
        actor=Actor("anonymous", "-", address),
    )
    return _with_cookie(request, response, settings, pair)


@router.post(
    "/refresh",
    response_model=TokenPair,
    summary="Swap a refresh token (body, or the refresh cookie) for a new pair",
)
def staff_refresh(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    body: RefreshRequest | None = None,
) -> TokenPair:
    pair = service.refresh_staff(
        session=session, settings=settings, refresh_token=_presented(request, body)
    )
    return _with_cookie(request, response, settings, pair)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="End a staff login")
def staff_logout(
    request: Request, response: Response, session: SessionDep, body: RefreshRequest | None = None
) -> None:
    token = _presented(request, body)
    service.logout_staff(session=session, refresh_token=token)
    response.delete_cookie(
        REFRESH_COOKIE,
        path=REFRESH_COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


@router.post(
    "/pensioner/code",
    response_model=CodeSent,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a login code to the pensioner's registered phone",
)
def pensioner_code(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    body: CodeRequest,
    address: ClientAddress,
) -> CodeSent:
    service.request_code(
        session=session,
        settings=settings,
        limiter=limiter,
        sender=request.app.state.otp_sender,
        national_id=body.national_id,
        client_address=address,
    )
    return CodeSent(
        detail="If this ID number is registered, a code was sent by text message to the phone "
        "number on file.",
        expires_in=settings.otp_ttl_seconds,
    )


@router.post("/pensioner/token", response_model=PensionerToken, summary="Pensioner login")
def pensioner_token(
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    body: CodeLogin,
    address: ClientAddress,
) -> PensionerToken:
    return service.login_pensioner(
        session=session,
        settings=settings,
        limiter=limiter,
        national_id=body.national_id,
        code=body.code,
        actor=Actor("anonymous", "-", address),
    )
