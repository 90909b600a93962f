"""The agent's side of a call: the call list and detail, face checks of captured frames, and the
recorded outcome (certified, not certified, no-show) with its evidence and follow-up."""

from __future__ import annotations

import io
from datetime import timedelta
from functools import cache
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from sqlmodel import Session, select

from app.audit.service import SYSTEM
from app.config import Settings
from app.faces import service as faces
from app.main import create_app
from biometrics import DlibFaceEngine, FakeFaceEngine
from models.audit import AuditEvent
from models.certification import Certification, CertificationMethod
from models.pensioner import Pensioner, Residence
from models.verification import TaskKind, VerificationTask
from models.video_call import AppointmentStatus, CallFrame, VideoAppointment
from tests.app.appointments.world import appointment, now_minute, video_agent
from tests.app.attempts.clips import (
    SELFIE_CLIP,
    SURNAMES,
    calibrate_register,
    enrol_clip_person,
    enrol_cohort,
    face_row,
    frame_jpeg,
)
from tests.conftest import Backend, Factory, RecordingQueue

ENGINE = FakeFaceEngine()
SUBJECT, STRANGER = 12, 18  # colour cells light enough for the enrolment gate


@pytest.fixture(scope="module")
def face_engine() -> FakeFaceEngine:
    """The fake face engine for this module's app: identity is the colour of the picture."""
    return ENGINE


