"""The audit hash chain: intact chains verify, edited and deleted events are detected."""

from __future__ import annotations

import json

import httpx
import sqlalchemy as sa
from sqlmodel import Session

from app.audit import service as audit
from app.audit.service import SYSTEM
from models.audit import AuditEvent
from tests.conftest import Backend, Factory


def _append(db: Session, n: int) -> None:
    for i in range(n):
        audit.record(
            session=db,
            actor=SYSTEM,
            action="test.event",
            entity_type="thing",
            entity_id=i,
            before={"v": i},
            after={"v": i + 1, "名": "值"},
        )
    db.commit()


def _verify(backend: Backend) -> audit.ChainReport:
    with Session(backend.engine) as fresh:
        return audit.verify_chain(session=fresh)


async def test_intact_chain_verifies(db: Session, backend: Backend) -> None:
    _append(db, 5)
    report = _verify(backend)
    assert report.ok and report.events == 5


async def test_edited_event_is_detected(db: Session, backend: Backend) -> None:
    _append(db, 5)
    with backend.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_event SET actor_id = 'someone-else' WHERE seq = 3"))
    report = _verify(backend)
    assert not report.ok
    assert report.problems == [
        {
            "seq": 3,
            "problem": "edited",
            "detail": "the event's content does not match its hash (it was edited)",
        }
    ]


async def test_edited_values_are_detected(db: Session, backend: Backend) -> None:
    _append(db, 3)
    with backend.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE audit_event SET after = :v WHERE seq = 2"),
            {"v": json.dumps({"v": 999, "名": "值"})},
        )
    assert [p["seq"] for p in _verify(backend).problems] == [2]


async def test_edit_with_recomputed_hash_breaks_the_next_link(
    db: Session, backend: Backend
) -> None:
    _append(db, 4)
    with Session(backend.engine) as s:
        from models.audit import AuditEvent

        event = s.get(AuditEvent, 2)
        assert event is not None
        event.actor_id = "forger"
        event.hash = audit.compute_hash(event)
        s.add(event)
        s.commit()
    problems = _verify(backend).problems
    assert [(p["seq"], p["problem"]) for p in problems] == [(3, "broken_link")]


async def test_deleted_event_is_detected(db: Session, backend: Backend) -> None:
    _append(db, 5)
    with backend.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_event WHERE seq = 2"))
    problems = _verify(backend).problems
    assert {(p["seq"], p["problem"]) for p in problems} == {
        (3, "missing_events"),
        (3, "broken_link"),
    }


async def test_verify_endpoint(
    client: httpx.AsyncClient, factory: Factory, db: Session, backend: Backend
) -> None:
    _append(db, 2)
    auditor = factory.auth(factory.staff("auditor"))
    ok = await client.get("/api/v1/audit/verify", headers=auditor)
    assert ok.json() == {"ok": True, "events": 2, "problems": []}
    with backend.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_event WHERE seq = 1"))
    broken = (await client.get("/api/v1/audit/verify", headers=auditor)).json()
    assert broken["ok"] is False
    assert broken["problems"][0]["problem"] == "missing_events"


async def test_events_are_listed_newest_first_within_scope(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    for region in ("110105", "310115"):
        audit.record(
            session=db,
            actor=SYSTEM,
            action="x",
            entity_type="pensioner",
            entity_id=region,
            region_code=region,
        )
    db.commit()
    scoped = factory.auth(factory.staff("auditor", scope="11"))
    events = (await client.get("/api/v1/audit/events", headers=scoped)).json()
    assert [e["region_code"] for e in events] == ["110105"]
    national = factory.auth(factory.staff("auditor"))
    events = (await client.get("/api/v1/audit/events", headers=national)).json()
    assert [e["region_code"] for e in events] == ["310115", "110105"]


async def test_concurrent_appends_keep_one_chain(backend: Backend, db: Session) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def append(i: int) -> None:
        with Session(backend.engine) as s:
            # Read something first, as a request does before it writes.
            s.exec(sa.select(sa.literal(1)))
            audit.record(session=s, actor=SYSTEM, action="race", entity_type="t", entity_id=i)
            s.commit()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(append, range(40)))
    report = _verify(backend)
    assert report.ok, report.problems
    assert report.events == 40


def _parts(rows: list[list[str]]) -> list[list[list[str]]]:
    size = audit.LISTING_PART_ROWS
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def _listing(db: Session, rows: list[list[str]], *, total: int) -> None:
    audit.record_listing(
        session=db,
        actor=SYSTEM,
        action="test.listing",
        entity_type="matching_run",
        entity_id="run-1",
        columns=["pensioner_id", "value"],
        total=total,
        parts=[(len(p), audit.canonical_json(p)) for p in _parts(rows)],
        after={"method": "test"},
    )
    db.commit()


async def test_a_listing_names_every_row_in_parts_that_verify(
    db: Session, backend: Backend
) -> None:
    rows = [[f"p{i}", "名"] for i in range(audit.LISTING_PART_ROWS + 5)]
    _listing(db, rows, total=len(rows))
    # record_many's own encoding hashes the same text that verify_chain recomputes.
    audit.record_many(
        session=db,
        actor=SYSTEM,
        events=[{"action": "test.many", "entity_type": "x", "entity_id": 1, "after": {"é": [1]}}],
    )
    db.commit()
    report = _verify(backend)
    assert report.ok and report.events == 3
    with Session(backend.engine) as fresh:
        parts = fresh.exec(sa.select(AuditEvent.after).where(AuditEvent.action == "test.listing"))
        named = [r for (after,) in parts for r in after["rows"]]
    assert named == rows


async def test_a_listing_short_of_its_rows_is_reported(db: Session, backend: Backend) -> None:
    _listing(db, [["p1", "a"], ["p2", "b"]], total=3)  # one row left out when it was written
    report = _verify(backend)
    assert [p["problem"] for p in report.problems] == ["incomplete_listing"]
    assert "2 rows of [3]" in report.problems[0]["detail"]
