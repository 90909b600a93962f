"""The audited write: rows added and flushed, and the event about them appended to the audit
chain, in the caller's transaction (they commit or roll back together)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, SQLModel

from app.audit import service as audit
from app.audit.service import Actor
from models.audit import AuditEvent


def write(*, session: Session, actor: Actor, rows: Iterable[SQLModel], **event: Any) -> AuditEvent:
    """Add and flush `rows`, then record the event: `event` holds `audit.record`'s action,
    entity_type, entity_id, region_code, before and after; one about a pensioner is best
    built with `audit.pensioner_event(...)`. The event is built before the flush, so a value
    the database makes (an autoincrement id, as a face calibration's) needs its own flush
    and `audit.record`."""
    session.add_all(rows)
    session.flush()
    return audit.record(session=session, actor=actor, **event)
