"""The audited write: rows added and flushed, and the event about them appended to the audit
chain, in the caller's transaction (they commit or roll back together); and the audited read
of sensitive data, one event per request."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, SQLModel

from app.audit import service as audit
from app.audit.service import Actor
from app.observability.logs import mask_national_ids
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


# Runs of 7 or more digits (an ID number or phone number, whole or in part) in a search text:
# the first 6 (an ID number's region) are kept, the rest masked, as the logs mask ID numbers.
_LONG_NUMBER = re.compile(r"\d{6}[\dXx]+")


def masked_query(text: str | None) -> str | None:
    """A search text as an audit event keeps it: whole ID numbers masked as in the logs
    (`mask_national_ids`), and any other long number (a part of one, a phone) likewise."""
    if text is None:
        return None
    masked = mask_national_ids(text)
    return _LONG_NUMBER.sub(lambda m: m.group()[:6] + "*" * (len(m.group()) - 6), masked)


def read(
    *,
    session: Session,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: Any,
    region_code: str | None,
    after: dict[str, Any],
) -> AuditEvent:
    """The audited read of sensitive data (a register record or search, a photo, review media,
    a call frame, a consular scan, quarantined feed rows): who read (`actor`), what (`after`:
    the ids, or a search's masked query and count) and the region of what was read (or of
    the search), as one event in the request's transaction, however many rows a listing
    returned. The reply is only sent once the event is committed.

    On SQLite a read request's transaction began DEFERRED and cannot take the write lock
    while another request writes (it would fail, not wait): there the event is written in
    a transaction of its own (WAL: it does not disturb the request's reads), committed
    before the reply."""
    event: dict[str, Any] = {
        "actor": actor,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "region_code": region_code or None,
        "after": after,
    }
    bind = session.get_bind()
    deferred = session.connection().get_execution_options().get("sqlite_begin") == "DEFERRED"
    if bind.dialect.name != "sqlite" or not deferred:
        return audit.record(session=session, **event)
    with Session(bind.execution_options(sqlite_begin="IMMEDIATE")) as own:
        written = audit.record(session=own, **event)
        own.commit()
        return written
