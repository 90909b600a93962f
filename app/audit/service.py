"""Appending to the audit hash chain and verifying it.

A change of state writes one event per pensioner it changes, in its single and its bulk
form alike. Where a bulk form changes millions (certifications and tasks of a matching run),
it writes a listing instead: events of the run naming every changed row, 10,000 a part
(record_listing), which `lifecert audit verify` checks like any event and for completeness.

The chain is keyed: an event's hash is HMAC-SHA256 over its canonical JSON with the audit key
(LIFECERT_AUDIT_KEY), which the database does not hold, so whoever can write to the database
cannot edit an event and recompute the hashes after it. Events written before the chain was
keyed (hash_scheme 0, plain SHA-256) stay verifiable: they all precede the first keyed event,
which chains onto the last of them, and the head is always keyed (`seal` appends a keyed
event onto an unkeyed head), so turning keyed events back into plain ones is reported too.
`export_head` gives the head for anchoring outside the service; `verify_chain` checks an
exported head is still in the chain."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

import sqlalchemy as sa
from fastapi.encoders import jsonable_encoder
from sqlmodel import Session, col, select

from app.config import get_settings
from app.kit import scope
from models.audit import AuditEvent
from models.base import utcnow
from models.staff import StaffUser

GENESIS_HASH = "0" * 64
# AuditEvent.hash_scheme: how an event's hash was made.
PLAIN_SHA256 = 0  # events written before the chain was keyed
HMAC_SHA256 = 1  # HMAC-SHA256 with the audit key
# Any constant: the key of the PostgreSQL advisory lock that serialises appends to the chain.
_CHAIN_LOCK_KEY = 0x6C696665


@dataclass(frozen=True)
class Actor:
    type: str  # staff, pensioner, system
    id: str
    client_address: str | None = None


SYSTEM = Actor(type="system", id="lifecert")


class About(Protocol):
    """Whom an event is about: a Pensioner, or a Subject made from a bulk form's row."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def region_code(self) -> str: ...


class Subject(NamedTuple):
    id: uuid.UUID
    region_code: str


def pensioner_event(
    action: str, about: About, *, after: dict[str, Any], before: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An event about a pensioner as `record` and `record_many` take it: the single and the
    bulk form of a change build theirs with the same function, so they cannot drift."""
    return {
        "action": action,
        "entity_type": "pensioner",
        "entity_id": str(about.id),
        "region_code": about.region_code,
        "before": before,
        "after": after,
    }


def snapshot(obj: Any, *, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A JSON-safe dict of a row's columns, for before/after values."""
    data = obj.model_dump() if hasattr(obj, "model_dump") else dict(obj)
    return {k: v for k, v in jsonable_encoder(data).items() if k not in exclude}


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose values changed, as (before, after)."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def _timestamp(value: datetime) -> str:
    # SQLite hands back naive datetimes; every stored time is UTC.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_HASHED = (
    "seq",
    "occurred_at",
    "actor_type",
    "actor_id",
    "action",
    "entity_type",
    "entity_id",
    "region_code",
    "before",
    "after",
    "client_address",
    "prev_hash",
)


def audit_key() -> bytes:
    """The audit chain's HMAC key (LIFECERT_AUDIT_KEY, or the development key file)."""
    return get_settings().audit_signing_key


@functools.lru_cache(maxsize=4)
def _keyed(key: bytes) -> hmac.HMAC:
    """An HMAC-SHA256 keyed once, to copy per event: the bulk forms key a million events with
    a copy each (about twice as fast as keying every one)."""
    return hmac.new(key, digestmod="sha256")


def _mac(key: bytes, message: bytes) -> str:
    keyed = _keyed(key).copy()
    keyed.update(message)
    return keyed.hexdigest()


def _digest(canonical: bytes, *, scheme: int, key: bytes) -> str:
    if scheme == HMAC_SHA256:
        return _mac(key, canonical)
    if scheme == PLAIN_SHA256:
        return hashlib.sha256(canonical).hexdigest()
    raise ValueError(f"unknown audit hash scheme {scheme}")


