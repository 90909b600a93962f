"""Staff account management (administrators) and the signed-in staff member's profile."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from app.auth import service as auth_service
from app.db import SessionDep
from app.deps import CurrentStaff, RequireAdmin, StaffActor
from app.staff import service
from app.staff.schemas import StaffCreate, StaffRead, StaffUpdate
from models.staff import StaffUser

router = APIRouter(prefix="/staff", tags=["staff"])


@router.get("/me", response_model=StaffRead, summary="The signed-in staff member")
def read_me(staff: CurrentStaff) -> StaffUser:
    return staff


@router.get(
    "",
    response_model=list[StaffRead],
    summary="Staff accounts in your region scope",
)
def list_staff(session: SessionDep, admin: RequireAdmin) -> list[StaffUser]:
    return service.list_in_scope(session=session, admin=admin)


@router.post(
    "",
    response_model=StaffRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create a staff account",
)
def create_staff(
    session: SessionDep, admin: RequireAdmin, actor: StaffActor, body: StaffCreate
) -> StaffUser:
    return service.create_by_admin(session=session, admin=admin, actor=actor, data=body)


@router.get(
    "/{staff_id}",
    response_model=StaffRead,
    summary="A staff account",
)
def read_staff(staff_id: uuid.UUID, session: SessionDep, admin: RequireAdmin) -> StaffUser:
    return service.get_in_scope(session=session, admin=admin, staff_id=staff_id)


@router.patch(
    "/{staff_id}",
    response_model=StaffRead,
    summary="Change a staff account",
)
def update_staff(
    staff_id: uuid.UUID,
    session: SessionDep,
    admin: RequireAdmin,
    actor: StaffActor,
    body: StaffUpdate,
) -> StaffUser:
    staff = service.get_in_scope(session=session, admin=admin, staff_id=staff_id)
    return service.update(session=session, admin=admin, actor=actor, staff=staff, changes=body)


@router.post(
    "/{staff_id}/unlock",
    response_model=StaffRead,
    summary="Unlock an account locked after repeated wrong passwords",
)
def unlock_staff(
    staff_id: uuid.UUID, session: SessionDep, admin: RequireAdmin, actor: StaffActor
) -> StaffUser:
    staff = service.get_in_scope(session=session, admin=admin, staff_id=staff_id)
    return auth_service.unlock_staff(session=session, staff=staff, actor=actor)
