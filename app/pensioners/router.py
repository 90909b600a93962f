"""Pensioner register endpoints (staff) and the signed-in pensioner's own record."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from app.appointments.service import pensioner_zone
from app.certifications import service as certifications
from app.certifications.schemas import CertificationRead
from app.certifications.service import status as certification_status
from app.db import SessionDep
from app.deps import (
    CurrentPensioner,
    PensionerActor,
    RequireAdmin,
    RequireRegisterReader,
    SettingsDep,
    StaffActor,
)
from app.kit import audited
from app.kit.pages import Limit, Offset, Page
from app.pensioners import service
from app.pensioners.dependencies import EditablePensioner, ReadablePensioner
from app.pensioners.errors import InvalidCsv
from app.pensioners.schemas import (
    ImportReport,
    PensionerCreate,
    PensionerRead,
    PensionerSelf,
    PensionerSelfUpdate,
    PensionerUpdate,
)
from models.pensioner import BenefitStatus, BenefitType, Pensioner, Residence

router = APIRouter(prefix="/pensioners", tags=["pensioners"])
me_router = APIRouter(tags=["pensioner self-service"])


@router.get("", response_model=Page[PensionerRead], summary="Search the register in your region")
def search_pensioners(
    session: SessionDep,
    staff: RequireRegisterReader,
    actor: StaffActor,
    q: Annotated[str | None, Query(max_length=100, description="ID prefix, name or phone")] = None,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,6}$")] = None,
    residence: Residence | None = None,
    benefit_type: BenefitType | None = None,
    benefit_status: BenefitStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[PensionerRead]:
    page = service.search(
        session=session,
        staff=staff,
        q=q,
        region_code=region_code,
        residence=residence,
        benefit_type=benefit_type,
        benefit_status=benefit_status,
        limit=limit,
        offset=offset,
    )
    audited.read(
        session=session,
        actor=actor,
        action="pensioner.search",
        entity_type="pensioner_search",
        entity_id="-",
        region_code=region_code or staff.region_scope,
        after={
            "query": audited.masked_query(q),
            "filters": {
                "region_code": region_code,
                "residence": residence,
                "benefit_type": benefit_type,
                "benefit_status": benefit_status,
            },
            "limit": limit,
            "offset": offset,
            "total": page.total,
            "count": len(page.items),
            "ids": [str(p.id) for p in page.items],
        },
    )
    return page.map(PensionerRead.model_validate)


@router.post(
    "",
    response_model=PensionerRead,
    status_code=status.HTTP_201_CREATED,
    summary="Register a pensioner in your region scope",
)
def create_pensioner(
    session: SessionDep, staff: RequireAdmin, actor: StaffActor, body: PensionerCreate
) -> Pensioner:
    return service.create(session=session, staff=staff, actor=actor, data=body)


@router.post(
    "/import",
    response_model=ImportReport,
    summary="Import pensioners from a CSV file (UTF-8, header line with column names)",
    description="Send the file as the request body (`Content-Type: text/csv`) or as the `file` "
    "field of a multipart form. By default nothing is written if any row is invalid "
    "(422 with the row-by-row report); `all_or_nothing=false` writes the valid rows only.",
)
async def import_pensioners(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: RequireAdmin,
    actor: StaffActor,
    all_or_nothing: bool = True,
    dry_run: bool = False,
) -> ImportReport:
    content = await _csv_bytes(request)
    # Parsing and writing thousands of rows is blocking work: keep it off the event loop.
    return await run_in_threadpool(
        service.import_csv,
        session=session,
        staff=staff,
        actor=actor,
        content=content,
        all_or_nothing=all_or_nothing,
        dry_run=dry_run,
        max_rows=settings.max_import_rows,
    )


async def _csv_bytes(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidCsv("The form has no file field named 'file'.")
        return await upload.read()
    return await request.body()


@router.get(
    "/{pensioner_id}",
    response_model=PensionerRead,
    summary="A pensioner's register record",
)
def read_pensioner(
    session: SessionDep, actor: StaffActor, pensioner: ReadablePensioner
) -> Pensioner:
    audited.read(
        session=session,
        actor=actor,
        action="pensioner.read",
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        after={"pensioner_id": str(pensioner.id)},
    )
    return pensioner


@router.get(
    "/{pensioner_id}/certifications",
    response_model=list[CertificationRead],
    summary="The pensioner's certifications, newest first",
)
def certification_history(
    session: SessionDep,
    pensioner: ReadablePensioner,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[CertificationRead]:
    rows = certifications.history(session=session, pensioner_id=pensioner.id, limit=limit)
    return [CertificationRead.model_validate(r) for r in rows]


@router.patch(
    "/{pensioner_id}",
    response_model=PensionerRead,
    summary="Change a pensioner's record (only the fields sent)",
)
def update_pensioner(
    session: SessionDep,
    staff: RequireAdmin,
    actor: StaffActor,
    pensioner: EditablePensioner,
    body: PensionerUpdate,
) -> Pensioner:
    return service.update(
        session=session, staff=staff, actor=actor, pensioner=pensioner, changes=body
    )


@router.delete(
    "/{pensioner_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a pensioner's record",
)
def delete_pensioner(
    session: SessionDep, settings: SettingsDep, actor: StaffActor, pensioner: EditablePensioner
) -> Response:
    service.delete(session=session, settings=settings, actor=actor, pensioner=pensioner)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@me_router.get("/me", response_model=PensionerSelf, summary="The signed-in pensioner's record")
def read_me(pensioner: CurrentPensioner, settings: SettingsDep) -> PensionerSelf:
    masked = pensioner.national_id[:4] + "*" * 10 + pensioner.national_id[-4:]
    return PensionerSelf(
        id=pensioner.id,
        name=pensioner.name,
        national_id_masked=masked,
        region_code=pensioner.region_code,
        residence=pensioner.residence,
        benefit_type=pensioner.benefit_type,
        benefit_status=pensioner.benefit_status,
        preferred_language=pensioner.preferred_language,
        certified_until=pensioner.certified_until,
        certification_status=certification_status(pensioner, today=date.today()).value,
        media_retention_days=settings.media_retention_days,
        timezone=pensioner_zone(pensioner, settings),
        display_timezone=pensioner.display_timezone,
    )


@me_router.patch(
    "/me",
    response_model=PensionerSelf,
    summary="Change your time zone for shown times, or your language",
)
def update_me(
    session: SessionDep,
    settings: SettingsDep,
    pensioner: CurrentPensioner,
    actor: PensionerActor,
    body: PensionerSelfUpdate,
) -> PensionerSelf:
    service.update_self(session=session, actor=actor, pensioner=pensioner, changes=body)
    return read_me(pensioner, settings)
