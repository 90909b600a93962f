"""The pensioner register: create, read, change, remove, search and bulk import."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, or_, select

from app import media
from app.audit import service as audit
from app.audit.service import Actor
from app.config import Settings
from app.errors import OutOfScope
from app.kit import audited, scope
from app.kit.money import CSV_TEXT
from app.kit.pages import Page, paginate
from app.pensioners.errors import (
    DuplicateNationalId,
    ImportRejected,
    InvalidChange,
    InvalidCsv,
    PensionerNotFound,
)
from app.pensioners.schemas import (
    ImportReport,
    ImportRowError,
    PensionerCreate,
    PensionerSelfUpdate,
    PensionerUpdate,
)
from app.regions.errors import UnknownRegion
from models.attempt import CertificationAttempt, ReviewCase
from models.base import utcnow
from models.certification import Certification, PaymentSuspension
from models.face import EnrolledFace, FaceGallery
from models.otp import OtpCode
from models.pensioner import BenefitStatus, BenefitType, Pensioner, Residence
from models.region import Region
from models.reminder import CertificationReminder
from models.staff import StaffUser

IMPORT_COLUMNS = tuple(PensionerCreate.model_fields)
REQUIRED_COLUMNS = tuple(n for n, f in PensionerCreate.model_fields.items() if f.is_required())
_TRUE = {"1", "true", "yes", "y", "t", "是"}
_FALSE = {"0", "false", "no", "n", "f", "否"}


def get_in_scope(*, session: Session, staff: StaffUser, pensioner_id: uuid.UUID) -> Pensioner:
    """The pensioner, or PensionerNotFound when absent or outside the staff member's region."""
    pensioner = session.get(Pensioner, pensioner_id)
    if pensioner is None or not staff.covers_region(pensioner.region_code):
        raise PensionerNotFound()
    return pensioner


def _check_region(*, session: Session, staff: StaffUser, region_code: str) -> None:
    if not staff.covers_region(region_code):
        raise OutOfScope(f"Region {region_code} is outside your region scope.")
    if session.get(Region, region_code) is None:
        raise UnknownRegion(f"Region {region_code} is not a known region; create it first.")


def create(*, session: Session, staff: StaffUser, actor: Actor, data: PensionerCreate) -> Pensioner:
    _check_region(session=session, staff=staff, region_code=data.region_code)
    exists = session.exec(
        select(Pensioner.id).where(Pensioner.national_id == data.national_id)
    ).first()
    if exists is not None:
        raise DuplicateNationalId()
    pensioner = Pensioner.model_validate(data.model_dump())
    event = audit.pensioner_event("pensioner.create", pensioner, after=audit.snapshot(pensioner))
    audited.write(session=session, actor=actor, rows=[pensioner], **event)
    return pensioner


def update(
    *,
    session: Session,
    staff: StaffUser,
    actor: Actor,
    pensioner: Pensioner,
    changes: PensionerUpdate,
) -> Pensioner:
    patch = changes.model_dump(exclude_unset=True)
    if "region_code" in patch:
        _check_region(session=session, staff=staff, region_code=patch["region_code"])
    before = audit.snapshot(pensioner)
    merged = {**pensioner.model_dump(), **patch}
    if "residence" in patch and patch["residence"] is not Residence.overseas:
        # Moving home from abroad clears the foreign details.
        merged["overseas_country"] = patch.get("overseas_country")
        merged["overseas_timezone"] = patch.get("overseas_timezone")
    # Re-validate the whole record so cross-field rules (overseas needs a time zone) still hold.
    try:
        checked = PensionerCreate.model_validate(merged)
    except ValidationError as exc:
        # The change alone was valid but the record it would make is not (moving overseas
        # without a country or time zone): the client's mistake, named field by field.
        raise InvalidChange.from_validation(exc) from exc
    for key in PensionerUpdate.model_fields:
        setattr(pensioner, key, getattr(checked, key))
    pensioner.updated_at = utcnow()
    old, new = audit.diff(before, audit.snapshot(pensioner, exclude=frozenset({"updated_at"})))
    event = audit.pensioner_event("pensioner.update", pensioner, before=old, after=new)
    if new:
        audited.write(session=session, actor=actor, rows=[pensioner], **event)
    return pensioner


