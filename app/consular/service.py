"""The paper fallback for pensioners abroad: a scan of a consular life certificate, checked
and recorded by staff (certification method consular_document)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from app import media
from app.audit import service as audit
from app.audit.service import Actor
from app.certifications.service import certify
from app.config import Settings
from app.consular.errors import (
    ConsularDocumentDecided,
    ConsularDocumentNotFound,
    ConsularDocumentNotOffered,
    ConsularDocumentPending,
    CorruptScan,
)
from app.consular.schemas import (
    ConsularDocumentRead,
    ConsularDocumentStaffRead,
    DocumentDecision,
    DocumentVerdict,
)
from app.errors import UnprocessableEntity, UnsupportedMediaType
from app.faces.service import decode_limits
from app.kit import audited, scope
from biometrics import ImageError, decode_image
from models.certification import Certification, CertificationMethod
from models.consular import ConsularDocument, DocumentStatus
from models.pensioner import Pensioner, Residence
from models.staff import StaffUser

SCAN_EXTENSIONS = {"pdf": "pdf", "jpeg": "jpg", "png": "png"}


def scan_format(data: bytes, *, settings: Settings) -> str:
    """pdf, jpeg or png by the content (never the file name); refuses other and damaged files."""
    if not data:
        raise CorruptScan("The file is empty; choose the scan of the certificate again.")
    if data.startswith(b"%PDF-"):
        # A PDF ends with %%EOF (followed by at most a line end); a cut upload does not.
        if b"%%EOF" not in data[-1024:]:
            raise CorruptScan(
                "The PDF is incomplete or damaged (it has no end-of-file marker); scan the "
                "certificate again and upload the new file."
            )
        return "pdf"
    if data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n":
        try:
            image = decode_image(data, limits=decode_limits(settings))
        except ImageError as exc:
            if exc.code in ("file_too_large", "image_too_large"):
                raise
            raise CorruptScan(
                f"The picture cannot be read ({exc.message}); scan the certificate again."
            ) from exc
        return image.format
    raise UnsupportedMediaType(
        "The scan must be a PDF, JPEG or PNG file (this file is none of those, whatever its "
        "name says)."
    )


def upload(
    *,
    session: Session,
    settings: Settings,
    pensioner: Pensioner,
    data: bytes,
    consulate: str | None,
    issued_on: date | None,
    actor: Actor,
) -> ConsularDocument:
    if pensioner.residence is not Residence.overseas:
        raise ConsularDocumentNotOffered()
    pending = session.exec(
        select(ConsularDocument.id).where(
            ConsularDocument.pensioner_id == pensioner.id,
            ConsularDocument.status == DocumentStatus.pending,
        )
    ).first()
    if pending is not None:
        raise ConsularDocumentPending()
    if issued_on is not None and issued_on > datetime.now(UTC).date():
        raise UnprocessableEntity(
            f"issued_on {issued_on} is in the future; give the date on the certificate."
        )
    fmt = scan_format(data, settings=settings)
    document_id = uuid.uuid4()
    relative = f"consular/{pensioner.id}/{document_id}.{SCAN_EXTENSIONS[fmt]}"
    document = ConsularDocument(
        id=document_id,
        pensioner_id=pensioner.id,
        region_code=pensioner.region_code,
        file_path=relative,
        file_sha256=hashlib.sha256(data).hexdigest(),
        file_format=fmt,
        file_bytes=len(data),
        consulate=consulate,
        issued_on=issued_on,
    )
    after = {
        "document_id": str(document.id),
        "sha256": document.file_sha256,
        "format": fmt,
        "consulate": consulate,
        "issued_on": issued_on,
    }
    event = audit.pensioner_event("consular_document.upload", pensioner, after=after)
    audited.write(session=session, actor=actor, rows=[document], **event)
    media.store(settings=settings, relative=relative, data=data)
    return document


def list_own(*, session: Session, pensioner: Pensioner) -> list[ConsularDocument]:
    return list(
        session.exec(
            select(ConsularDocument)
            .where(ConsularDocument.pensioner_id == pensioner.id)
            .order_by(col(ConsularDocument.uploaded_at).desc())
        ).all()
    )


def get_own(*, session: Session, pensioner: Pensioner, document_id: uuid.UUID) -> ConsularDocument:
    document = session.get(ConsularDocument, document_id)
    if document is None or document.pensioner_id != pensioner.id:
        raise ConsularDocumentNotFound("No such consular certificate of yours.")
    return document


def get_in_scope(*, session: Session, staff: StaffUser, document_id: uuid.UUID) -> ConsularDocument:
    return scope.get_in_scope(
        session=session,
        model=ConsularDocument,
        id=document_id,
        staff=staff,
        not_found=ConsularDocumentNotFound,
    )


def search(
    *,
    session: Session,
    staff: StaffUser,
    status: DocumentStatus | None,
    region_code: str | None,
    limit: int,
) -> list[tuple[ConsularDocument, Pensioner]]:
    query = select(ConsularDocument, Pensioner).join(
        Pensioner, col(Pensioner.id) == ConsularDocument.pensioner_id
    )
    query = scope.within(query, Pensioner.region_code, staff)
    if status is not None:
        query = query.where(ConsularDocument.status == status)
    if region_code:
        query = query.where(col(Pensioner.region_code).startswith(region_code))
    rows = session.exec(query.order_by(col(ConsularDocument.uploaded_at)).limit(limit)).all()
    return [(d, p) for d, p in rows]


def _valid_until(session: Session, document: ConsularDocument) -> date | None:
    if document.certification_id is None:
        return None
    certification = session.get(Certification, document.certification_id)
    return certification.valid_until if certification else None


def to_read(session: Session, document: ConsularDocument) -> ConsularDocumentRead:
    read = ConsularDocumentRead.model_validate(document)
    read.valid_until = _valid_until(session, document)
    return read


def to_staff_read(
    session: Session, document: ConsularDocument, pensioner: Pensioner, *, base_url: str
) -> ConsularDocumentStaffRead:
    return ConsularDocumentStaffRead(
        **to_read(session, document).model_dump(),
        pensioner_id=pensioner.id,
        pensioner_name=pensioner.name,
        region_code=pensioner.region_code,
        overseas_country=pensioner.overseas_country,
        decided_by_id=document.decided_by_id,
        scan_url=f"{base_url}/consular-documents/{document.id}/scan",
    )


def decide(
    *,
    session: Session,
    settings: Settings,
    document: ConsularDocument,
    staff: StaffUser,
    actor: Actor,
    body: DocumentDecision,
) -> ConsularDocument:
    """Verified: certify (consular_document); rejected: the reason is shown to the pensioner."""
    if document.status is not DocumentStatus.pending:
        raise ConsularDocumentDecided()
    now = datetime.now(UTC)
    status = (
        DocumentStatus.verified
        if body.verdict is DocumentVerdict.verify
        else DocumentStatus.rejected
    )
    claimed = session.execute(
        update(ConsularDocument)
        .where(
            col(ConsularDocument.id) == document.id,
            col(ConsularDocument.status) == DocumentStatus.pending,
        )
        .values(
            status=status, decided_at=now, decided_by_id=str(staff.id), decision_reason=body.reason
        )
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise ConsularDocumentDecided()
    session.refresh(document)
    pensioner = session.get(Pensioner, document.pensioner_id)
    assert pensioner is not None
    effect: dict[str, str] = {}
    if status is DocumentStatus.verified:
        certification = certify(
            session=session,
            pensioner=pensioner,
            method=CertificationMethod.consular_document,
            evidence={
                "document_id": str(document.id),
                "sha256": document.file_sha256,
                "path": document.file_path,
                "consulate": document.consulate,
                "issued_on": document.issued_on.isoformat() if document.issued_on else None,
                "verified_by": str(staff.id),
                "note": body.reason,
            },
            actor=actor,
            default_period_months=settings.certification_period_months,
            certified_at=now,
        )
        document.certification_id = certification.id
        session.add(document)
        session.flush()
        effect["certification_id"] = str(certification.id)
    audit.record(
        session=session,
        actor=actor,
        action=f"consular_document.{status.value}",
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        before={"document_id": str(document.id), "status": "pending"},
        after={
            "document_id": str(document.id),
            "status": status.value,
            "reason": body.reason,
            **effect,
        },
    )
    return document
