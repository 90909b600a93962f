"""Feed endpoints: agencies (feed key) and administrators send batches and records; staff read
batch reports, decide held death records; national administrators manage feed keys."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from app.db import SessionDep
from app.deps import RequireAdmin, RequireConfirmer, SettingsDep, StaffActor
from app.feeds import clients, holds, service
from app.feeds.dependencies import RequireNationalAdmin, SenderDep
from app.feeds.errors import InvalidFeed
from app.feeds.schemas import (
    FeedBatchRead,
    FeedClientCreate,
    FeedClientCreated,
    FeedClientRead,
    FeedReport,
    HeldDeathRead,
    QuarantinedRead,
    RecordPush,
)
from app.kit import audited
from app.kit.pages import Limit, Offset, Page
from app.video_calls.schemas import ConfirmationIn
from models.records import FeedFormat, FeedType, HoldStatus

# Sending: by an agency's feed key (X-Feed-Key) or an administrator's token; the dependency
# of every route here authenticates one or the other (app/feeds/dependencies.py).
intake_router = APIRouter(prefix="/feeds", tags=["feeds"])
router = APIRouter(prefix="/feeds", tags=["feeds"])

SENDERS = (
    "Send with an agency's feed key (`X-Feed-Key`: the key's source authority is the source; "
    "a `source_authority` in the request is ignored) or as an administrator (the request's "
    "`source_authority` is recorded; records outside your region scope are quarantined as "
    "`out_of_scope`, and your death records wait for a second staff member). A death record "
    "about a pensioner who certified by face or video call in the last 90 days waits too."
)


@intake_router.post(
    "/{feed_type}/batches",
    response_model=FeedReport,
    status_code=status.HTTP_201_CREATED,
    summary="Import a batch file of one feed type (CSV, JSON Lines or Parquet)",
    description="Send the file as the body or as the `file` field of a multipart form. Rows "
    "with an invalid ID or date are quarantined (kept, listed in the report). The same content "
    "sent again answers 200 with the first report and `duplicate: true`. " + SENDERS,
)
async def import_batch(
    feed_type: FeedType,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    sender: SenderDep,
    source_authority: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    format: FeedFormat | None = None,
    file_name: Annotated[str | None, Query(max_length=255)] = None,
) -> FeedReport:
    source = sender.source(source_authority)
    content, name = await _body(request)
    report = await run_in_threadpool(
        service.import_file,
        session=session,
        settings=settings,
        actor=sender.actor,
        feed_type=feed_type,
        source_authority=source,
        content=content,
        file_name=file_name or name,
        fmt=format,
        gate=sender.gate,
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


@intake_router.post(
    "/{feed_type}/records",
    response_model=FeedReport,
    status_code=status.HTTP_201_CREATED,
    summary="Push single records (near real time); matched at once against the register",
    description=SENDERS,
)
def push_records(
    feed_type: FeedType,
    body: RecordPush,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    sender: SenderDep,
) -> FeedReport:
    report, batch = service.push_records(
        session=session,
        settings=settings,
        actor=sender.actor,
        feed_type=feed_type,
        body=body,
        source_authority=sender.source(body.source_authority),
        gate=sender.gate,
    )
    if report.duplicate:
        response.status_code = status.HTTP_200_OK
        return report
    if body.match and report.accepted + report.quarantined:
        report.matching = service.match_batch(
            session=session,
            settings=settings,
            actor=sender.actor,
            region_scope=sender.region_scope,
            batch_id=batch.id,
        )
    return report


@router.get(
    "/batches", response_model=Page[FeedBatchRead], summary="Batches sent within your scope"
)
def list_batches(
    session: SessionDep,
    admin: RequireAdmin,
    feed_type: FeedType | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[FeedBatchRead]:
    page = service.list_batches(
        session=session, staff=admin, feed_type=feed_type, limit=limit, offset=offset
    )
    return page.map(FeedBatchRead.model_validate)


@router.get("/batches/{batch_id}", response_model=FeedReport, summary="A batch's report")
def read_batch(batch_id: uuid.UUID, session: SessionDep, admin: RequireAdmin) -> FeedReport:
    batch = service.get_batch(session=session, staff=admin, batch_id=batch_id)
    return service.report_of(batch, duplicate=False)


@router.get(
    "/batches/{batch_id}/quarantine",
    response_model=list[QuarantinedRead],
    summary="The rows of a batch set aside as invalid",
)
def read_quarantine(
    batch_id: uuid.UUID,
    session: SessionDep,
    admin: RequireAdmin,
    actor: StaffActor,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[QuarantinedRead]:
    batch = service.get_batch(session=session, staff=admin, batch_id=batch_id)
    rows = service.quarantined(session=session, batch=batch, limit=limit, offset=offset)
    audited.read(
        session=session,
        actor=actor,
        action="feed.quarantine_read",
        entity_type="feed_batch",
        entity_id=batch.id,
        region_code=batch.region_scope,
        after={
            "limit": limit,
            "offset": offset,
            "count": len(rows),
            "rows": [r.row_number for r in rows],
        },
    )
    return [QuarantinedRead.model_validate(r) for r in rows]


@router.get(
    "/held-deaths",
    response_model=Page[HeldDeathRead],
    summary="Death records held for a second staff member, within your scope",
    description="Held when a person sent them, or when the pensioner certified by face or "
    "video call in the last 90 days. Records naming no registered pensioner are listed to "
    "national staff only.",
)
def list_held_deaths(
    session: SessionDep,
    staff: RequireConfirmer,
    held_status: Annotated[HoldStatus | None, Query(alias="status")] = (
        HoldStatus.awaiting_confirmation
    ),
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[HeldDeathRead]:
    page = holds.search(
        session=session, staff=staff, status=held_status, limit=limit, offset=offset
    )
    return page.map(HeldDeathRead.model_validate)


@router.post(
    "/held-deaths/{held_id}/confirmation",
    response_model=HeldDeathRead,
    summary="Confirm a held death record (it applies: matched at once), or refuse it",
    description="By a reviewer or administrator in scope who did not send it (403).",
)
def decide_held_death(
    held_id: uuid.UUID,
    body: ConfirmationIn,
    session: SessionDep,
    settings: SettingsDep,
    staff: RequireConfirmer,
    actor: StaffActor,
) -> HeldDeathRead:
    held = holds.get_in_scope(session=session, staff=staff, held_id=held_id)
    held = holds.decide(
        session=session,
        staff=staff,
        actor=actor,
        held=held,
        confirm=body.confirm,
        reason=body.reason,
    )
    read = HeldDeathRead.model_validate(held)
    if body.confirm:
        read.matching = service.match_batch(
            session=session,
            settings=settings,
            actor=actor,
            region_scope=staff.region_scope,
            batch_id=held.batch_id,
        )
    return read


@router.post(
    "/clients",
    response_model=FeedClientCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create an agency's feed client; its key is shown once (national administrators)",
)
def create_client(
    body: FeedClientCreate, session: SessionDep, admin: RequireNationalAdmin, actor: StaffActor
) -> FeedClientCreated:
    client, key = clients.create(
        session=session,
        actor=actor,
        staff=admin,
        name=body.name,
        source_authority=body.source_authority,
    )
    return FeedClientCreated(**FeedClientRead.model_validate(client).model_dump(), key=key)


@router.get("/clients", response_model=list[FeedClientRead], summary="Feed clients, oldest first")
def list_clients(session: SessionDep, admin: RequireNationalAdmin) -> list[FeedClientRead]:
    return [FeedClientRead.model_validate(c) for c in clients.list_all(session=session)]


@router.post(
    "/clients/{client_id}/revoke",
    response_model=FeedClientRead,
    summary="Revoke a feed client's key: it is refused (401) from now on",
)
def revoke_client(
    client_id: uuid.UUID, session: SessionDep, admin: RequireNationalAdmin, actor: StaffActor
) -> FeedClientRead:
    client = clients.get(session=session, client_id=client_id)
    return FeedClientRead.model_validate(
        clients.revoke(session=session, actor=actor, staff=admin, client=client)
    )
