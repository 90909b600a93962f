"""Consular life certificates: pensioners abroad upload a scan; reviewers and admins in scope
verify or reject it."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from fastapi.responses import Response

from app import media
from app.consular import service
from app.consular.schemas import ConsularDocumentRead, ConsularDocumentStaffRead, DocumentDecision
from app.db import SessionDep
from app.deps import (
    CurrentPensioner,
    PensionerActor,
    RequireDocumentReviewer,
    SettingsDep,
    StaffActor,
)
from app.kit import audited
from biometrics import read_limited
from models.consular import DocumentStatus
from models.pensioner import Pensioner

router = APIRouter(prefix="/certifications/consular-documents", tags=["consular certificates"])
staff_router = APIRouter(prefix="/consular-documents", tags=["consular certificates"])
MEDIA_TYPES = {"pdf": "application/pdf", "jpeg": "image/jpeg", "png": "image/png"}


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/api/v1"


@router.post(
    "",
    response_model=ConsularDocumentRead,
    status_code=status.HTTP_201_CREATED,
    summary="Upload a scan of your consular life certificate (PDF, JPEG or PNG)",
    description="Multipart: `scan` (the file), optionally `consulate` and `issued_on` "
    "(YYYY-MM-DD). Only for pensioners registered as living abroad; one at a time.",
)
def upload_document(
    session: SessionDep,
    settings: SettingsDep,
    pensioner: CurrentPensioner,
    actor: PensionerActor,
    scan: Annotated[UploadFile, File(description="The scanned certificate")],
    consulate: Annotated[str | None, Form(max_length=200)] = None,
    issued_on: Annotated[date | None, Form()] = None,
) -> ConsularDocumentRead:
    data = read_limited(scan.file, max_bytes=settings.max_scan_bytes)
    document = service.upload(
        session=session,
        settings=settings,
        pensioner=pensioner,
        data=data,
        consulate=consulate,
        issued_on=issued_on,
        actor=actor,
    )
    return service.to_read(session, document)


@router.get("", response_model=list[ConsularDocumentRead], summary="Your certificates and status")
def list_documents(session: SessionDep, pensioner: CurrentPensioner) -> list[ConsularDocumentRead]:
    return [
        service.to_read(session, d) for d in service.list_own(session=session, pensioner=pensioner)
    ]


@router.get(
    "/{document_id}",
    response_model=ConsularDocumentRead,
    summary="One of your consular life certificates",
)
def read_document(
    document_id: uuid.UUID, session: SessionDep, pensioner: CurrentPensioner
) -> ConsularDocumentRead:
    document = service.get_own(session=session, pensioner=pensioner, document_id=document_id)
    return service.to_read(session, document)


@staff_router.get(
    "",
    response_model=list[ConsularDocumentStaffRead],
    summary="Certificates in your region, oldest first (pending by default)",
)
def list_for_review(
    request: Request,
    session: SessionDep,
    staff: RequireDocumentReviewer,
    status: DocumentStatus | None = DocumentStatus.pending,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,6}$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ConsularDocumentStaffRead]:
    rows = service.search(
        session=session, staff=staff, status=status, region_code=region_code, limit=limit
    )
    return [service.to_staff_read(session, d, p, base_url=_base_url(request)) for d, p in rows]


@staff_router.get(
    "/{document_id}",
    response_model=ConsularDocumentStaffRead,
    summary="A consular life certificate, for review",
)
def read_for_review(
    document_id: uuid.UUID, request: Request, session: SessionDep, staff: RequireDocumentReviewer
) -> ConsularDocumentStaffRead:
    document = service.get_in_scope(session=session, staff=staff, document_id=document_id)
    pensioner = session.get(Pensioner, document.pensioner_id)
    assert pensioner is not None
    return service.to_staff_read(session, document, pensioner, base_url=_base_url(request))


@staff_router.get("/{document_id}/scan", response_class=Response, summary="The scan itself")
def document_scan(
    document_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    staff: RequireDocumentReviewer,
    actor: StaffActor,
) -> Response:
    document = service.get_in_scope(session=session, staff=staff, document_id=document_id)
    pensioner = session.get(Pensioner, document.pensioner_id)
    audited.read(
        session=session,
        actor=actor,
        action="consular.scan_read",
        entity_type="pensioner",
        entity_id=document.pensioner_id,
        region_code=pensioner.region_code if pensioner else None,
        after={"document_id": str(document.id)},
    )
    return media.response(
        settings=settings,
        relative=document.file_path,
        media_type=MEDIA_TYPES.get(document.file_format, "application/octet-stream"),
    )


@staff_router.post(
    "/{document_id}/decision",
    response_model=ConsularDocumentStaffRead,
    summary="Verify (certifies, method consular_document) or reject with a reason",
)
def decide_document(
    document_id: uuid.UUID,
    body: DocumentDecision,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    staff: RequireDocumentReviewer,
    actor: StaffActor,
) -> ConsularDocumentStaffRead:
    document = service.get_in_scope(session=session, staff=staff, document_id=document_id)
    service.decide(
        session=session, settings=settings, document=document, staff=staff, actor=actor, body=body
    )
    pensioner = session.get(Pensioner, document.pensioner_id)
    assert pensioner is not None
    return service.to_staff_read(session, document, pensioner, base_url=_base_url(request))