def update_self(
    *, session: Session, actor: Actor, pensioner: Pensioner, changes: PensionerSelfUpdate
) -> Pensioner:
    """The pensioner's own preferences: the time zone times are shown in, the language."""
    patch = changes.model_dump(exclude_unset=True)
    before = {k: getattr(pensioner, k) for k in patch}
    for key, value in patch.items():
        if key == "preferred_language" and value is None:
            continue
        setattr(pensioner, key, value)
    after = {k: getattr(pensioner, k) for k in patch}
    old, new = audit.diff(before, after)
    if new:
        pensioner.updated_at = utcnow()
        event = audit.pensioner_event("pensioner.self_update", pensioner, before=old, after=new)
        audited.write(session=session, actor=actor, rows=[pensioner], **event)
    return pensioner


def delete(*, session: Session, settings: Settings, actor: Actor, pensioner: Pensioner) -> None:
    """Remove the record with its login codes, face templates, photos, attempts' media, call
    frames and scans (kept: the audit). The files go once the deletion commits."""
    before = audit.snapshot(pensioner)
    _delete_data_comparison_rows(session=session, pensioner=pensioner)
    _release_face_rows(session=session, pensioner=pensioner)
    files = _delete_video_call_rows(session=session, pensioner=pensioner)
    for model in (
        CertificationReminder,
        ReviewCase,
        CertificationAttempt,
        OtpCode,
        FaceGallery,
        EnrolledFace,
        Certification,
        PaymentSuspension,
    ):
        for row in session.exec(select(model).where(model.pensioner_id == pensioner.id)):
            if isinstance(row, EnrolledFace):
                files.append(row.photo_path)
            elif isinstance(row, CertificationAttempt):
                key_frames: list[str] = row.decision.get("key_frames", [])
                files.extend([row.selfie_path or "", row.video_path or "", *key_frames])
            session.delete(row)
    session.flush()
    session.delete(pensioner)
    session.flush()
    for relative in files:
        media.remove_after_commit(session=session, settings=settings, relative=relative)
    audit.record(
        session=session,
        actor=actor,
        action="pensioner.delete",
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        before=before,
    )


def _release_face_rows(*, session: Session, pensioner: Pensioner) -> None:
    """What the 1:N search holds of the pensioner's faces: the active ones leave every
    process's index (logged in this transaction), duplicate cases naming the pensioner go
    (their events stay in the audit), and bulk-import items keep their history without the
    record."""
    from app.faces.index import log_change
    from models.face_dedup import DuplicateCase, FaceImportItem

    faces = session.exec(select(EnrolledFace).where(EnrolledFace.pensioner_id == pensioner.id))
    face_ids = []
    for face in faces:
        face_ids.append(face.id)
        if face.active:
            log_change(session, face=face, joined=False)
    for case in session.exec(
        select(DuplicateCase).where(
            or_(
                col(DuplicateCase.earlier_pensioner_id) == pensioner.id,
                col(DuplicateCase.later_pensioner_id) == pensioner.id,
            )
        )
    ):
        session.delete(case)
    items = select(FaceImportItem).where(
        or_(
            col(FaceImportItem.pensioner_id) == pensioner.id,
            col(FaceImportItem.face_id).in_(face_ids),
        )
    )
    for item in session.exec(items):
        item.pensioner_id = None
        item.face_id = None
        session.add(item)
    session.flush()


