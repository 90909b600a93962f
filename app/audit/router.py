"""Reading the audit trail (auditors and administrators) and checking its hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import col, select

from app.audit import service
from app.audit.schemas import AuditEventRead, ChainVerification
from app.db import SessionDep
from app.deps import RequireAuditReader
from app.errors import PermissionDenied
from models.audit import AuditEvent

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/events", response_model=list[AuditEventRead])
def list_events(
    session: SessionDep,
    staff: RequireAuditReader,
    entity_type: Annotated[str | None, Query(max_length=32)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    before_seq: Annotated[int | None, Query(ge=1, description="Page backwards from here")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditEvent]:
    query = select(AuditEvent)
    if staff.region_scope:
        query = query.where(col(AuditEvent.region_code).startswith(staff.region_scope))
    if entity_type:
        query = query.where(AuditEvent.entity_type == entity_type)
    if entity_id:
        query = query.where(AuditEvent.entity_id == entity_id)
    if action:
        query = query.where(AuditEvent.action == action)
    if before_seq:
        query = query.where(col(AuditEvent.seq) < before_seq)
    return list(session.exec(query.order_by(col(AuditEvent.seq).desc()).limit(limit)).all())


@router.get("/verify", response_model=ChainVerification, summary="Check the whole hash chain")
def verify(session: SessionDep, staff: RequireAuditReader) -> ChainVerification:
    if staff.region_scope:
        raise PermissionDenied("Checking the whole chain needs a national (unscoped) account.")
    report = service.verify_chain(session=session)
    return ChainVerification.model_validate(
        {"ok": report.ok, "events": report.events, "problems": report.problems}
    )
