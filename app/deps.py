"""Annotated dependency aliases: settings, the signed-in staff member or pensioner, roles."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from limits.strategies import RateLimiter

from app.audit.service import Actor
from app.config import Settings
from app.db import SessionDep
from app.errors import InvalidToken, NotAuthenticated, PermissionDenied
from app.faces.service import CohortCache
from app.security import decode_access_token
from app.video_calls.signalling import SignalHub
from biometrics import FaceEngine
from models.pensioner import Pensioner
from models.staff import Role, StaffUser

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
BearerToken = Annotated[str | None, Depends(oauth2_scheme)]


def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientAddress = Annotated[str, Depends(client_address)]


def _subject_uuid(subject: str) -> uuid.UUID:
    try:
        return uuid.UUID(subject)
    except ValueError as exc:
        raise InvalidToken() from exc


def current_staff(session: SessionDep, settings: SettingsDep, token: BearerToken) -> StaffUser:
    if not token:
        raise NotAuthenticated()
    subject = decode_access_token(token, kind="staff", key=settings.signing_key)
    staff = session.get(StaffUser, _subject_uuid(subject))
    if staff is None or not staff.is_active:
        raise InvalidToken("This staff account no longer exists or has been deactivated.")
    return staff


def current_pensioner(session: SessionDep, settings: SettingsDep, token: BearerToken) -> Pensioner:
    if not token:
        raise NotAuthenticated()
    subject = decode_access_token(token, kind="pensioner", key=settings.signing_key)
    pensioner = session.get(Pensioner, _subject_uuid(subject))
    if pensioner is None:
        raise InvalidToken("This pensioner is no longer in the register.")
    return pensioner


async def current_pensioner_id(request: Request, token: BearerToken) -> uuid.UUID:
    """The signed-in pensioner's id from the token alone, on the event loop: for a read whose
    own query checks that the pensioner is still in the register (the status poll)."""
    if not token:
        raise NotAuthenticated()
    settings: Settings = request.app.state.settings
    return _subject_uuid(decode_access_token(token, kind="pensioner", key=settings.signing_key))


CurrentStaff = Annotated[StaffUser, Depends(current_staff)]
CurrentPensioner = Annotated[Pensioner, Depends(current_pensioner)]
CurrentPensionerId = Annotated[uuid.UUID, Depends(current_pensioner_id)]


def require_roles(*roles: Role) -> Callable[[StaffUser], StaffUser]:
    names = ", ".join(r.value for r in roles)

    def dependency(staff: CurrentStaff) -> StaffUser:
        if not any(staff.has_role(r) for r in roles):
            raise PermissionDenied(f"This action needs one of these roles: {names}.")
        return staff

    dependency.__name__ = f"require_{'_or_'.join(r.value for r in roles)}"
    return dependency


RequireAdmin = Annotated[StaffUser, Depends(require_roles(Role.admin))]
RequireRegisterReader = Annotated[StaffUser, Depends(require_roles(Role.admin, Role.reviewer))]
RequireAuditReader = Annotated[StaffUser, Depends(require_roles(Role.admin, Role.auditor))]
RequireEnroller = Annotated[StaffUser, Depends(require_roles(Role.admin, Role.community_worker))]
RequireFaceReader = Annotated[
    StaffUser, Depends(require_roles(Role.admin, Role.reviewer, Role.community_worker))
]

# Silent certification: feeds and runs (admin), name-only candidates (reviewer), community
# verification (community_worker), recovery of overpayments (admin), reports (auditor).
RequireCandidateReviewer = Annotated[StaffUser, Depends(require_roles(Role.admin, Role.reviewer))]
RequireTaskReader = Annotated[StaffUser, Depends(require_roles(Role.admin, Role.community_worker))]
RequireVisitRecorder = Annotated[StaffUser, Depends(require_roles(Role.community_worker))]
RequireReportReader = Annotated[StaffUser, Depends(require_roles(Role.admin, Role.auditor))]

# Video-call certification: agents run calls; reviewers and admins check consular certificates.
RequireVideoAgent = Annotated[StaffUser, Depends(require_roles(Role.video_agent))]
RequireDocumentReviewer = Annotated[StaffUser, Depends(require_roles(Role.admin, Role.reviewer))]
# Four eyes: the second staff member on a certification by override or of a lapsed call, and on
# a visit that lifts a death suspension.
RequireConfirmer = Annotated[StaffUser, Depends(require_roles(Role.admin, Role.reviewer))]


def get_face_engine(request: Request) -> FaceEngine:
    engine: FaceEngine = request.app.state.face_engine
    return engine


def get_cohort_cache(request: Request) -> CohortCache:
    cache: CohortCache = request.app.state.cohort_cache
    return cache


def get_signal_hub(request: Request) -> SignalHub:
    hub: SignalHub = request.app.state.signal_hub
    return hub


FaceEngineDep = Annotated[FaceEngine, Depends(get_face_engine)]
SignalHubDep = Annotated[SignalHub, Depends(get_signal_hub)]
CohortCacheDep = Annotated[CohortCache, Depends(get_cohort_cache)]


def staff_actor(staff: CurrentStaff, address: ClientAddress) -> Actor:
    return Actor(type="staff", id=str(staff.id), client_address=address)


def pensioner_actor(pensioner: CurrentPensioner, address: ClientAddress) -> Actor:
    return Actor(type="pensioner", id=str(pensioner.id), client_address=address)


StaffActor = Annotated[Actor, Depends(staff_actor)]
PensionerActor = Annotated[Actor, Depends(pensioner_actor)]
