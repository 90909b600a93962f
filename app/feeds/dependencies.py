"""Who sends a feed: an agency's system with its feed key, or an administrator with a token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader

from app.audit.service import Actor
from app.db import SessionDep
from app.deps import BearerToken, ClientAddress, SettingsDep, current_staff, require_roles
from app.errors import PermissionDenied
from app.feeds import clients
from app.feeds.errors import InvalidFeed
from app.feeds.validation import Gate
from app.kit import scope
from models.staff import Role, StaffUser

feed_key_header = APIKeyHeader(
    name="X-Feed-Key",
    auto_error=False,
    description="An agency's feed key (POST /feeds/clients): it names the source authority.",
)
FeedKey = Annotated[str | None, Depends(feed_key_header)]


@dataclass(frozen=True)
class FeedSender:
    actor: Actor
    gate: Gate
    # The feed key's source authority; None for a staff member, who says where records come
    # from (their death records wait for a second staff member all the same).
    source_authority: str | None
    staff: StaffUser | None = None

    def source(self, stated: str | None) -> str:
        """The batch's source: the key's, whatever the request says; else the stated one."""
        if self.source_authority is not None:
            return self.source_authority
        if not stated:
            raise InvalidFeed("Say where the records come from: give source_authority.")
        return stated

    @property
    def region_scope(self) -> str:
        return self.gate.region_scope


def feed_sender(
    session: SessionDep,
    settings: SettingsDep,
    key: FeedKey,
    token: BearerToken,
    address: ClientAddress,
) -> FeedSender:
    """A feed key when one is sent (a wrong or revoked one is refused even with a token), else
    an administrator's token: a person, scoped to their region."""
    if key is not None:
        client = clients.authenticate(session=session, key=key)
        return FeedSender(
            actor=clients.actor_of(client, address),
            gate=Gate(fixed_source=True),
            source_authority=client.source_authority,
        )
    staff = current_staff(session, settings, token)
    if not staff.has_role(Role.admin):
        raise PermissionDenied("Sending feeds needs a feed key or the admin role.")
    return FeedSender(
        actor=Actor(type="staff", id=str(staff.id), client_address=address),
        gate=Gate(region_scope=staff.region_scope, person=True),
        source_authority=None,
        staff=staff,
    )


SenderDep = Annotated[FeedSender, Depends(feed_sender)]


def require_national_admin(
    staff: Annotated[StaffUser, Depends(require_roles(Role.admin))],
) -> StaffUser:
    return scope.national(staff, "Feed keys are managed by national administrators.")


RequireNationalAdmin = Annotated[StaffUser, Depends(require_national_admin)]
