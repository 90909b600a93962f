"""Data the browser tests start from, written straight into the live service's database."""

from __future__ import annotations

import hashlib
import io
import uuid
from datetime import UTC, datetime, time, timedelta

from PIL import Image

from app import media
from app.audit.service import SYSTEM
from app.certifications.service import certify
from app.faces import service as faces
from biometrics import DlibFaceEngine
from models.attempt import AttemptStatus, CertificationAttempt, ReviewCase
from models.certification import CertificationMethod
from models.consular import ConsularDocument
from models.pensioner import Pensioner, Residence
from models.staff import StaffUser
from models.video_call import AppointmentStatus, AvailabilityRule, VideoAppointment
from tests.app.attempts.clips import SELFIE_CLIP, frame_jpeg
from tests.conftest import FIXTURES, Factory

ENROLMENT_PHOTO = (FIXTURES / "faces" / "fr_obama" / "1.jpg").read_bytes()
SELFIE_PHOTO = (FIXTURES / "faces" / "fr_obama" / "2.jpg").read_bytes()


def review_case(seed: Factory, engine: DlibFaceEngine, *, name: str) -> ReviewCase:
    """An attempt that needs a reviewer: enrolled photo, selfie, two key frames, scores."""
    pensioner = seed.pensioner("110105", name=name)
    assert isinstance(pensioner, Pensioner)
    faces.enrol(
        session=seed.session,
        settings=seed.settings,
        engine=engine,
        pensioner=pensioner,
        data=ENROLMENT_PHOTO,
        actor=SYSTEM,
    )
    attempt = seed.attempt(pensioner)
    assert isinstance(attempt, CertificationAttempt)
    base = f"attempts/{pensioner.id}/{attempt.id}"
    attempt.selfie_path = f"{base}/selfie"
    media.store(settings=seed.settings, relative=attempt.selfie_path, data=SELFIE_PHOTO)
    frames = [f"{base}/frame_{i}.jpg" for i in range(2)]
    for i, relative in enumerate(frames):
        media.store(
            settings=seed.settings, relative=relative, data=frame_jpeg(SELFIE_CLIP, 60 + 90 * i)
        )
    attempt.status = AttemptStatus.needs_review
    attempt.decided_at = datetime.now(UTC) - timedelta(hours=5)
    attempt.reasons = ["cohort_too_small"]
    attempt.decision = {
        "key_frames": frames,
        "face_selfie": {"decision": "review", "score": 3.1, "distance": 0.48},
        "video": {
            "live": True,
            "checks": {"challenge": {"value": 2.0, "threshold": 2.0, "passed": True}},
        },
    }
    case = ReviewCase(
        attempt_id=attempt.id,
        pensioner_id=pensioner.id,
        region_code=pensioner.region_code,
        low_score=False,
    )
    seed.session.add_all([attempt, case])
    seed.session.commit()
    return case


def certified_history(seed: Factory, *, name: str) -> Pensioner:
    """A pensioner certified twice, by two methods, for the record view and the dashboard."""
    pensioner = seed.pensioner("110105", name=name)
    assert isinstance(pensioner, Pensioner)
    now = datetime.now(UTC)
    for when, method in (
        (now - timedelta(days=200), CertificationMethod.community_visit),
        (now - timedelta(days=3), CertificationMethod.data_comparison),
    ):
        certify(
            session=seed.session,
            pensioner=pensioner,
            method=method,
            evidence={},
            actor=SYSTEM,
            default_period_months=12,
            certified_at=when,
        )
    seed.session.commit()
    return pensioner


def video_agent(seed: Factory, *, username: str, zone: str = "Asia/Shanghai") -> StaffUser:
    """A video agent working 09:00-12:00 every day in their own zone."""
    agent = seed.staff("video_agent", scope="11", username=username)
    assert isinstance(agent, StaffUser)
    for weekday in range(7):
        seed.session.add(
            AvailabilityRule(
                agent_id=agent.id,
                weekday=weekday,
                start_time=time(9),
                end_time=time(12),
                timezone=zone,
            )
        )
    seed.session.commit()
    return agent


def abroad(seed: Factory, *, name: str, zone: str = "Pacific/Auckland") -> Pensioner:
    pensioner = seed.pensioner(
        "110105",
        name=name,
        residence=Residence.overseas,
        overseas_country="NZ",
        overseas_timezone=zone,
    )
    assert isinstance(pensioner, Pensioner)
    return pensioner


def call_now(seed: Factory, pensioner: Pensioner, agent: StaffUser) -> VideoAppointment:
    """A booked call that started two minutes ago (its room is open)."""
    now = datetime.now(UTC).replace(microsecond=0)
    appointment = VideoAppointment(
        pensioner_id=pensioner.id,
        agent_id=agent.id,
        region_code=pensioner.region_code,
        starts_at=now - timedelta(minutes=2),
        ends_at=now + timedelta(minutes=18),
        status=AppointmentStatus.booked,
        eligibility=["overseas"],
        timezone=pensioner.overseas_timezone or "Asia/Shanghai",
    )
    seed.session.add(appointment)
    seed.session.commit()
    return appointment


def consular_document(seed: Factory, pensioner: Pensioner) -> ConsularDocument:
    """A pending scan of a consular life certificate (a PNG)."""
    relative = f"consular/{pensioner.id}/{uuid.uuid4()}.png"
    image = Image.new("RGB", (600, 400), (250, 250, 245))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    media.store(settings=seed.settings, relative=relative, data=data)
    document = ConsularDocument(
        pensioner_id=pensioner.id,
        region_code=pensioner.region_code,
        file_path=relative,
        file_sha256=hashlib.sha256(data).hexdigest(),
        file_format="png",
        file_bytes=len(data),
        consulate="驻新西兰使馆",
    )
    seed.session.add(document)
    seed.session.commit()
    return document