def _hash_of(row: dict[str, Any], *, scheme: int, key: bytes) -> str:
    payload = {k: row[k] for k in _HASHED}
    payload["occurred_at"] = _timestamp(row["occurred_at"])
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _digest(canonical.encode(), scheme=scheme, key=key)


def compute_hash(event: AuditEvent, *, key: bytes | None = None) -> str:
    """The event's hash by its own scheme (keyed with `key`, by default the audit key)."""
    row = {k: getattr(event, k) for k in _HASHED}
    return _hash_of(row, scheme=event.hash_scheme, key=key if key is not None else audit_key())


def record(
    *,
    session: Session,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: Any,
    region_code: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction; it commits or rolls back with the change."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK_KEY})
    seq, prev_hash = _last(session)
    event = AuditEvent(
        seq=seq + 1,
        occurred_at=utcnow(),
        actor_type=actor.type,
        actor_id=actor.id,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        region_code=region_code,
        before=jsonable_encoder(before) if before is not None else None,
        after=jsonable_encoder(after) if after is not None else None,
        client_address=actor.client_address,
        prev_hash=prev_hash,
        hash="",
        hash_scheme=HMAC_SHA256,
    )
    event.hash = compute_hash(event)
    session.add(event)
    session.flush()
    return event


def _last(session: Session) -> tuple[int, str]:
    """The chain's last sequence number and hash (its columns only: a listing part's `after`
    is a megabyte)."""
    row = session.execute(
        sa.select(col(AuditEvent.seq), col(AuditEvent.hash))
        .order_by(col(AuditEvent.seq).desc())
        .limit(1)
    ).first()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)


# The canonical JSON the hashes are over: sorted keys, no spaces, non-ASCII as it is.
canonical_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode

_COLUMNS = (*_HASHED, "hash", "hash_scheme")
_SORTED = sorted(_HASHED)


class Encoded(NamedTuple):
    """An event to append, its before and after already canonical JSON text."""

    action: str
    entity_type: str
    entity_id: str
    region_code: str | None
    before: str
    after: str


def _as_is(value: Any) -> Any:
    return value


def record_many(
    *, session: Session, actor: Actor, events: list[dict[str, Any]], json_safe: bool = False
) -> int:
    """Append many events at once (bulk runs): the same chain as `record`, one INSERT batch.

    Each event is a dict with action, entity_type, entity_id and optionally region_code,
    before and after; `json_safe` says before/after hold only JSON types already (a run's
    hundred thousand death events then skip the encoder).
    """
    encode: Callable[[Any], Any] = _as_is if json_safe else jsonable_encoder
    return _append(
        session,
        actor,
        [
            Encoded(
                e["action"],
                e["entity_type"],
                str(e["entity_id"]),
                e.get("region_code"),
                canonical_json(encode(e.get("before"))),
                canonical_json(encode(e.get("after"))),
            )
            for e in events
        ],
    )


def _append(session: Session, actor: Actor, events: Sequence[Encoded]) -> int:
    """Chain and insert encoded events. The text stored for before and after is the text the
    hash is computed over (the event's canonical text is put together from its parts exactly
    as _hash_of makes it), and the rows go through the session's own connection (COPY on
    PostgreSQL) with no ORM or SQLAlchemy work per row."""
    if not events:
        return 0
    pg = session.get_bind().dialect.name == "postgresql"
    if pg:
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK_KEY})
    seq, prev_hash = _last(session)
    key = audit_key()
    now = utcnow()
    fixed = {
        "occurred_at": canonical_json(_timestamp(now)),
        "actor_type": canonical_json(actor.type),
        "actor_id": canonical_json(actor.id),
        "client_address": canonical_json(actor.client_address),
    }
    stored_at: Any = now if pg else now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    # The canonical text with the call's constants in place and a %s per event's value (in
    # _VARYING's order): one string formatting per event instead of a dict and a join.
    form = _form(fixed)
    rows: list[tuple[Any, ...]] = []
    for e in events:
        seq += 1
        action, entity_type, entity_id, region_code, before, after = e
        canonical = form % (
            canonical_json(action),
            after,
            before,
            canonical_json(entity_id),
            canonical_json(entity_type),
            prev_hash,
            canonical_json(region_code),
            seq,
        )
        digest = _mac(key, canonical.encode())
        rows.append(
            (
                seq,
                stored_at,
                actor.type,
                actor.id,
                action,
                entity_type,
                entity_id,
                region_code,
                before,
                after,
                actor.client_address,
                prev_hash,
                digest,
                HMAC_SHA256,
            )
        )
        prev_hash = digest
    _insert(session, rows, pg=pg)
    return len(rows)