def colour_of(person: int) -> tuple[int, int, int]:
    r, g, b = person % 5, (person // 5) % 5, person // 25
    return (24 + 48 * r, 24 + 48 * g, 72 + 48 * b)


@cache
def picture(person: int, seed: int, fmt: str = "JPEG") -> bytes:
    """A 'face' of `person` for the fake engine; black (person -1) has no face."""
    rng = np.random.default_rng(seed)
    colour = np.zeros(3) if person < 0 else np.array(colour_of(person), dtype=float)
    noise = rng.normal(0.0, 0 if person < 0 else 12.0, (480, 400, 3))
    pixels = np.clip(colour + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, quality=92)
    return buffer.getvalue()


@cache
def _cohort_vectors() -> list[bytes]:
    out = []
    for person in range(30, 54):
        analysis = faces.analyze(
            picture(person, 1), engine=ENGINE, settings=Settings(), gate="selfie"
        )
        assert analysis.embedding is not None
        out.append(np.asarray(analysis.embedding.vector, dtype="<f8").tobytes())
    return out


def enrol(db: Session, factory: Factory, settings: Settings, pensioner: Any, person: int) -> None:
    """The fake-engine cohort of 24 other people, the register calibrated on them (at 5%:
    24 people cannot support less), then the pensioner's own photo."""
    for index, vector in enumerate(_cohort_vectors()):
        other = factory.pensioner("110108", name=f"{SURNAMES[index]}测试", phone=f"139{index:08d}")
        db.add(face_row(other, vector, (ENGINE.model_name, ENGINE.model_version)))
    db.commit()
    calibrate_register(
        db, settings, model=(ENGINE.model_name, ENGINE.model_version), target_fmr=0.05
    )
    faces.enrol(
        session=db,
        settings=settings,
        engine=ENGINE,
        pensioner=pensioner,
        data=picture(person, 7),
        actor=SYSTEM,
    )
    db.commit()


def _call(
    factory: Factory, *, starts_in: timedelta = timedelta(minutes=-2), **pensioner_fields: Any
) -> tuple[VideoAppointment, Any, Any]:
    agent = video_agent(factory)
    pensioner = factory.pensioner(**pensioner_fields)
    row = appointment(factory, pensioner, agent, starts_at=now_minute() + starts_in)
    return row, pensioner, agent


def _frame(data: bytes, name: str = "frame.jpg", kind: str = "image/jpeg") -> dict[str, Any]:
    return {"frame": (name, data, kind)}


async def test_agent_sees_the_call_the_register_data_and_the_photo(
    client: httpx.AsyncClient, factory: Factory, db: Session, settings: Settings
) -> None:
    row, pensioner, agent = _call(factory)
    factory.face(pensioner, photo=b"\xff\xd8\xff enrolled photo")
    headers = factory.auth(agent)
    calls = (await client.get("/api/v1/video-calls", headers=headers)).json()
    assert [c["id"] for c in calls] == [str(row.id)]
    assert calls[0]["pensioner_name"] == pensioner.name and calls[0]["status"] == "booked"
    today = now_minute().date()
    by_day = await client.get(
        "/api/v1/video-calls", params={"day": str(today), "tz": "UTC"}, headers=headers
    )
    assert [c["id"] for c in by_day.json()] == [str(row.id)]
    tomorrow = await client.get(
        "/api/v1/video-calls",
        params={"day": str(today + timedelta(days=1)), "tz": "UTC"},
        headers=headers,
    )
    assert tomorrow.json() == []

    detail = (await client.get(f"/api/v1/video-calls/{row.id}", headers=headers)).json()
    assert detail["pensioner"]["national_id"] == pensioner.national_id
    assert detail["pensioner"]["date_of_birth"] == "1950-03-01"
    assert len(detail["enrolled_photos"]) == 1
    photo = await client.get(detail["enrolled_photos"][0]["url"], headers=headers)
    assert photo.status_code == 200 and photo.content.startswith(b"\xff\xd8\xff")

    # Another agent, or this agent after moving to another region, sees nothing.
    other = factory.auth(video_agent(factory))
    # Not even the photo in scope: an agent sees it only beside a call booked with them.
    not_theirs = await client.get(detail["enrolled_photos"][0]["url"], headers=other)
    assert not_theirs.status_code == 404
    missing = await client.get(f"/api/v1/video-calls/{row.id}", headers=other)
    assert missing.status_code == 404 and missing.json()["error"] == "VideoCallNotFound"
    assert (await client.get("/api/v1/video-calls", headers=other)).json() == []
    agent.region_scope = "31"
    db.add(agent)
    db.commit()
    assert (await client.get(f"/api/v1/video-calls/{row.id}", headers=headers)).status_code == 404
    assert (
        await client.get(detail["enrolled_photos"][0]["url"], headers=headers)
    ).status_code == 404


async def test_frames_are_matched_kept_and_explained(
    client: httpx.AsyncClient, factory: Factory, db: Session, settings: Settings
) -> None:
    row, pensioner, agent = _call(factory)
    enrol(db, factory, settings, pensioner, person=SUBJECT)
    headers = factory.auth(agent)
    url = f"/api/v1/video-calls/{row.id}/frames"

    same = await client.post(url, files=_frame(picture(SUBJECT, 11)), headers=headers)
    assert same.status_code == 201, same.text
    check = same.json()
    assert check["decision"] == "match" and check["score"] >= check["thresholds"]["match"]
    assert set(check["thresholds"]) == {"match", "no_match"}
    assert check["cohort_size"] >= 20 and check["model"] == "fake_face_engine 1"
    image = await client.get(check["image_url"], headers=headers)
    assert image.status_code == 200 and image.content == picture(SUBJECT, 11)

    png = await client.post(
        url, files=_frame(picture(SUBJECT, 12, "PNG"), "f.png", "image/png"), headers=headers
    )
    assert png.status_code == 201 and png.json()["decision"] == "match"
    other = await client.post(url, files=_frame(picture(STRANGER, 13)), headers=headers)
    assert other.status_code == 201 and other.json()["decision"] == "no_match"

    black = await client.post(url, files=_frame(picture(-1, 14)), headers=headers)
    assert black.status_code == 422 and black.json()["error"] == "NoUsableFace"
    assert "no single face" in black.json()["detail"] and black.json()["findings"]
    gif = b"GIF89a" + b"\x00" * 64
    refused = await client.post(url, files=_frame(gif, "f.gif", "image/gif"), headers=headers)
    assert refused.status_code == 415 and "JPEG or PNG" in refused.json()["detail"]
    text = await client.post(url, files=_frame(b"hello " * 50, "f.jpg"), headers=headers)
    assert text.status_code == 415 and text.json()["error"] == "UnsupportedMediaType"
    cut = await client.post(url, files=_frame(picture(SUBJECT, 15)[:600]), headers=headers)
    assert cut.status_code == 422 and cut.json()["error"] == "CorruptImage"

    frames = db.exec(select(CallFrame).where(CallFrame.appointment_id == row.id)).all()
    assert [f.decision for f in frames].count("match") == 2 and len(frames) == 3
    for f in frames:  # encrypted at rest
        assert (settings.resolved_media_dir / f.path).read_bytes()[:4] == b"LCMF"
    detail = (await client.get(f"/api/v1/video-calls/{row.id}", headers=headers)).json()
    assert [f["decision"] for f in detail["frames"]] == ["match", "match", "no_match"]
    audited = db.exec(select(AuditEvent).where(AuditEvent.action == "video_call.frame")).all()
    assert len(audited) == 3


async def test_frames_outside_the_call_or_without_a_photo(
    client: httpx.AsyncClient, factory: Factory, db: Session, settings: Settings
) -> None:
    later, _, agent = _call(factory, starts_in=timedelta(hours=3))
    early = await client.post(
        f"/api/v1/video-calls/{later.id}/frames",
        files=_frame(picture(SUBJECT, 1)),
        headers=factory.auth(agent),
    )
    assert early.status_code == 409 and early.json()["error"] == "CallWindowNotOpen"
    over, _, agent = _call(factory, starts_in=timedelta(hours=-3))
    late = await client.post(
        f"/api/v1/video-calls/{over.id}/frames",
        files=_frame(picture(SUBJECT, 1)),
        headers=factory.auth(agent),
    )
    assert late.status_code == 410 and late.json()["error"] == "CallWindowClosed"
    row, _, agent = _call(factory)
    unenrolled = await client.post(
        f"/api/v1/video-calls/{row.id}/frames",
        files=_frame(picture(SUBJECT, 1)),
        headers=factory.auth(agent),
    )
    assert unenrolled.status_code == 409 and unenrolled.json()["error"] == "NotEnrolled"
    assert "override_reason" in unenrolled.json()["detail"]
    code = await client.post(f"/api/v1/video-calls/{row.id}/read-code", headers=factory.auth(agent))
    assert code.status_code == 200 and code.json()["delivered"] is False


async def test_certified_needs_a_matching_frame_or_an_override(
    client: httpx.AsyncClient, factory: Factory, db: Session, settings: Settings
) -> None:
    row, pensioner, agent = _call(factory)
    enrol(db, factory, settings, pensioner, person=SUBJECT)
    headers = factory.auth(agent)
    base = f"/api/v1/video-calls/{row.id}"
    await client.post(f"{base}/frames", files=_frame(picture(STRANGER, 3)), headers=headers)
    refused = await client.post(f"{base}/outcome", json={"outcome": "certified"}, headers=headers)
    assert refused.status_code == 422 and refused.json()["error"] == "InvalidOutcome"
    assert "1 captured, none matched" in refused.json()["detail"]

    match = (
        await client.post(f"{base}/frames", files=_frame(picture(SUBJECT, 4)), headers=headers)
    ).json()
    code = (await client.post(f"{base}/read-code", headers=headers)).json()["code"]
    done = await client.post(
        f"{base}/outcome", json={"outcome": "certified", "notes": "read the code"}, headers=headers
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "certified" and body["valid_until"] is not None
    certification = db.exec(
        select(Certification).where(Certification.pensioner_id == pensioner.id)
    ).one()
    assert certification.method is CertificationMethod.video_call
    assert certification.decided_by_id == str(agent.id)
    evidence = certification.evidence
    assert [f["decision"] for f in evidence["frames"]] == ["no_match", "match"]
    assert evidence["frames"][1]["frame_id"] == match["id"] and evidence["frames"][1]["sha256"]
    assert [c["code"] for c in evidence["read_codes"]] == [code]
    db.expire_all()
    refreshed = db.get(Pensioner, pensioner.id)
    assert refreshed is not None and str(refreshed.certified_until) == body["valid_until"]
    seen = (
        await client.get(
            f"/api/v1/appointments/{row.id}", headers=factory.auth(pensioner, "pensioner")
        )
    ).json()
    assert seen["status"] == "certified" and seen["valid_until"] == body["valid_until"]
    twice = await client.post(
        f"{base}/outcome", json={"outcome": "not_certified", "reason": "x"}, headers=headers
    )
    assert twice.status_code == 409 and twice.json()["error"] == "AppointmentClosed"
    actions = db.exec(select(AuditEvent.action)).all()
    assert "video_call.certified" in actions and "certification.record" in actions

    # No photo on file: the agent says how identity was checked, and a second staff member
    # confirms before it certifies (tests/app/video_calls/test_four_eyes_calls.py).
    unenrolled, _, other_agent = _call(factory)
    override = await client.post(
        f"/api/v1/video-calls/{unenrolled.id}/outcome",
        json={"outcome": "certified", "override_reason": "passport shown on camera, matches"},
        headers=factory.auth(other_agent),
    )
    assert override.status_code == 200, override.text
    assert override.json()["override_reason"] == "passport shown on camera, matches"
    assert override.json()["status"] == "awaiting_confirmation"
    assert override.json()["certification_id"] is None


async def test_not_certified_needs_a_reason_and_no_show_needs_the_start(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    later, _, agent = _call(factory, starts_in=timedelta(minutes=5))
    headers = factory.auth(agent)
    base = f"/api/v1/video-calls/{later.id}/outcome"
    no_reason = await client.post(base, json={"outcome": "not_certified"}, headers=headers)
    assert no_reason.status_code == 422 and "give a reason" in no_reason.json()["detail"]
    wrong = await client.post(
        base, json={"outcome": "no_show", "override_reason": "x"}, headers=headers
    )
    assert wrong.status_code == 422 and "only for the outcome 'certified'" in wrong.json()["detail"]
    too_soon = await client.post(base, json={"outcome": "no_show"}, headers=headers)
    assert too_soon.status_code == 422 and "after the start time" in too_soon.json()["detail"]
    future, _, agent2 = _call(factory, starts_in=timedelta(hours=2))
    not_open = await client.post(
        f"/api/v1/video-calls/{future.id}/outcome",
        json={"outcome": "not_certified", "reason": "r"},
        headers=factory.auth(agent2),
    )
    assert not_open.status_code == 409 and not_open.json()["error"] == "CallWindowNotOpen"


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({}, TaskKind.community_visit),
        ({"mobility_limited": True}, TaskKind.home_visit),
        (
            {
                "residence": Residence.overseas,
                "overseas_country": "CA",
                "overseas_timezone": "America/Toronto",
            },
            TaskKind.remote_prompt,
        ),
    ],
)
async def test_no_shows_lead_to_a_verification_task(
    client: httpx.AsyncClient,
    factory: Factory,
    db: Session,
    fields: dict[str, Any],
    kind: TaskKind,
) -> None:
    agent = video_agent(factory)
    pensioner = factory.pensioner(**fields)
    headers = factory.auth(agent)
    first = appointment(factory, pensioner, agent, starts_at=now_minute() - timedelta(days=3))
    one = await client.post(
        f"/api/v1/video-calls/{first.id}/outcome", json={"outcome": "no_show"}, headers=headers
    )
    assert one.status_code == 200, one.text  # a lapsed-in-time call can still be decided
    assert one.json()["follow_up_task_id"] is None
    second = appointment(factory, pensioner, agent, starts_at=now_minute() - timedelta(minutes=5))
    two = await client.post(
        f"/api/v1/video-calls/{second.id}/outcome", json={"outcome": "no_show"}, headers=headers
    )
    assert two.status_code == 200, two.text
    task_id = two.json()["follow_up_task_id"]
    task = db.exec(
        select(VerificationTask).where(VerificationTask.pensioner_id == pensioner.id)
    ).one()
    assert str(task.id) == task_id and task.kind is kind and task.reason == "video_call_no_show"
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "video_call.no_show")).all()


