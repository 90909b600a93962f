"""Sensitive reads leave an audit event naming the reader, what was read and its region: the
register (a record, a search: its query masked and its count, one event per listing), enrolled
photos, review media, call frames, consular scans and quarantined feed rows. The chain still
verifies afterwards (`lifecert audit verify`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from app import media
from app.cli import cli
from app.config import Settings, get_settings
from models.attempt import AttemptStatus, ReviewCase
from models.audit import AuditEvent
from models.consular import ConsularDocument
from models.records import FeedBatch, FeedFormat, FeedType, QuarantinedRecord
from models.video_call import CallFrame
from tests.app.appointments.world import appointment, now_minute, video_agent
from tests.conftest import Factory

ID_NUMBER = "110105194805170012"


def _events(db: Session, action: str) -> list[AuditEvent]:
    db.expire_all()
    return list(
        db.exec(
            select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))
        ).all()
    )


def _only(db: Session, action: str) -> AuditEvent:
    events = _events(db, action)
    assert len(events) == 1, [e.after for e in events]
    return events[0]


@pytest.fixture
def verify(settings: Settings, app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`lifecert audit verify` on the test database."""
    monkeypatch.setenv("LIFECERT_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("LIFECERT_AUDIT_KEY", get_settings().audit_signing_key.decode())
    monkeypatch.setenv("LIFECERT_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()

    def run() -> Any:
        return CliRunner().invoke(cli, ["audit", "verify"], catch_exceptions=False)

    yield run
    get_settings.cache_clear()


async def test_register_search_and_view_are_audited(
    client: httpx.AsyncClient, factory: Factory, db: Session, verify: Any
) -> None:
    admin = factory.staff("admin", scope="11")
    headers = factory.auth(admin)
    people = [factory.pensioner() for _ in range(3)]
    found = await client.get("/api/v1/pensioners", params={"q": ID_NUMBER}, headers=headers)
    assert found.status_code == 200, found.text
    listed = await client.get("/api/v1/pensioners", params={"limit": 2}, headers=headers)
    assert listed.status_code == 200 and len(listed.json()["items"]) == 2

    searches = _events(db, "pensioner.search")
    assert len(searches) == 2  # one event per listing, not one per row
    by_id, page = searches
    assert (by_id.actor_type, by_id.actor_id) == ("staff", str(admin.id))
    assert by_id.region_code == "11"
    assert by_id.after is not None and by_id.after["query"] == "110105************"
    assert ID_NUMBER not in str(by_id.after) and ID_NUMBER not in str(by_id.before)
    assert page.after is not None
    assert (page.after["count"], page.after["total"]) == (2, 3)
    assert page.after["ids"] == [item["id"] for item in listed.json()["items"]]
    assert page.after["query"] is None and page.client_address

    viewed = await client.get(f"/api/v1/pensioners/{people[1].id}", headers=headers)
    assert viewed.status_code == 200
    event = _only(db, "pensioner.read")
    assert (event.entity_type, event.entity_id) == ("pensioner", str(people[1].id))
    assert event.region_code == people[1].region_code and event.actor_id == str(admin.id)

    # A refused read (out of scope) shows nothing and records nothing.
    stranger = factory.pensioner(region="310115")
    refused = await client.get(f"/api/v1/pensioners/{stranger.id}", headers=headers)
    assert refused.status_code == 404
    assert len(_events(db, "pensioner.read")) == 1
    assert verify().exit_code == 0


async def test_media_reads_are_audited(
    client: httpx.AsyncClient, factory: Factory, db: Session, settings: Settings, verify: Any
) -> None:
    reviewer = factory.staff("reviewer", scope="11")
    headers = factory.auth(reviewer)
    pensioner = factory.pensioner()

    # An enrolled photo.
    face = factory.face(pensioner, photo=b"\xff\xd8 enrolled")
    photo = await client.get(
        f"/api/v1/pensioners/{pensioner.id}/faces/{face.id}/photo", headers=headers
    )
    assert photo.status_code == 200, photo.text
    event = _only(db, "face.photo_read")
    assert event.after == {"face_id": str(face.id)}
    assert (event.entity_id, event.region_code) == (str(pensioner.id), "110105")
    assert event.actor_id == str(reviewer.id)

    # A review case's selfie and key frame.
    attempt = factory.attempt(pensioner)
    attempt.status = AttemptStatus.needs_review
    attempt.selfie_path = f"attempts/{attempt.id}/selfie.jpg"
    attempt.decision = {"key_frames": [f"attempts/{attempt.id}/frame_0.jpg"]}
    case = ReviewCase(
        attempt_id=attempt.id, pensioner_id=pensioner.id, region_code="110105", low_score=False
    )
    for relative in (attempt.selfie_path, attempt.decision["key_frames"][0]):
        media.store(settings=settings, relative=relative, data=b"\xff\xd8 review")
    factory.session.add_all([attempt, case])
    factory.session.commit()
    for name in ("selfie", "frame_0"):
        got = await client.get(f"/api/v1/reviews/{case.id}/media/{name}", headers=headers)
        assert got.status_code == 200, got.text
    missing = await client.get(f"/api/v1/reviews/{case.id}/media/frame_9", headers=headers)
    assert missing.status_code == 404
    reads = _events(db, "review.media_read")
    assert [e.after["media"] for e in reads if e.after] == ["selfie", "frame_0"]
    assert all(e.after and e.after["case_id"] == str(case.id) for e in reads)
    assert {e.region_code for e in reads} == {"110105"}
    assert verify().exit_code == 0


async def test_call_frames_and_consular_scans_are_audited(
    client: httpx.AsyncClient, factory: Factory, db: Session, settings: Settings, verify: Any
) -> None:
    agent = video_agent(factory)
    pensioner = factory.pensioner()
    call = appointment(factory, pensioner, agent, starts_at=now_minute() - timedelta(minutes=2))
    frame = CallFrame(
        appointment_id=call.id,
        path=f"calls/{call.id}/{uuid.uuid4()}.jpeg",
        sha256="0" * 64,
        format="jpeg",
        decision="match",
        distance=0.3,
        captured_by_id=str(agent.id),
    )
    media.store(settings=settings, relative=frame.path, data=b"\xff\xd8 frame")
    document = ConsularDocument(
        pensioner_id=pensioner.id,
        region_code="110105",
        file_path=f"consular/{pensioner.id}/{uuid.uuid4()}.pdf",
        file_sha256="0" * 64,
        file_format="pdf",
        file_bytes=10,
    )
    media.store(settings=settings, relative=document.file_path, data=b"%PDF-1.4 x")
    factory.session.add_all([frame, document])
    factory.session.commit()

    image = await client.get(
        f"/api/v1/video-calls/{call.id}/frames/{frame.id}/image", headers=factory.auth(agent)
    )
    assert image.status_code == 200, image.text
    event = _only(db, "video_call.frame_read")
    assert event.after == {"appointment_id": str(call.id), "frame_id": str(frame.id)}
    assert (event.entity_id, event.region_code) == (str(pensioner.id), "110105")
    assert event.actor_id == str(agent.id)

    reviewer = factory.staff("reviewer", scope="11")
    scan = await client.get(
        f"/api/v1/consular-documents/{document.id}/scan", headers=factory.auth(reviewer)
    )
    assert scan.status_code == 200, scan.text
    event = _only(db, "consular.scan_read")
    assert event.after == {"document_id": str(document.id)}
    assert (event.entity_id, event.region_code) == (str(pensioner.id), "110105")
    assert event.actor_id == str(reviewer.id)
    assert verify().exit_code == 0


async def test_quarantine_reads_are_audited_once_per_listing(
    client: httpx.AsyncClient, factory: Factory, db: Session, verify: Any
) -> None:
    admin = factory.staff("admin", scope="11")
    batch = FeedBatch(
        feed_type=FeedType.card_use,
        format=FeedFormat.csv,
        source_authority="hrss",
        content_sha256=uuid.uuid4().hex * 2,
        imported_by_type="staff",
        imported_by_id=str(admin.id),
        region_scope="11",
        quarantined=3,
    )
    rows = [
        QuarantinedRecord(
            batch_id=batch.id,
            row_number=n,
            feed_type=FeedType.card_use,
            problem="bad_check_character",
            message="the check character is wrong",
            raw_national_id="11010519480517001" + str(n),
        )
        for n in (2, 3, 4)
    ]
    factory.session.add(batch)
    factory.session.commit()
    factory.session.add_all(rows)
    factory.session.commit()
    read = await client.get(
        f"/api/v1/feeds/batches/{batch.id}/quarantine",
        params={"limit": 2},
        headers=factory.auth(admin),
    )
    assert read.status_code == 200 and len(read.json()) == 2
    event = _only(db, "feed.quarantine_read")
    assert (event.entity_type, event.entity_id) == ("feed_batch", str(batch.id))
    assert event.region_code == "11" and event.actor_id == str(admin.id)
    assert event.after == {"limit": 2, "offset": 0, "count": 2, "rows": [2, 3]}
    assert verify().exit_code == 0


async def test_audited_reads_at_once_all_answer_and_chain(
    client: httpx.AsyncClient, factory: Factory, db: Session, verify: Any
) -> None:
    """Reads begin DEFERRED on SQLite; their events must not fail on the write lock when
    many come at once (the staff page loads a case's pictures in parallel) or beside a write."""
    import asyncio

    admin = factory.staff("admin", scope="11")
    headers = factory.auth(admin)
    pensioner = factory.pensioner()
    faces = [factory.face(pensioner, photo=b"\xff\xd8 %d" % i) for i in range(4)]
    url = f"/api/v1/pensioners/{pensioner.id}"
    answers = await asyncio.gather(
        *(client.get(f"{url}/faces/{f.id}/photo", headers=headers) for f in faces * 3),
        *(client.get(url, headers=headers) for _ in range(6)),
        *(client.patch(url, json={"phone": f"1380013800{i}"}, headers=headers) for i in range(3)),
    )
    assert [a.status_code for a in answers] == [200] * len(answers), [
        a.text for a in answers if a.status_code != 200
    ]
    assert len(_events(db, "face.photo_read")) == 12
    assert len(_events(db, "pensioner.read")) == 6
    assert verify().exit_code == 0
