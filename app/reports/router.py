"""Monthly report per region, as JSON or as a CSV download (admin, auditor; within scope)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.db import SessionDep
from app.deps import RequireReportReader
from app.reports import service
from app.reports.service import Dashboard, RegionMonth

router = APIRouter(prefix="/reports", tags=["reports"])
# Years 1900-2999: year 0 and 9999-12 (whose next month is in year 10000) are not dates Python
# can hold, and a pension register has nothing outside these.
Month = Annotated[
    str,
    Query(
        pattern=r"^(19\d\d|2\d\d\d)-(0[1-9]|1[0-2])$",
        examples=["2026-11"],
        description="YYYY-MM, year 1900 to 2999",
    ),
]
RegionPrefix = Annotated[str | None, Query(pattern=r"^\d{2,6}$")]


def _month(value: str) -> date:
    return date(int(value[:4]), int(value[5:7]), 1)


@router.get(
    "/dashboard",
    response_model=Dashboard,
    summary="Recipients by certification status now, and certifications by method per month",
)
def dashboard(
    session: SessionDep, staff: RequireReportReader, region_code: RegionPrefix = None
) -> Dashboard:
    return service.dashboard(
        session=session, staff=staff, region_prefix=region_code, today=date.today()
    )


@router.get(
    "/monthly",
    response_model=list[RegionMonth],
    summary="The monthly report by region",
)
def monthly(
    session: SessionDep, staff: RequireReportReader, month: Month, region_code: RegionPrefix = None
) -> list[RegionMonth]:
    return service.monthly(
        session=session, staff=staff, month=_month(month), region_prefix=region_code
    )


@router.get(
    "/monthly.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
    summary="The monthly report as CSV",
)
def monthly_csv(
    session: SessionDep, staff: RequireReportReader, month: Month, region_code: RegionPrefix = None
) -> Response:
    rows = service.monthly(
        session=session, staff=staff, month=_month(month), region_prefix=region_code
    )
    return Response(
        content=service.to_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="lifecert-{month}.csv"'},
    )