async def test_real_face_engine_matches_a_frame_of_the_video(
    settings: Settings, backend: Backend, factory: Factory, db: Session
) -> None:
    """End to end with dlib: the pensioner enrolled from one moment of their video, the agent
    captures another moment of it."""
    face_engine = DlibFaceEngine()
    application = create_app(
        settings,
        engine=backend.engine,
        face_engine=face_engine,
        job_queue=RecordingQueue(),  # type: ignore[arg-type]
    )
    enrol_cohort(db, factory, face_engine)
    pensioner = enrol_clip_person(db, factory, settings, face_engine)
    agent = video_agent(factory)
    row = appointment(factory, pensioner, agent, starts_at=now_minute())
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post(
            f"/api/v1/video-calls/{row.id}/frames",
            files=_frame(frame_jpeg(SELFIE_CLIP, 60)),
            headers=factory.auth(agent),
        )
    assert response.status_code == 201, response.text
    check = response.json()
    assert check["decision"] == "match", check
    assert check["model"].startswith("dlib_face_recognition_resnet_model_v1")


async def test_deleting_a_pensioner_removes_calls_frames_and_certificates(
    client: httpx.AsyncClient, factory: Factory, db: Session, settings: Settings
) -> None:
    from models.consular import ConsularDocument
    from models.video_call import AppointmentReminder, CallReminderKind

    row, pensioner, agent = _call(factory)
    enrol(db, factory, settings, pensioner, person=SUBJECT)
    frame = await client.post(
        f"/api/v1/video-calls/{row.id}/frames",
        files=_frame(picture(SUBJECT, 5)),
        headers=factory.auth(agent),
    )
    assert frame.status_code == 201
    db.add(AppointmentReminder(appointment_id=row.id, kind=CallReminderKind.hour_before))
    db.add(
        ConsularDocument(
            pensioner_id=pensioner.id,
            region_code=pensioner.region_code,
            file_path="consular/x.pdf",
            file_sha256="0" * 64,
            file_format="pdf",
            file_bytes=1,
        )
    )
    db.commit()
    stored = settings.resolved_media_dir / db.exec(select(CallFrame)).one().path
    row_id = row.id
    assert stored.exists()
    admin = factory.auth(factory.staff("admin", scope="11"))
    deleted = await client.delete(f"/api/v1/pensioners/{pensioner.id}", headers=admin)
    assert deleted.status_code == 204, deleted.text
    db.expire_all()
    assert db.get(VideoAppointment, row_id) is None and not stored.exists()
    assert not db.exec(select(ConsularDocument)).all()


async def test_an_agent_sees_the_photo_only_while_the_call_is_booked(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    row, pensioner, agent = _call(factory)
    face = factory.face(pensioner, photo=b"\xff\xd8\xff enrolled photo")
    url = f"/api/v1/pensioners/{pensioner.id}/faces/{face.id}/photo"  # type: ignore[attr-defined]
    headers = factory.auth(agent)
    assert (await client.get(url, headers=headers)).status_code == 200
    row.status = AppointmentStatus.not_certified
    db.add(row)
    db.commit()
    gone = await client.get(url, headers=headers)
    assert gone.status_code == 404 and gone.json()["error"] == "FaceNotFound"
    # Staff who enrol or review still see it.
    worker = factory.auth(factory.staff("community_worker", scope="110105"))
    assert (await client.get(url, headers=worker)).status_code == 200
