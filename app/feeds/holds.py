"""Death records held for a second staff member: listed within scope, confirmed or refused.

A confirmation copies the record into feed_record, where the next matching run (or the
incremental run the router starts) reads it like any pushed record; a refusal keeps it out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlmodel import Session, col, select, update

from app.audit import service as audit
from app.audit.service import Actor
from app.errors import PermissionDenied
from app.feeds.errors import HeldRecordDecided, HeldRecordNotFound
from app.kit import scope
from app.kit.pages import Page, paginate
from models.records import FeedBatch, FeedRecord, HeldDeathRecord, HoldStatus
from models.staff import StaffUser


def search(
    *, session: Session, staff: StaffUser, status: HoldStatus | None, limit: int, offset: int
) -> Page[HeldDeathRecord]:
    # A record that names no registered pensioner (or has no ID) is national staff's alone.
    query = scope.scoped(select(HeldDeathRecord), HeldDeathRecord.pensioner_id, staff)
    if status is not None:
        query = query.where(col(HeldDeathRecord.status) == status)
    query = query.order_by(col(HeldDeathRecord.created_at), col(HeldDeathRecord.row_number))
    return paginate(session=session, query=query, limit=limit, offset=offset)


def get_in_scope(*, session: Session, staff: StaffUser, held_id: uuid.UUID) -> HeldDeathRecord:
    query = select(HeldDeathRecord).where(col(HeldDeathRecord.id) == held_id)
    held = session.exec(scope.scoped(query, HeldDeathRecord.pensioner_id, staff)).first()
    if held is None:
        raise HeldRecordNotFound()
    return held


def decide(
    *,
    session: Session,
    staff: StaffUser,
    actor: Actor,
    held: HeldDeathRecord,
    confirm: bool,
    reason: str | None,
) -> HeldDeathRecord:
    """A second staff member's word: confirmed, the record joins feed_record (and applies at
    the next matching run); refused, it never applies. The sender cannot decide their own."""
    batch = session.get(FeedBatch, held.batch_id)
    assert batch is not None
    if batch.imported_by_type == "staff" and batch.imported_by_id == str(staff.id):
        raise PermissionDenied("You sent this death record, so another staff member must decide.")
    now = datetime.now(UTC)
    status = HoldStatus.confirmed if confirm else HoldStatus.refused
    # One conditional update: of two answers sent at once, exactly one counts.
    claimed = session.execute(
        update(HeldDeathRecord)
        .where(
            col(HeldDeathRecord.id) == held.id,
            col(HeldDeathRecord.status) == HoldStatus.awaiting_confirmation,
        )
        .values(status=status, decided_by_id=str(staff.id), decided_at=now, decision_reason=reason)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise HeldRecordDecided()
    session.refresh(held)
    if confirm:
        session.add(
            FeedRecord(
                batch_id=held.batch_id,
                row_number=held.row_number,
                feed_type=held.feed_type,
                national_id=held.national_id,
                name=held.name,
                date_of_birth=held.date_of_birth,
                event_date=held.event_date,
                facility=held.facility,
                source_authority=held.source_authority,
            )
        )
        session.flush()
    region = (
        scope.region_of(session=session, pensioner_id=held.pensioner_id)
        if held.pensioner_id
        else None
    )
    audit.record(
        session=session,
        actor=actor,
        action="feed.death_confirm" if confirm else "feed.death_refuse",
        entity_type="held_death_record",
        entity_id=held.id,
        region_code=region,
        before={"status": HoldStatus.awaiting_confirmation.value},
        after={
            "status": status.value,
            "batch_id": str(held.batch_id),
            "row_number": held.row_number,
            "pensioner_id": str(held.pensioner_id) if held.pensioner_id else None,
            "sent_by": f"{batch.imported_by_type}:{batch.imported_by_id}",
            "reasons": held.reasons,
            "reason": reason,
        },
    )
    return held
