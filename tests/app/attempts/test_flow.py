"""The whole remote certification over HTTP, with the real face engine and worker processes."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from app.attempts.jobs import InProcessQueue
from app.config import Settings
from biometrics import DlibFaceEngine
from models.attempt import CertificationAttempt, ReviewCase
from models.audit import AuditEvent
from models.certification import Certification
from tests.app.attempts.clips import (
    LIVE,
    SEED_BLINK_THEN_MOUTH,
    SELFIE_CLIP,
    enrol_clip_person,
    enrol_cohort,
    frame_jpeg,
)
from tests.conftest import FIXTURES, Factory

BASE = "/api/v1/certifications/attempts"


@pytest.fixture
def job_queue(settings: Settings) -> Iterator[InProcessQueue]:
    queue = InProcessQueue(settings)
    yield queue
    queue.pool.shutdown(wait=True, cancel_futures=True)


async def _certify(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    selfie: bytes,
    operated_by: str | None = None,
    clip: Path = SELFIE_CLIP,
) -> dict[str, object]:
    # Seed the challenge generator so it asks for what the fixture clip shows.
    client_app = client._transport.app  # type: ignore[attr-defined]
    client_app.state.challenge_rng = random.Random(SEED_BLINK_THEN_MOUTH)
    started = await client.post(BASE, json={"operated_by": operated_by}, headers=headers)
    assert started.status_code == 201, started.text
    attempt = started.json()
    assert attempt["challenge"]["actions"] == ["blink", "open_mouth"]
    upload = await client.post(
        f"{BASE}/{attempt['id']}/upload",
        files={
            "selfie": ("selfie.jpg", selfie, "image/jpeg"),
            "video": ("clip.mp4", clip.read_bytes(), "video/mp4"),
        },
        data={"nonce": attempt["challenge"]["nonce"], "mirrored": "false"},
        headers=headers,
    )
    assert upload.status_code == 202, upload.text
    assert upload.json()["status"] == "processing"
    for _ in range(240):  # the first job starts a worker process and loads the models
        status = (await client.get(f"{BASE}/{attempt['id']}", headers=headers)).json()
        if status["status"] != "processing":
            return status  # type: ignore[no-any-return]
        await asyncio.sleep(0.5)
    raise AssertionError("the attempt was not decided within two minutes")


async def test_enrolled_person_is_certified_and_others_are_not(
    client: httpx.AsyncClient,
    factory: Factory,
    db: Session,
    settings: Settings,
    face_engine: DlibFaceEngine,
) -> None:
    enrol_cohort(db, factory, face_engine)
    pensioner = enrol_clip_person(db, factory, settings, face_engine)
    headers = factory.auth(pensioner, "pensioner")

    outcome = await _certify(
        client, headers, frame_jpeg(SELFIE_CLIP, 60), operated_by="daughter Li Na"
    )
    assert outcome["status"] == "certified", outcome
    assert outcome["valid_until"] and "certified until" in outcome["next_steps"][0]["en"]
    certification = db.exec(select(Certification)).one()
    assert certification.method.value == "remote_self_service"
    assert certification.operated_by == "daughter Li Na"
    assert certification.evidence["face_selfie"]["decision"] == "match"

    # Someone else's photo and someone else's live clip (it also blinks, then opens the mouth).
    impostor = await _certify(
        client,
        headers,
        (FIXTURES / "faces" / "deepface_c03" / "1.jpg").read_bytes(),
        clip=LIVE / "liveportrait_driving_d3.mp4",
    )
    assert impostor["status"] == "rejected", impostor
    assert "face_no_match" in impostor["reasons"]
    assert "video call" in impostor["next_steps"][0]["en"]
    actions = db.exec(
        select(AuditEvent.action).where(AuditEvent.entity_id == str(pensioner.id))
    ).all()
    assert actions.count("attempt.certified") == 1 and actions.count("attempt.rejected") == 1


async def test_without_a_cohort_the_case_goes_to_review(
    client: httpx.AsyncClient,
    factory: Factory,
    db: Session,
    settings: Settings,
    face_engine: DlibFaceEngine,
) -> None:
    pensioner = enrol_clip_person(db, factory, settings, face_engine)
    outcome = await _certify(
        client, factory.auth(pensioner, "pensioner"), frame_jpeg(SELFIE_CLIP, 60)
    )
    assert outcome["status"] == "needs_review", outcome
    assert "cohort_too_small" in outcome["reasons"]
    case = db.exec(select(ReviewCase)).one()
    assert case.low_score and case.status.value == "open"

    # Through the review queue: the evidence is there, and a low score needs two reviewers.
    first = factory.auth(factory.staff("reviewer", scope="11"))
    second = factory.auth(factory.staff("reviewer", scope="1101"))
    [listed] = (await client.get("/api/v1/reviews", headers=first)).json()
    detail = (await client.get(f"/api/v1/reviews/{listed['id']}", headers=first)).json()
    assert len(detail["key_frames"]) == 3 and detail["selfie"]
    assert detail["decision"]["video"]["live"] is True
    frame = await client.get(detail["key_frames"][0], headers=first)
    assert frame.status_code == 200 and frame.content.startswith(b"\xff\xd8")
    stored = db.exec(select(CertificationAttempt)).one()
    on_disk = [stored.selfie_path, stored.video_path, *stored.decision["key_frames"]]
    for relative in on_disk:  # encrypted at rest; served decrypted
        assert (settings.resolved_media_dir / relative).read_bytes()[:4] == b"LCMF", relative
    for reviewer in (first, second):
        decided = await client.post(
            f"/api/v1/reviews/{listed['id']}/decision",
            json={"verdict": "approve"},
            headers=reviewer,
        )
        assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved"
    final = (
        await client.get(f"{BASE}/{outcome['id']}", headers=factory.auth(pensioner, "pensioner"))
    ).json()
    assert final["status"] == "certified" and final["valid_until"]


async def test_an_assisted_attempt_that_matches_still_goes_to_a_person(
    client: httpx.AsyncClient,
    factory: Factory,
    db: Session,
    settings: Settings,
    face_engine: DlibFaceEngine,
) -> None:
    """A staff member held the device: even a clear match is checked by a reviewer."""
    enrol_cohort(db, factory, face_engine)
    pensioner = enrol_clip_person(db, factory, settings, face_engine)
    worker = factory.auth(factory.staff("community_worker", scope="110105"))
    client._transport.app.state.challenge_rng = random.Random(SEED_BLINK_THEN_MOUTH)  # type: ignore[attr-defined]
    base = f"/api/v1/pensioners/{pensioner.id}/assisted-attempts"
    started = await client.post(base, headers=worker)
    assert started.status_code == 201, started.text
    attempt = started.json()
    upload = await client.post(
        f"{base}/{attempt['id']}/upload",
        files={
            "selfie": ("selfie.jpg", frame_jpeg(SELFIE_CLIP, 60), "image/jpeg"),
            "video": ("clip.mp4", SELFIE_CLIP.read_bytes(), "video/mp4"),
        },
        data={"nonce": attempt["challenge"]["nonce"], "mirrored": "false"},
        headers=worker,
    )
    assert upload.status_code == 202, upload.text
    pensioner_headers = factory.auth(pensioner, "pensioner")
    for _ in range(240):
        status = (await client.get(f"{BASE}/{attempt['id']}", headers=pensioner_headers)).json()
        if status["status"] != "processing":
            break
        await asyncio.sleep(0.5)
    assert status["status"] == "needs_review", status
    assert status["reasons"] == ["face_match", "assisted_attempt"]
    assert db.exec(select(Certification)).first() is None
    case = db.exec(select(ReviewCase)).one()
    assert not case.low_score
