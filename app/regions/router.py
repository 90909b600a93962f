"""Region endpoints: any staff member reads the regions in scope; administrators change them."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.db import SessionDep
from app.deps import CurrentStaff, RequireAdmin, SettingsDep, StaffActor
from app.regions import service
from app.regions.schemas import RegionCreate, RegionRead, RegionUpdate

router = APIRouter(prefix="/regions", tags=["regions"])


@router.get(
    "",
    response_model=list[RegionRead],
    summary="All regions",
)
def list_regions(
    session: SessionDep, settings: SettingsDep, staff: CurrentStaff
) -> list[RegionRead]:
    period = settings.certification_period_months
    return [
        service.to_read(r, default_period=period)
        for r in service.list_in_scope(session=session, staff=staff)
    ]


@router.post(
    "",
    response_model=RegionRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add a region",
)
def create_region(
    session: SessionDep,
    settings: SettingsDep,
    admin: RequireAdmin,
    actor: StaffActor,
    body: RegionCreate,
) -> RegionRead:
    region = service.create(session=session, staff=admin, actor=actor, data=body)
    return service.to_read(region, default_period=settings.certification_period_months)


@router.patch(
    "/{code}",
    response_model=RegionRead,
    summary="Change a region",
)
def update_region(
    code: str,
    session: SessionDep,
    settings: SettingsDep,
    admin: RequireAdmin,
    actor: StaffActor,
    body: RegionUpdate,
) -> RegionRead:
    region = service.get_in_scope(session=session, staff=admin, code=code)
    region = service.update(session=session, actor=actor, region=region, changes=body)
    return service.to_read(region, default_period=settings.certification_period_months)