def _delete_video_call_rows(*, session: Session, pensioner: Pensioner) -> list[str]:
    """Appointments with their reminders and frames, and consular certificates; returns the
    stored files (relative paths) to remove once the deletion commits."""
    from models.consular import ConsularDocument
    from models.video_call import AppointmentReminder, CallFrame, VideoAppointment

    files: list[str] = []
    appointments = session.exec(
        select(VideoAppointment).where(VideoAppointment.pensioner_id == pensioner.id)
    ).all()
    for appointment in appointments:
        for child in (AppointmentReminder, CallFrame):
            for row in session.exec(select(child).where(child.appointment_id == appointment.id)):
                if isinstance(row, CallFrame):
                    files.append(row.path)
                session.delete(row)
    session.flush()
    for appointment in appointments:
        session.delete(appointment)
    for document in session.exec(
        select(ConsularDocument).where(ConsularDocument.pensioner_id == pensioner.id)
    ):
        files.append(document.file_path)
        session.delete(document)
    session.flush()
    return files


def _delete_data_comparison_rows(*, session: Session, pensioner: Pensioner) -> None:
    """Tasks, candidates and overpayment claims (with their recovery steps) of the pensioner."""
    from models.matching import MatchCandidate
    from models.overpayment import OverpaymentClaim, RecoveryEvent
    from models.verification import VerificationTask

    claims = session.exec(
        select(OverpaymentClaim).where(OverpaymentClaim.pensioner_id == pensioner.id)
    ).all()
    for claim in claims:
        for event in session.exec(select(RecoveryEvent).where(RecoveryEvent.claim_id == claim.id)):
            session.delete(event)
    session.flush()
    for model in (OverpaymentClaim, MatchCandidate, VerificationTask):
        for row in session.exec(select(model).where(model.pensioner_id == pensioner.id)):
            session.delete(row)
    session.flush()


def search(
    *,
    session: Session,
    staff: StaffUser,
    q: str | None = None,
    region_code: str | None = None,
    residence: Residence | None = None,
    benefit_type: BenefitType | None = None,
    benefit_status: BenefitStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[Pensioner]:
    query = scope.within(select(Pensioner), Pensioner.region_code, staff)
    if region_code:
        query = query.where(col(Pensioner.region_code).startswith(region_code))
    if residence:
        query = query.where(Pensioner.residence == residence)
    if benefit_type:
        query = query.where(Pensioner.benefit_type == benefit_type)
    if benefit_status:
        query = query.where(Pensioner.benefit_status == benefit_status)
    if q and q.strip():
        term = q.strip()
        query = query.where(
            or_(
                col(Pensioner.national_id).startswith(term.upper()),
                col(Pensioner.name).contains(term),
                col(Pensioner.phone).startswith(term),
            )
        )
    query = query.order_by(col(Pensioner.name), col(Pensioner.national_id))
    return paginate(session=session, query=query, limit=limit, offset=offset)


# --- bulk import -------------------------------------------------------------------------


@dataclass
class _Row:
    line: int
    raw: dict[str, str]
    data: PensionerCreate | None = None


def _parse_bool(value: str) -> bool | str:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return value  # let validation name the problem


def _read_csv(content: bytes, *, max_rows: int) -> list[_Row]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidCsv(
            f"The file is not UTF-8 text (byte {exc.start} is invalid). "
            "Save it from the spreadsheet as 'CSV UTF-8'."
        ) from exc
    if not text.strip():
        raise InvalidCsv("The file is empty; it needs a header line and at least one row.")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in IMPORT_COLUMNS]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if unknown or missing:
        parts = []
        if missing:
            parts.append("missing columns: " + ", ".join(missing))
        if unknown:
            parts.append("unknown columns: " + ", ".join(unknown))
        raise InvalidCsv(
            "The header line is wrong ("
            + "; ".join(parts)
            + "). Allowed columns: "
            + ", ".join(IMPORT_COLUMNS),
        )
    reader.fieldnames = header
    rows: list[_Row] = []
    try:
        for record in reader:
            if len(rows) >= max_rows:
                raise InvalidCsv(f"The file has more than {max_rows} rows; split it into parts.")
            if None in record:
                rows.append(_Row(line=reader.line_num, raw={"__extra__": "1"}))
                continue
            rows.append(_Row(line=reader.line_num, raw={k: (v or "") for k, v in record.items()}))
    except csv.Error as exc:
        raise InvalidCsv(f"The CSV is malformed near line {reader.line_num}: {exc}.") from exc
    if not rows:
        raise InvalidCsv("The file has a header line but no rows.")
    return rows