# The parts of an event's canonical text that vary within one append, in the order _form's
# slots take them (sorted, as canonical JSON sorts keys); the rest are the call's constants.
_VARYING = (
    "action",
    "after",
    "before",
    "entity_id",
    "entity_type",
    "prev_hash",
    "region_code",
    "seq",
)
# The call's constants: who appends, and when.
_CONSTANT = ("actor_id", "actor_type", "client_address", "occurred_at")
assert _VARYING == tuple(k for k in _SORTED if k not in _CONSTANT)
# _append builds each row as a tuple in this order.
assert _COLUMNS == (
    *("seq", "occurred_at", "actor_type", "actor_id", "action", "entity_type", "entity_id"),
    *("region_code", "before", "after", "client_address", "prev_hash", "hash", "hash_scheme"),
)


def _form(fixed: dict[str, str]) -> str:
    """The canonical text of an event of this append as a %-format: `fixed` (the constants,
    already canonical JSON) in place, a slot per _VARYING part (prev_hash is quoted by the
    format, seq a number)."""
    slot = dict.fromkeys(_VARYING, "%s") | {"prev_hash": '"%s"', "seq": "%d"}
    parts = (f'"{k}":{fixed[k].replace("%", "%%") if k in fixed else slot[k]}' for k in _SORTED)
    return "{" + ",".join(parts) + "}"


def _insert(session: Session, rows: list[tuple[Any, ...]], *, pg: bool) -> None:
    session.flush()
    raw: Any = session.connection().connection.driver_connection
    names = ", ".join(_COLUMNS)
    if pg:
        with raw.cursor() as cur, cur.copy(f"COPY audit_event ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    cur = raw.cursor()
    try:
        marks = ", ".join("?" * len(_COLUMNS))
        cur.executemany(f"INSERT INTO audit_event ({names}) VALUES ({marks})", rows)
    finally:
        cur.close()


# Rows named by one event of a listing: at most this many (an event of about a megabyte).
LISTING_PART_ROWS = 10_000


def record_listing(
    *,
    session: Session,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: Any,
    columns: Sequence[str],
    total: int,
    parts: Iterable[tuple[int, str]],
    after: dict[str, Any],
) -> int:
    """A bulk change too large for one event per row (millions of certifications in a run):
    events that name every changed row, `LISTING_PART_ROWS` rows each.

    Each event's `after` is `after` plus `columns` (the names of a row's values), `rows`,
    `part` (1, 2, ...), `parts` and `total`, so a listing is complete when parts 1..parts
    are in the chain and their rows add up to `total`; `verify_chain` checks that, besides
    every event's hash. A part comes as (its number of rows, their JSON array as
    canonical_json writes it: for rows of strings and nulls, what DuckDB's to_json writes
    too), so millions of rows need no Python object each. Returns the number of events."""
    count = -(-total // LISTING_PART_ROWS)
    events: list[Encoded] = []
    for number, (_, rows) in enumerate(parts, start=1):
        fields = {**after, "columns": list(columns), "part": number, "parts": count}
        fields["total"] = total
        text = {k: canonical_json(v) for k, v in fields.items()}
        text["rows"] = rows
        body = "{" + ",".join(f"{canonical_json(k)}:{text[k]}" for k in sorted(text)) + "}"
        events.append(Encoded(action, entity_type, str(entity_id), None, "null", body))
    # All parts in one append: one lock, one read of the chain's end, one COPY.
    return _append(session, actor, events)


@dataclass
class ChainReport:
    events: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    unkeyed: int = 0  # events hashed with plain SHA-256, from before the chain was keyed
    head: dict[str, Any] | None = None  # the last event, as export_head gives it

    @property
    def ok(self) -> bool:
        return not self.problems


def _head_of(event: AuditEvent, count: int) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "hash": event.hash,
        "hash_scheme": event.hash_scheme,
        "occurred_at": _timestamp(event.occurred_at),
        "events": count,
    }


def export_head(*, session: Session) -> dict[str, Any]:
    """The chain's head for anchoring outside the service (printed by `lifecert audit
    export-head`): its sequence number, hash, scheme and time, and the number of events.
    A chain whose head is still unkeyed is sealed first (`seal`), so the exported hash is
    one only the audit key can make. Commits."""
    seal(session=session)
    session.commit()
    row = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(1)).first()
    if row is None:
        return {
            "seq": 0,
            "hash": GENESIS_HASH,
            "hash_scheme": None,
            "occurred_at": None,
            "events": 0,
        }
    count = session.execute(sa.select(sa.func.count()).select_from(AuditEvent)).scalar_one()
    return _head_of(row, int(count))


