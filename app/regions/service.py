"""Regions: created by administrators whose scope covers them."""

from __future__ import annotations

from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.service import Actor
from app.errors import OutOfScope
from app.kit import audited, scope
from app.regions.errors import DuplicateRegion, RegionNotFound
from app.regions.schemas import RegionCreate, RegionRead, RegionUpdate
from models.region import Region
from models.staff import StaffUser


def to_read(region: Region, *, default_period: int) -> RegionRead:
    return RegionRead(
        code=region.code,
        name=region.name,
        certification_period_months=region.certification_period_months,
        effective_period_months=region.certification_period_months or default_period,
    )


def list_in_scope(*, session: Session, staff: StaffUser) -> list[Region]:
    query = scope.within(select(Region), Region.code, staff)
    rows = session.exec(query.order_by(col(Region.code))).all()
    return list(rows)


def get_in_scope(*, session: Session, staff: StaffUser, code: str) -> Region:
    region = session.get(Region, code)
    if region is None or not staff.covers_region(code):
        raise RegionNotFound(f"No region {code} in your scope.")
    return region


def create(*, session: Session, staff: StaffUser, actor: Actor, data: RegionCreate) -> Region:
    if not staff.covers_region(data.code):
        raise OutOfScope(f"Region {data.code} is outside your region scope.")
    if session.get(Region, data.code) is not None:
        raise DuplicateRegion(f"Region {data.code} already exists.")
    region = Region.model_validate(data.model_dump())
    audited.write(
        session=session,
        actor=actor,
        rows=[region],
        action="region.create",
        entity_type="region",
        entity_id=region.code,
        region_code=region.code,
        after=audit.snapshot(region),
    )
    return region


def update(*, session: Session, actor: Actor, region: Region, changes: RegionUpdate) -> Region:
    before = audit.snapshot(region)
    for key, value in changes.model_dump(exclude_unset=True).items():
        if key == "name" and value is None:
            continue
        setattr(region, key, value)
    session.add(region)
    session.flush()
    old, new = audit.diff(before, audit.snapshot(region))
    if new:
        audit.record(
            session=session,
            actor=actor,
            action="region.update",
            entity_type="region",
            entity_id=region.code,
            region_code=region.code,
            before=old,
            after=new,
        )
    return region
