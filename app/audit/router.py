"""Reading the audit trail (auditors and administrators) and checking its hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.audit import service
from app.audit.schemas import AuditEventRead, ChainVerification
from app.db import SessionDep
from app.deps import RequireAuditReader
from models.audit import AuditEvent

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get(
    "/events",
    response_model=list[AuditEventRead],
    summary="Audit events, filtered",
)
def list_events(
    session: SessionDep,
    staff: RequireAuditReader,
    entity_type: Annotated[str | None, Query(max_length=32)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    # The seq column is a 32-bit integer on PostgreSQL; a bigger number was a 500.
    before_seq: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="Page backwards from here")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditEvent]:
    return service.list_events(
        session=session,
        staff=staff,
        entity_type=entity_type,
        entity_id=entity_id,
        action=action,
        before_seq=before_seq,
        limit=limit,
    )


@router.get("/verify", response_model=ChainVerification, summary="Check the whole hash chain")
def verify(session: SessionDep, staff: RequireAuditReader) -> ChainVerification:
    report = service.verify_chain_for(session=session, staff=staff)
    return ChainVerification.model_validate(
        {"ok": report.ok, "events": report.events, "problems": report.problems}
    )