def seal(*, session: Session) -> AuditEvent | None:
    """Append a keyed event onto an unkeyed head (a chain written before it was keyed), in
    the caller's transaction: from then on the head is keyed, and the plain SHA-256 events
    before it are covered by its HMAC. Nothing when the chain is empty or its head keyed."""
    head = session.execute(
        sa.select(col(AuditEvent.seq), col(AuditEvent.hash_scheme))
        .order_by(col(AuditEvent.seq).desc())
        .limit(1)
    ).first()
    if head is None or int(head[1]) != PLAIN_SHA256:
        return None
    return record(
        session=session,
        actor=SYSTEM,
        action="audit.chain_keyed",
        entity_type="audit_chain",
        entity_id=int(head[0]),
        after={"unkeyed_until_seq": int(head[0]), "scheme": "hmac-sha256"},
    )


def read_head(data: Any) -> dict[str, Any]:
    """An anchored head from JSON: export_head's output, or a backup manifest (its
    audit_head). ValueError says what is missing."""
    if isinstance(data, dict) and isinstance(data.get("audit_head"), dict):
        data = data["audit_head"]
    if not isinstance(data, dict):
        raise ValueError("the head must be a JSON object with seq and hash")
    seq, digest = data.get("seq"), data.get("hash")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise ValueError("the head's seq must be a whole number, 0 or more")
    if not isinstance(digest, str) or len(digest) != 64:
        raise ValueError("the head's hash must be 64 hexadecimal characters")
    return {"seq": seq, "hash": digest.lower()}


def _iter_events(session: Session, batch: int = 1000) -> Iterator[AuditEvent]:
    after = 0
    while True:
        rows = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.seq) > after)
            .order_by(col(AuditEvent.seq))
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].seq


def list_events(
    *,
    session: Session,
    staff: StaffUser,
    entity_type: str | None,
    entity_id: str | None,
    action: str | None,
    before_seq: int | None,
    limit: int,
) -> list[AuditEvent]:
    """Events recorded in the reader's region scope, newest first (page back with before_seq)."""
    query = scope.within(select(AuditEvent), AuditEvent.region_code, staff)
    if entity_type:
        query = query.where(AuditEvent.entity_type == entity_type)
    if entity_id:
        query = query.where(AuditEvent.entity_id == entity_id)
    if action:
        query = query.where(AuditEvent.action == action)
    if before_seq:
        query = query.where(col(AuditEvent.seq) < before_seq)
    return list(session.exec(query.order_by(col(AuditEvent.seq).desc()).limit(limit)).all())


def verify_chain_for(*, session: Session, staff: StaffUser) -> ChainReport:
    """`verify_chain` for a national (unscoped) reader: the chain holds every region's events."""
    scope.national(staff, "Checking the whole chain needs a national (unscoped) account.")
    return verify_chain(session=session)