def _validate_row(row: _Row) -> list[ImportRowError]:
    nid = row.raw.get("national_id") or None
    if "__extra__" in row.raw:
        return [
            ImportRowError(
                row=row.line,
                national_id=None,
                field=None,
                code="too_many_fields",
                message="The row has more fields than the header; check for unquoted commas.",
            )
        ]
    values: dict[str, Any] = {}
    for key, value in row.raw.items():
        value = value.strip()
        if value == "":
            continue
        values[key] = _parse_bool(value) if key == "mobility_limited" else value
    try:
        row.data = PensionerCreate.model_validate(values, context={CSV_TEXT: True})
    except ValidationError as exc:
        return [
            ImportRowError(
                row=row.line,
                national_id=nid,
                field=".".join(str(p) for p in err["loc"]) or None,
                code=err["type"],
                message=str(err["msg"]).removeprefix("Value error, "),
            )
            for err in exc.errors()
        ]
    return []


def _existing_ids(session: Session, ids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    batch = list(ids)
    for start in range(0, len(batch), 500):
        chunk = batch[start : start + 500]
        found.update(
            session.exec(
                select(Pensioner.national_id).where(col(Pensioner.national_id).in_(chunk))
            ).all()
        )
    return found


def import_csv(
    *,
    session: Session,
    staff: StaffUser,
    actor: Actor,
    content: bytes,
    all_or_nothing: bool = True,
    dry_run: bool = False,
    max_rows: int = 100_000,
) -> ImportReport:
    """Validate every row; write all valid rows, or nothing if any row is bad (the default)."""
    rows = _read_csv(content, max_rows=max_rows)
    errors: list[ImportRowError] = []
    for row in rows:
        errors.extend(_validate_row(row))
    regions = set(session.exec(select(Region.code)).all())
    valid = [r for r in rows if r.data is not None]
    already = _existing_ids(session, (r.data.national_id for r in valid if r.data))
    seen: dict[str, int] = {}
    good: list[PensionerCreate] = []
    for row in valid:
        assert row.data is not None
        data, problem = row.data, None
        # Scope first: whether an ID number is registered is nobody's business outside the
        # region it would be imported into (a dry run must not become a register lookup).
        if data.national_id in seen:
            problem = ("duplicate_in_file", f"Same ID number as line {seen[data.national_id]}.")
        elif not staff.covers_region(data.region_code):
            problem = ("region_out_of_scope", "The region is outside your region scope.")
        elif data.region_code not in regions:
            problem = ("unknown_region", f"Region {data.region_code} is not a known region.")
        elif data.national_id in already:
            problem = ("duplicate_national_id", "This ID number is already registered.")
        seen.setdefault(data.national_id, row.line)
        if problem:
            errors.append(
                ImportRowError(
                    row=row.line,
                    national_id=data.national_id,
                    field="region_code" if "region" in problem[0] else "national_id",
                    code=problem[0],
                    message=problem[1],
                )
            )
        else:
            good.append(data)
    errors.sort(key=lambda e: e.row)
    report = ImportReport(
        mode="all_or_nothing" if all_or_nothing else "valid_rows",
        dry_run=dry_run,
        rows=len(rows),
        valid=len(good),
        created=0,
        errors=errors,
    )
    if errors and all_or_nothing:
        raise ImportRejected(
            f"{len({e.row for e in errors})} of {len(rows)} rows are invalid; nothing was "
            "imported. Fix the rows listed in the report and upload the file again.",
            report=report.model_dump(),
        )
    if dry_run:
        return report
    for data in good:
        pensioner = Pensioner.model_validate(data.model_dump())
        event = audit.pensioner_event(
            "pensioner.import", pensioner, after=audit.snapshot(pensioner)
        )
        audited.write(session=session, actor=actor, rows=[pensioner], **event)
    report.created = len(good)
    return report
