"""Feed endpoints (administrators): upload a batch file, push single records, read reports."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.db import SessionDep
from app.deps import RequireAdmin, SettingsDep, StaffActor
from app.errors import InvalidFeed
from app.feeds import service
from app.feeds.schemas import FeedBatchRead, FeedReport, QuarantinedRead, RecordPush
from app.matching import service as matching
from models.matching import RunKind
from models.records import FeedFormat, FeedType

router = APIRouter(prefix="/feeds", tags=["feeds"])


class FeedBatchPage(BaseModel):
    items: list[FeedBatchRead]
    total: int
    limit: int
    offset: int


@router.post(
    "/{feed_type}/batches",
    response_model=FeedReport,
    status_code=status.HTTP_201_CREATED,
    summary="Import a batch file of one feed type (CSV, JSON Lines or Parquet)",
    description="Send the file as the body or as the `file` field of a multipart form. Rows "
    "with an invalid ID or date are quarantined (kept, listed in the report). The same content "
    "sent again answers 200 with the first report and `duplicate: true`.",
)
async def import_batch(
    feed_type: FeedType,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    admin: RequireAdmin,
    actor: StaffActor,
    source_authority: Annotated[str, Query(min_length=1, max_length=64)],
    format: FeedFormat | None = None,
    file_name: Annotated[str | None, Query(max_length=255)] = None,
) -> FeedReport:
    content, name = await _body(request)
    report = await run_in_threadpool(
        service.import_file,
        session=session,
        settings=settings,
        actor=actor,
        feed_type=feed_type,
        source_authority=source_authority,
        content=content,
        file_name=file_name or name,
        fmt=format,
    )
    if report.duplicate:
        response.status_code = status.HTTP_200_OK
    return report


async def _body(request: Request) -> tuple[bytes, str | None]:
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidFeed("The form has no file field named 'file'.")
        return await upload.read(), upload.filename
    return await request.body(), None


@router.post(
    "/{feed_type}/records",
    response_model=FeedReport,
    status_code=status.HTTP_201_CREATED,
    summary="Push single records (near real time); matched at once against the register",
)
def push_records(
    feed_type: FeedType,
    body: RecordPush,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    admin: RequireAdmin,
    actor: StaffActor,
) -> FeedReport:
    report, batch = service.push_records(
        session=session, settings=settings, actor=actor, feed_type=feed_type, body=body
    )
    if report.duplicate:
        response.status_code = status.HTTP_200_OK
        return report
    if body.match and report.accepted + report.quarantined:
        run = matching.run(
            session=session,
            settings=settings,
            actor=actor,
            kind=RunKind.incremental,
            region_scope=admin.region_scope,
            batch_ids=[batch.id],
        )
        report.matching = {"run_id": str(run.id), **run.counts}
    return report


@router.get("/batches", response_model=FeedBatchPage)
def list_batches(
    session: SessionDep,
    admin: RequireAdmin,
    feed_type: FeedType | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> FeedBatchPage:
    rows, total = service.list_batches(
        session=session, feed_type=feed_type, limit=limit, offset=offset
    )
    items = [FeedBatchRead.model_validate(r) for r in rows]
    return FeedBatchPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/batches/{batch_id}", response_model=FeedReport, summary="A batch's report")
def read_batch(batch_id: uuid.UUID, session: SessionDep, admin: RequireAdmin) -> FeedReport:
    return service.report_of(service.get_batch(session=session, batch_id=batch_id), duplicate=False)


@router.get("/batches/{batch_id}/quarantine", response_model=list[QuarantinedRead])
def read_quarantine(
    batch_id: uuid.UUID,
    session: SessionDep,
    admin: RequireAdmin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[QuarantinedRead]:
    service.get_batch(session=session, batch_id=batch_id)
    rows = service.quarantined(session=session, batch_id=batch_id, limit=limit, offset=offset)
    return [QuarantinedRead.model_validate(r) for r in rows]