def verify_chain(
    *, session: Session, heads: Sequence[dict[str, Any]] = (), key: bytes | None = None
) -> ChainReport:
    """Recompute every hash with the audit key: an edited event breaks its own hash, a
    deleted one the next link; check that every listing (record_listing) has all its parts
    and rows, that plain SHA-256 events (from before the chain was keyed) all precede the
    keyed ones and the head is keyed, and that each of `heads` (exported earlier, read_head)
    is still in the chain with its hash."""
    key = key if key is not None else audit_key()
    report = ChainReport()
    expected_seq, prev_hash = 1, GENESIS_HASH
    listings: dict[tuple[str, str], _Listing] = {}
    anchors = {int(h["seq"]): str(h["hash"]) for h in heads}
    keyed_since: int | None = None
    last: AuditEvent | None = None
    for event in _iter_events(session):
        report.events += 1
        last = event
        if event.after is not None and "parts" in event.after and "rows" in event.after:
            listing = listings.setdefault((event.action, event.entity_id), _Listing(event.seq))
            listing.add(event.after)
        if event.seq != expected_seq:
            report.problems.append(
                {
                    "seq": event.seq,
                    "problem": "missing_events",
                    "detail": f"events {expected_seq}..{event.seq - 1} are missing (deleted)",
                }
            )
        if event.prev_hash != prev_hash:
            report.problems.append(
                {
                    "seq": event.seq,
                    "problem": "broken_link",
                    "detail": "prev_hash does not match the previous event's hash",
                }
            )
        if event.hash_scheme == HMAC_SHA256:
            keyed_since = keyed_since or event.seq
        elif event.hash_scheme == PLAIN_SHA256:
            report.unkeyed += 1
            if keyed_since is not None:
                report.problems.append(
                    {
                        "seq": event.seq,
                        "problem": "unkeyed",
                        "detail": "a plain SHA-256 event after the keyed event "
                        f"{keyed_since}: only events from before the chain was keyed may be",
                    }
                )
        if event.hash_scheme not in (PLAIN_SHA256, HMAC_SHA256):
            report.problems.append(
                {
                    "seq": event.seq,
                    "problem": "edited",
                    "detail": f"unknown hash scheme {event.hash_scheme} (it was edited)",
                }
            )
        elif compute_hash(event, key=key) != event.hash:
            report.problems.append(
                {
                    "seq": event.seq,
                    "problem": "edited",
                    "detail": "the event's content does not match its hash (it was edited)",
                }
            )
        if event.seq in anchors and anchors.pop(event.seq) != event.hash:
            report.problems.append(
                {
                    "seq": event.seq,
                    "problem": "head_changed",
                    "detail": "the event's hash is not the one exported for it",
                }
            )
        expected_seq, prev_hash = event.seq + 1, event.hash
    if last is not None:
        report.head = _head_of(last, report.events)
        if last.hash_scheme != HMAC_SHA256:
            report.problems.append(
                {
                    "seq": last.seq,
                    "problem": "unkeyed_head",
                    "detail": "the last event is not keyed: events were re-hashed without the "
                    "audit key, or the chain was never sealed (`lifecert audit export-head`)",
                }
            )
    for seq in sorted(anchors):
        if seq > 0:
            report.problems.append(
                {
                    "seq": seq,
                    "problem": "head_missing",
                    "detail": "an exported head is no longer in the chain",
                }
            )
    for (action, entity_id), listing in listings.items():
        if not listing.complete:
            report.problems.append(
                {
                    "seq": listing.first_seq,
                    "problem": "incomplete_listing",
                    "detail": f"{action} of {entity_id}: {listing.describe()}",
                }
            )
    return report


@dataclass
class _Listing:
    """The parts of one record_listing seen so far."""

    first_seq: int
    parts: set[int] = field(default_factory=set)
    expected_parts: set[int] = field(default_factory=set)
    rows: int = 0
    totals: set[int] = field(default_factory=set)

    def add(self, after: dict[str, Any]) -> None:
        self.parts.add(int(after["part"]))
        self.expected_parts.add(int(after["parts"]))
        self.rows += len(after["rows"])
        self.totals.add(int(after["total"]))

    @property
    def complete(self) -> bool:
        if len(self.expected_parts) != 1 or len(self.totals) != 1:
            return False
        (parts,) = self.expected_parts
        return self.parts == set(range(1, parts + 1)) and {self.rows} == self.totals

    def describe(self) -> str:
        return (
            f"parts {sorted(self.parts)} of {sorted(self.expected_parts)}, "
            f"{self.rows} rows of {sorted(self.totals)}"
        )
