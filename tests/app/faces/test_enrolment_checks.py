"""Enrolment cannot be poisoned: another person's photo, a photo of someone enrolled under
another ID, or the same photo again does not move a gallery without a second staff member;
whoever changed the photos does not run or decide that person's certification (real dlib)."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import httpx
from PIL import Image
from sqlmodel import Session, select

from app.audit.service import SYSTEM
from app.config import Settings
from app.faces import service
from biometrics import DlibFaceEngine
from models.face import EnrolledFace, FaceGallery
from tests.app.attempts.clips import calibrate_register, enrol_cohort
from tests.conftest import FIXTURES, Factory

FACES = FIXTURES / "faces"
PERSON = FACES / "deepface_c01"  # never in the test cohort
STRANGER = FACES / "deepface_c03"


def _url(pensioner: object) -> str:
    return f"/api/v1/pensioners/{pensioner.id}/faces"  # type: ignore[attr-defined]


async def _enrol(
    client: httpx.AsyncClient, pensioner: object, headers: dict[str, str], photo: Path | bytes
) -> httpx.Response:
    data = photo if isinstance(photo, bytes) else photo.read_bytes()
    return await client.post(
        _url(pensioner), files={"photo": ("p.jpg", data, "image/jpeg")}, headers=headers
    )


async def _approve(
    client: httpx.AsyncClient, pensioner: object, face_id: str, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(
        f"{_url(pensioner)}/{face_id}/approval", json={"approve": True}, headers=headers
    )


def _gallery_faces(db: Session, pensioner: object) -> int:
    gallery = db.get(FaceGallery, pensioner.id)  # type: ignore[attr-defined]
    return gallery.faces if gallery else 0


async def test_another_persons_photo_waits_and_leaves_the_gallery_alone(
    client: httpx.AsyncClient, factory: Factory, db: Session, face_engine: DlibFaceEngine
) -> None:
    enrol_cohort(db, factory, face_engine)  # 60 people, calibrated at 1%
    pensioner = factory.pensioner()
    worker = factory.staff("community_worker", scope="110105")
    worker_auth = factory.auth(worker)
    reviewer = factory.auth(factory.staff("reviewer", scope="11"))

    first = await _enrol(client, pensioner, worker_auth, PERSON / "1.jpg")
    assert first.status_code == 201 and first.json()["pending"] is True
    # Neither the worker (role) nor an admin who enrolled a photo may approve their own.
    assert (await _approve(client, pensioner, first.json()["id"], worker_auth)).status_code == 403
    assert (await _approve(client, pensioner, first.json()["id"], reviewer)).status_code == 200
    assert _gallery_faces(db, pensioner) == 1

    # The same person again: it matches the photo on file and joins at once.
    same = await _enrol(client, pensioner, worker_auth, PERSON / "3.jpg")
    assert same.status_code == 201, same.text
    check = same.json()["enrolment_check"]
    assert same.json()["active"] is True and check["waits_for"] == [], check
    assert check["own"]["decision"] == "match"
    assert _gallery_faces(db, pensioner) == 2
    db.expire_all()
    mean_before = db.get(FaceGallery, pensioner.id).cohort_mean  # type: ignore[attr-defined]

    # Someone else on this person's record: it waits, and the gallery does not move.
    for photo in sorted(STRANGER.glob("*.jpg"))[:4]:
        other = await _enrol(client, pensioner, worker_auth, photo)
        assert other.status_code == 201, other.text
        body = other.json()
        assert body["pending"] is True and body["active"] is False
        assert "does_not_match_photos_on_file" in body["enrolment_check"]["waits_for"]
    db.expire_all()
    assert _gallery_faces(db, pensioner) == 2
    assert db.get(FaceGallery, pensioner.id).cohort_mean == mean_before  # type: ignore[attr-defined]

    pending = await client.get("/api/v1/faces/pending", headers=reviewer)
    assert pending.status_code == 200
    assert len(pending.json()) == 4
    refused = await client.post(
        f"{_url(pensioner)}/{pending.json()[0]['id']}/approval",
        json={"approve": False, "reason": "not the pensioner"},
        headers=reviewer,
    )
    assert refused.status_code == 200 and refused.json()["retired_at"]
    again = await client.post(
        f"{_url(pensioner)}/{pending.json()[0]['id']}/approval",
        json={"approve": True},
        headers=reviewer,
    )
    assert again.status_code == 409 and again.json()["error"] == "FaceNotPending"
    no_reason = await client.post(
        f"{_url(pensioner)}/{pending.json()[1]['id']}/approval",
        json={"approve": False},
        headers=reviewer,
    )
    assert no_reason.status_code == 422


async def test_the_same_photo_or_a_resaved_copy_is_not_counted_twice(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    pensioner = factory.pensioner()
    admin = factory.auth(factory.staff("admin"))
    photo = (PERSON / "1.jpg").read_bytes()
    assert (await _enrol(client, pensioner, admin, photo)).status_code == 201
    same = await _enrol(client, pensioner, admin, photo)
    assert same.status_code == 409 and same.json()["error"] == "DuplicatePhoto"
    # The same picture resized and saved again: other bytes, the same face.
    image = Image.open(io.BytesIO(photo)).convert("RGB")
    smaller = image.resize((image.width * 9 // 10, image.height * 9 // 10))
    buffer = io.BytesIO()
    smaller.save(buffer, format="JPEG", quality=85)
    copy = await _enrol(client, pensioner, admin, buffer.getvalue())
    assert copy.status_code == 409 and "copy" in copy.json()["detail"]
    assert len(db.exec(select(EnrolledFace)).all()) == 1


async def test_a_face_enrolled_under_another_id_is_flagged(
    client: httpx.AsyncClient,
    factory: Factory,
    db: Session,
    settings: Settings,
    face_engine: DlibFaceEngine,
) -> None:
    enrol_cohort(db, factory, face_engine, calibrate=False)
    first_id = factory.pensioner()
    service.enrol(
        session=db,
        settings=settings,
        engine=face_engine,
        pensioner=first_id,
        data=(PERSON / "1.jpg").read_bytes(),
        actor=SYSTEM,  # an archive import: trusted, active at once
    )
    db.commit()
    calibrate_register(db, settings)
    second_id = factory.pensioner()
    worker = factory.auth(factory.staff("community_worker", scope="110105"))
    response = await _enrol(client, second_id, worker, PERSON / "3.jpg")
    assert response.status_code == 201, response.text
    check = response.json()["enrolment_check"]
    assert "resembles_another_pensioner" in check["waits_for"]
    assert check["others"]["flagged"][0]["pensioner_id"] == str(first_id.id)  # type: ignore[attr-defined]
    assert check["others"]["checked"] == 61
    assert check["others"]["closest"][0]["pensioner_id"] == str(first_id.id)  # type: ignore[attr-defined]


async def test_who_changed_the_photos_neither_operates_nor_decides_that_certification(
    client: httpx.AsyncClient, factory: Factory, db: Session, settings: Settings
) -> None:
    pensioner = factory.pensioner()
    worker = factory.staff("community_worker", scope="110105")
    other_worker = factory.staff("community_worker", scope="110105")
    reviewer = factory.staff("reviewer", scope="11")
    face = await _enrol(client, pensioner, factory.auth(worker), PERSON / "1.jpg")
    assert (
        await _approve(client, pensioner, face.json()["id"], factory.auth(reviewer))
    ).status_code == 200

    assisted = f"/api/v1/pensioners/{pensioner.id}/assisted-attempts"  # type: ignore[attr-defined]
    refused = await client.post(assisted, headers=factory.auth(worker))
    assert refused.status_code == 403 and "30 days" in refused.json()["detail"]
    allowed = await client.post(assisted, headers=factory.auth(other_worker))
    assert allowed.status_code == 201, allowed.text

    from models.attempt import CertificationAttempt
    from tests.app.reviews.test_review_queue import _case

    case = _case(factory, settings, low=False)
    # The reviewer who approved this pensioner's photo may not decide their case.
    attempt_owner = db.get(EnrolledFace, uuid.UUID(face.json()["id"]))
    assert attempt_owner is not None
    case.pensioner_id = attempt_owner.pensioner_id
    attempt = db.get(CertificationAttempt, case.attempt_id)
    assert attempt is not None
    attempt.pensioner_id = attempt_owner.pensioner_id
    db.add_all([case, attempt])
    db.commit()
    decided = await client.post(
        f"/api/v1/reviews/{case.id}/decision",
        json={"verdict": "approve"},
        headers=factory.auth(reviewer),
    )
    assert decided.status_code == 403 and "30 days" in decided.json()["detail"]
    fresh = factory.staff("reviewer", scope="11")
    decided = await client.post(
        f"/api/v1/reviews/{case.id}/decision",
        json={"verdict": "approve"},
        headers=factory.auth(fresh),
    )
    assert decided.status_code == 200, decided.text
