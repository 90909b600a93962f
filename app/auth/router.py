"""Login endpoints: staff password + refresh tokens, pensioner one-time codes. Public by design."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from app.audit.service import Actor
from app.auth import service
from app.auth.schemas import (
    CodeLogin,
    CodeRequest,
    CodeSent,
    PensionerToken,
    RefreshRequest,
    TokenPair,
)
from app.db import SessionDep
from app.deps import ClientAddress, RateLimiterDep, SettingsDep

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=TokenPair, summary="Staff login (OAuth2 password flow)")
def staff_token(
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    address: ClientAddress,
) -> TokenPair:
    return service.login_staff(
        session=session,
        settings=settings,
        limiter=limiter,
        username=form.username,
        password=form.password,
        actor=Actor("anonymous", "-", address),
    )


@router.post("/refresh", response_model=TokenPair, summary="Swap a refresh token for a new pair")
def staff_refresh(session: SessionDep, settings: SettingsDep, body: RefreshRequest) -> TokenPair:
    return service.refresh_staff(
        session=session, settings=settings, refresh_token=body.refresh_token
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="End a staff login")
def staff_logout(session: SessionDep, body: RefreshRequest) -> None:
    service.logout_staff(session=session, refresh_token=body.refresh_token)


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
