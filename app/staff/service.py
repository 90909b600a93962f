"""Staff accounts: created and changed by administrators, always within their own scope."""

from __future__ import annotations

import uuid

from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.service import Actor
from app.auth.service import revoke_all_refresh_tokens
from app.errors import OutOfScope, PermissionDenied
from app.kit import audited, scope
from app.security import hash_password
from app.staff.errors import DuplicateUsername, StaffNotFound
from app.staff.schemas import StaffCreate, StaffUpdate
from models.staff import StaffUser

_HIDDEN = frozenset({"password_hash"})


def get_in_scope(*, session: Session, admin: StaffUser, staff_id: uuid.UUID) -> StaffUser:
    staff = session.get(StaffUser, staff_id)
    if staff is None or not admin.covers_region(staff.region_scope):
        raise StaffNotFound()
    return staff


def list_in_scope(*, session: Session, admin: StaffUser) -> list[StaffUser]:
    query = scope.within(select(StaffUser), StaffUser.region_scope, admin)
    rows = session.exec(query.order_by(col(StaffUser.username))).all()
    return list(rows)


def create(
    *,
    session: Session,
    actor: Actor,
    username: str,
    password: str,
    roles: list[str],
    region_scope: str = "",
    full_name: str = "",
) -> StaffUser:
    if session.exec(select(StaffUser.id).where(StaffUser.username == username)).first():
        raise DuplicateUsername(f"The username {username!r} is taken.")
    staff = StaffUser(
        username=username,
        full_name=full_name,
        password_hash=hash_password(password),
        roles=sorted(set(roles)),
        region_scope=region_scope,
    )
    audited.write(
        session=session,
        actor=actor,
        rows=[staff],
        action="staff.create",
        entity_type="staff_user",
        entity_id=staff.id,
        region_code=region_scope or None,
        after=audit.snapshot(staff, exclude=_HIDDEN),
    )
    return staff


def create_by_admin(
    *, session: Session, admin: StaffUser, actor: Actor, data: StaffCreate
) -> StaffUser:
    if not admin.covers_region(data.region_scope):
        raise OutOfScope("You can only create accounts within your own region scope.")
    return create(
        session=session,
        actor=actor,
        username=data.username,
        password=data.password,
        roles=[r.value for r in data.roles],
        region_scope=data.region_scope,
        full_name=data.full_name,
    )


def update(
    *, session: Session, admin: StaffUser, actor: Actor, staff: StaffUser, changes: StaffUpdate
) -> StaffUser:
    patch = changes.model_dump(exclude_unset=True, exclude_none=True)
    if "region_scope" in patch and not admin.covers_region(patch["region_scope"]):
        raise OutOfScope("You can only assign a region scope within your own.")
    if staff.id == admin.id and ("roles" in patch or patch.get("is_active") is False):
        raise PermissionDenied("You cannot change your own roles or deactivate yourself.")
    before = audit.snapshot(staff, exclude=_HIDDEN)
    if "password" in patch:
        staff.password_hash = hash_password(patch.pop("password"))
    if "roles" in patch:
        patch["roles"] = [r.value for r in patch["roles"]]
    for key, value in patch.items():
        setattr(staff, key, value)
    session.add(staff)
    session.flush()
    old, new = audit.diff(before, audit.snapshot(staff, exclude=_HIDDEN))
    if changes.password is not None:
        new["password"] = "changed"
    if changes.password is not None or {"roles", "region_scope", "is_active"} & set(new):
        # Whoever holds a refresh token of this account got it under the old password, roles
        # or scope: those logins end now (access tokens lapse within minutes).
        revoke_all_refresh_tokens(session=session, staff_id=staff.id)
        new["logins_revoked"] = True
    audit.record(
        session=session,
        actor=actor,
        action="staff.update",
        entity_type="staff_user",
        entity_id=staff.id,
        region_code=staff.region_scope or None,
        before=old,
        after=new,
    )
    return staff
