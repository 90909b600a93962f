"""The keyed audit chain: hashes are HMAC-SHA256 with the audit key, so someone who can write
to the database cannot edit an event and rebuild the chain with plain SHA-256; events from
before the chain was keyed stay verifiable; exported heads anchor the chain from outside."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from app.audit import service as audit
from app.audit.service import SYSTEM
from app.cli import cli
from app.config import Settings, get_settings
from app.migrate import upgrade
from models.audit import AuditEvent
from tests.conftest import Backend, create_postgres_database, drop_postgres_database


def _append(db: Session, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        audit.record(
            session=db,
            actor=SYSTEM,
            action="test.event",
            entity_type="thing",
            entity_id=i,
            after={"v": i, "名": "值"},
        )
    db.commit()


def _verify(backend: Backend, **kwargs: Any) -> audit.ChainReport:
    with Session(backend.engine) as fresh:
        return audit.verify_chain(session=fresh, **kwargs)


def _plain_sha256(event: AuditEvent) -> str:
    """What an attacker without the key computes: the old unkeyed hash of the event."""
    row = {k: getattr(event, k) for k in audit._HASHED}
    return audit._hash_of(row, scheme=audit.PLAIN_SHA256, key=b"")


def _rebuild_from(backend: Backend, seq: int, *, scheme: int, edit: dict[str, Any]) -> None:
    """Edit event `seq`, then recompute plain SHA-256 hashes from it to the head, relinking
    every later event, as someone with write access to the database but not the key can."""
    with Session(backend.engine) as s:
        events = s.exec(
            select(AuditEvent).where(col(AuditEvent.seq) >= seq).order_by(col(AuditEvent.seq))
        ).all()
        previous = s.get(AuditEvent, seq - 1)
        prev_hash = previous.hash if previous else audit.GENESIS_HASH
        for event in events:
            if event.seq == seq:
                for name, value in edit.items():
                    setattr(event, name, value)
            event.prev_hash = prev_hash
            event.hash_scheme = scheme
            event.hash = _plain_sha256(event)
            prev_hash = event.hash
            s.add(event)
            s.flush()  # one at a time: hash is unique
        s.commit()


def test_new_events_are_keyed(db: Session, backend: Backend) -> None:
    _append(db, 3)
    events = db.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
    assert {e.hash_scheme for e in events} == {audit.HMAC_SHA256}
    assert all(e.hash != _plain_sha256(e) for e in events)
    report = _verify(backend)
    assert report.ok and report.events == 3 and report.unkeyed == 0


def test_an_edit_rehashed_with_plain_sha256_is_reported(db: Session, backend: Backend) -> None:
    _append(db, 5)
    _rebuild_from(backend, 3, scheme=audit.HMAC_SHA256, edit={"actor_id": "forger"})
    report = _verify(backend)
    # Every link is consistent again, but no rebuilt hash is the key's.
    assert [(p["seq"], p["problem"]) for p in report.problems] == [
        (3, "edited"),
        (4, "edited"),
        (5, "edited"),
    ]


def test_an_edit_passed_off_as_unkeyed_events_is_reported(db: Session, backend: Backend) -> None:
    _append(db, 5)
    _rebuild_from(backend, 3, scheme=audit.PLAIN_SHA256, edit={"action": "forged"})
    problems = [(p["seq"], p["problem"]) for p in _verify(backend).problems]
    assert problems == [(3, "unkeyed"), (4, "unkeyed"), (5, "unkeyed"), (5, "unkeyed_head")]


def test_a_whole_chain_rebuilt_unkeyed_is_reported(db: Session, backend: Backend) -> None:
    _append(db, 3)
    _rebuild_from(backend, 1, scheme=audit.PLAIN_SHA256, edit={"actor_id": "forger"})
    assert [(p["seq"], p["problem"]) for p in _verify(backend).problems] == [(3, "unkeyed_head")]


def test_another_key_verifies_nothing(db: Session, backend: Backend) -> None:
    _append(db, 2)
    report = _verify(backend, key=b"not the audit key, but as long as one")
    assert [p["problem"] for p in report.problems] == ["edited", "edited"]


def _legacy_events(backend: Backend, n: int) -> None:
    """Events as the unkeyed chain wrote them before migration 0013 (plain SHA-256)."""
    with Session(backend.engine) as s:
        _append(s, n)
        _rebuild_from(backend, 1, scheme=audit.PLAIN_SHA256, edit={})


def test_events_from_before_the_key_stay_verifiable(db: Session, backend: Backend) -> None:
    _legacy_events(backend, 3)
    unsealed = _verify(backend)
    assert [(p["seq"], p["problem"]) for p in unsealed.problems] == [(3, "unkeyed_head")]
    with Session(backend.engine) as s:
        sealed = audit.seal(session=s)
        s.commit()
        assert sealed is not None and sealed.seq == 4 and sealed.action == "audit.chain_keyed"
        assert audit.seal(session=s) is None  # the head is keyed now
    _append(db, 2, start=10)
    report = _verify(backend)
    assert report.ok, report.problems
    assert (report.events, report.unkeyed) == (6, 3)
    with Session(backend.engine) as s:
        last_plain, first_keyed = s.get(AuditEvent, 3), s.get(AuditEvent, 4)
        assert last_plain is not None and first_keyed is not None
        assert first_keyed.prev_hash == last_plain.hash  # the keyed chain goes on from it
        assert first_keyed.hash_scheme == audit.HMAC_SHA256


def test_an_unkeyed_event_rebuilt_before_the_keyed_ones_is_reported(
    db: Session, backend: Backend
) -> None:
    _legacy_events(backend, 3)
    _append(db, 2, start=10)
    # Editing an unkeyed event and rebuilding the unkeyed part cannot reach the keyed event
    # that names the old hash: changing its prev_hash breaks its HMAC.
    with Session(backend.engine) as s:
        event = s.get(AuditEvent, 2)
        assert event is not None
        event.actor_id = "forger"
        event.hash = _plain_sha256(event)
        s.add(event)
        s.flush()
        after = s.get(AuditEvent, 3)
        assert after is not None
        after.prev_hash = event.hash
        after.hash = _plain_sha256(after)
        s.add(after)
        s.flush()
        keyed = s.get(AuditEvent, 4)
        assert keyed is not None
        keyed.prev_hash = after.hash
        s.add(keyed)
        s.commit()
    assert [(p["seq"], p["problem"]) for p in _verify(backend).problems] == [(4, "edited")]


def test_record_many_and_listings_are_keyed_in_one_pass(db: Session, backend: Backend) -> None:
    audit.record_many(
        session=db,
        actor=SYSTEM,
        events=[
            {"action": "bulk", "entity_type": "x", "entity_id": i, "after": {"i": i}}
            for i in range(500)
        ],
    )
    audit.record_listing(
        session=db,
        actor=SYSTEM,
        action="test.listing",
        entity_type="matching_run",
        entity_id="run-1",
        columns=["pensioner_id"],
        total=2,
        parts=[(2, audit.canonical_json([["a"], ["b"]]))],
        after={"method": "test"},
    )
    db.commit()
    schemes = db.exec(select(AuditEvent.hash_scheme).distinct()).all()
    assert list(schemes) == [audit.HMAC_SHA256]
    assert _verify(backend).ok
    _rebuild_from(backend, 250, scheme=audit.HMAC_SHA256, edit={"entity_id": "9999"})
    assert _verify(backend).problems[0] == {
        "seq": 250,
        "problem": "edited",
        "detail": "the event's content does not match its hash (it was edited)",
    }


@pytest.fixture
def run(settings: Settings, app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("LIFECERT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LIFECERT_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("LIFECERT_AUDIT_KEY", get_settings().audit_signing_key.decode())
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(cli, list(args), catch_exceptions=False)

    yield invoke
    get_settings.cache_clear()


def test_export_head_and_verify_against_it(
    run: Any, db: Session, backend: Backend, tmp_path: Path
) -> None:
    _append(db, 4)
    exported = run("audit", "export-head")
    assert exported.exit_code == 0, exported.output
    head = json.loads(exported.output)
    last = db.exec(select(AuditEvent).where(AuditEvent.seq == 4)).one()
    assert head["seq"] == 4 and head["hash"] == last.hash and head["events"] == 4
    assert head["hash_scheme"] == audit.HMAC_SHA256 and head["occurred_at"].endswith("Z")
    saved = tmp_path / "head.json"
    saved.write_text(exported.output)

    _append(db, 2, start=10)  # the chain grows past the exported head
    ok = run("audit", "verify", "--head", str(saved), "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["heads_checked"] == 1
    assert "1 exported heads present" in run("audit", "verify", "--head", str(saved)).output

    # Someone holding the key (or a restore of an older backup) rewrites history: every
    # hash is valid again, but not the one anchored outside.
    with Session(backend.engine) as s:
        for seq in range(3, 7):
            event = s.get(AuditEvent, seq)
            assert event is not None
            if seq == 3:
                event.actor_id = "forger"
            else:
                previous = s.get(AuditEvent, seq - 1)
                assert previous is not None
                event.prev_hash = previous.hash
            event.hash = audit.compute_hash(event)
            s.add(event)
            s.flush()
        s.commit()
    assert run("audit", "verify").exit_code == 0  # the chain alone looks whole
    changed = run("audit", "verify", "--head", str(saved), "--json")
    assert changed.exit_code == 1
    assert [(p["seq"], p["problem"]) for p in json.loads(changed.output)["problems"]] == [
        (4, "head_changed")
    ]

    with backend.engine.begin() as conn:  # the chain cut back below the head
        conn.execute(sa.text("DELETE FROM audit_event WHERE seq >= 4"))
    cut = run("audit", "verify", "--head", str(saved), "--json")
    assert cut.exit_code == 1
    assert [p["problem"] for p in json.loads(cut.output)["problems"]] == ["head_missing"]


def test_a_backup_manifest_serves_as_a_head(run: Any, db: Session, tmp_path: Path) -> None:
    _append(db, 2)
    last = db.exec(select(AuditEvent).where(AuditEvent.seq == 2)).one()
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"audit_head": {"seq": 2, "hash": last.hash}}))
    assert run("audit", "verify", "--head", str(manifest)).exit_code == 0


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("not json", "HeadInvalid"),
        ('{"seq": 1}', "HeadInvalid"),
        ('{"seq": -1, "hash": "' + "a" * 64 + '"}', "HeadInvalid"),
        ('{"seq": 1, "hash": "abc"}', "HeadInvalid"),
        ("[1, 2]", "HeadInvalid"),
        (None, "HeadUnreadable"),
    ],
    ids=["not_json", "no_hash", "negative_seq", "short_hash", "not_an_object", "missing"],
)
def test_a_bad_head_file_is_a_clear_error(
    run: Any, tmp_path: Path, content: str | None, error: str
) -> None:
    path = tmp_path / "head.json"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(cli, ["audit", "verify", "--head", str(path)])
    assert result.exit_code == 2
    assert json.loads(result.stderr)["error"] == error


def test_export_head_of_an_empty_chain(run: Any) -> None:
    head = json.loads(run("audit", "export-head").output)
    assert head == {
        "seq": 0,
        "hash": audit.GENESIS_HASH,
        "hash_scheme": None,
        "occurred_at": None,
        "events": 0,
    }


# audit_event as it was before 0013 (no hash_scheme).
_OLD_AUDIT_EVENT = sa.table(
    "audit_event",
    *(sa.column(name) for name in (*audit._HASHED, "hash") if name not in ("before", "after")),
    sa.column("before", sa.JSON),
    sa.column("after", sa.JSON),
)


def test_migration_keeps_old_events_verifiable_and_migrate_seals_them(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A database with events from before 0013: they become hash_scheme 0 and verify; then
    `lifecert migrate` appends the keyed event that chains onto them."""
    url = (
        f"sqlite:///{tmp_path / 'old.db'}"
        if backend.name == "sqlite"
        else create_postgres_database()
    )
    try:
        upgrade(url, "0012")
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        prev = audit.GENESIS_HASH
        with engine.begin() as conn:
            for seq in (1, 2):
                row = {
                    "seq": seq,
                    "occurred_at": audit.utcnow(),
                    "actor_type": "system",
                    "actor_id": "lifecert",
                    "action": "old.event",
                    "entity_type": "thing",
                    "entity_id": str(seq),
                    "region_code": None,
                    "before": None,
                    "after": {"n": seq},
                    "client_address": None,
                    "prev_hash": prev,
                }
                payload = {k: row[k] for k in audit._HASHED}
                payload["occurred_at"] = audit._timestamp(row["occurred_at"])
                text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
                row["hash"] = prev = hashlib.sha256(text.encode()).hexdigest()
                conn.execute(sa.insert(_OLD_AUDIT_EVENT).values(row))
        monkeypatch.setenv("LIFECERT_DATA_DIR", str(tmp_path / "var"))
        monkeypatch.setenv("LIFECERT_DATABASE_URL", url)
        get_settings.cache_clear()
        migrated = CliRunner().invoke(cli, ["migrate"], catch_exceptions=False)
        assert migrated.exit_code == 0, migrated.output
        assert "Audit chain keyed from event 3 on." in migrated.output
        with Session(engine) as s:
            schemes = s.exec(select(AuditEvent.hash_scheme).order_by(col(AuditEvent.seq))).all()
            assert list(schemes) == [audit.PLAIN_SHA256, audit.PLAIN_SHA256, audit.HMAC_SHA256]
            report = audit.verify_chain(session=s)
        assert report.ok, report.problems
        assert report.unkeyed == 2
        verified = CliRunner().invoke(cli, ["audit", "verify"], catch_exceptions=False)
        assert verified.exit_code == 0
        assert "3 events (2 from before it was keyed)" in verified.output
        engine.dispose()
    finally:
        get_settings.cache_clear()
        if backend.name == "postgresql":
            drop_postgres_database(url)
