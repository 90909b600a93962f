"""Overpayment claims and their recovery case: read (admin, auditor), move on (admin)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.db import SessionDep
from app.deps import RequireAdmin, RequireReportReader, StaffActor
from app.kit import scope
from app.kit.money import Fen
from app.kit.pages import Limit, Offset, Page
from app.overpayments import service
from models.overpayment import RecoveryStatus

router = APIRouter(prefix="/overpayments", tags=["overpayments"])


class RecoveryEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    from_status: RecoveryStatus
    to_status: RecoveryStatus
    amount_fen: int
    note: str | None
    actor_id: str
    occurred_at: datetime


class ClaimRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    pensioner_id: uuid.UUID
    suspension_id: uuid.UUID
    region_code: str
    date_of_death: date
    first_payment_date: date
    last_payment_date: date
    payments: int
    amount_fen: int
    recovered_fen: int
    status: RecoveryStatus
    evidence: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ClaimDetail(ClaimRead):
    events: list[RecoveryEventRead]


class RecoveryStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: RecoveryStatus
    amount_fen: Fen = Field(default=0, description="Repaid in this step")
    note: str | None = Field(default=None, max_length=500)


@router.get(
    "",
    response_model=Page[ClaimRead],
    summary="Overpayment recovery cases in your region scope",
)
def list_claims(
    session: SessionDep,
    staff: RequireReportReader,
    status: RecoveryStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ClaimRead]:
    page = service.search(session=session, staff=staff, status=status, limit=limit, offset=offset)
    return page.map(lambda claim: scope.read_with_region(session, ClaimRead, claim))


def _detail(session: SessionDep, claim: Any) -> ClaimDetail:
    events = [
        RecoveryEventRead.model_validate(e)
        for e in service.events(session=session, claim_id=claim.id)
    ]
    read = scope.read_with_region(session, ClaimRead, claim)
    return ClaimDetail(**read.model_dump(), events=events)


@router.get(
    "/{claim_id}",
    response_model=ClaimDetail,
    summary="An overpayment recovery case with its steps",
)
def read_claim(claim_id: uuid.UUID, session: SessionDep, staff: RequireReportReader) -> ClaimDetail:
    return _detail(session, service.get_in_scope(session=session, staff=staff, claim_id=claim_id))


@router.post(
    "/{claim_id}/steps",
    response_model=ClaimDetail,
    summary="Move the recovery case on (notified, repaying with an amount, ...)",
)
def add_step(
    claim_id: uuid.UUID,
    body: RecoveryStep,
    session: SessionDep,
    admin: RequireAdmin,
    actor: StaffActor,
) -> ClaimDetail:
    claim = service.get_in_scope(session=session, staff=admin, claim_id=claim_id)
    service.record_step(
        session=session,
        claim=claim,
        to=body.to,
        amount_fen=body.amount_fen,
        note=body.note,
        actor=actor,
    )
    return _detail(session, claim)
