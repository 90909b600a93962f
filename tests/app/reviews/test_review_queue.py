"""The review queue: oldest first within scope, the evidence, four eyes on low scores."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from sqlmodel import Session, select

from app import media
from app.config import Settings
from models.attempt import AttemptStatus, CertificationAttempt, ReviewCase, ReviewStatus
from models.certification import Certification
from tests.conftest import Factory

URL = "/api/v1/reviews"


def _case(
    factory: Factory,
    settings: Settings,
    *,
    region: str = "110105",
    low: bool = True,
    operated_by: str | None = None,
    age_hours: float = 1.0,
) -> ReviewCase:
    pensioner = factory.pensioner(region)
    factory.face(pensioner)
    attempt = factory.attempt(pensioner)
    assert isinstance(attempt, CertificationAttempt)
    base = f"attempts/{pensioner.id}/{attempt.id}"  # type: ignore[attr-defined]
    for name in ("selfie", "frame_0.jpg", "frame_1.jpg"):
        media.store(
            settings=settings,
            relative=f"{base}/{name}",
            data=b"\xff\xd8\xff\xe0 image " + name.encode(),
        )
    attempt.status = AttemptStatus.needs_review
    attempt.selfie_path = f"{base}/selfie"
    attempt.operated_by = operated_by
    attempt.reasons = ["face_review"]
    attempt.decision = {
        "face_selfie": {"decision": "review", "score": 3.1},
        "key_frames": [f"{base}/frame_0.jpg", f"{base}/frame_1.jpg"],
    }
    case = ReviewCase(
        attempt_id=attempt.id,
        pensioner_id=attempt.pensioner_id,
        region_code=region,
        low_score=low,
        created_at=datetime.now(UTC) - timedelta(hours=age_hours),
    )
    factory.session.add_all([attempt, case])
    factory.session.commit()
    return case


async def test_queue_is_oldest_first_and_scoped(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    newer = _case(factory, settings, age_hours=1)
    older = _case(factory, settings, age_hours=30)
    _case(factory, settings, region="310115")
    reviewer = factory.auth(factory.staff("reviewer", scope="11"))
    cases = (await client.get(URL, headers=reviewer)).json()
    assert [c["id"] for c in cases] == [str(older.id), str(newer.id)]
    assert cases[0]["age_hours"] >= 29.9 and cases[0]["reasons"] == ["face_review"]


async def test_case_shows_photos_frames_and_scores(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    case = _case(factory, settings)
    reviewer = factory.auth(factory.staff("reviewer", scope="11"))
    detail = (await client.get(f"{URL}/{case.id}", headers=reviewer)).json()
    assert detail["decision"]["face_selfie"]["score"] == 3.1
    assert len(detail["enrolled_photos"]) == 1 and len(detail["key_frames"]) == 2
    for url in [detail["selfie"], *detail["key_frames"], *detail["enrolled_photos"]]:
        got = await client.get(url, headers=reviewer)
        assert got.status_code == 200, url
        assert got.content.startswith(b"\xff\xd8")
    missing = await client.get(f"{URL}/{case.id}/media/frame_9", headers=reviewer)
    assert missing.status_code == 404


async def test_low_score_approval_needs_a_second_reviewer(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, db: Session
) -> None:
    case = _case(factory, settings, low=True)
    first = factory.auth(factory.staff("reviewer", scope="11"))
    second = factory.auth(factory.staff("reviewer", scope="110105"))
    approve = {"verdict": "approve"}
    one = await client.post(f"{URL}/{case.id}/decision", json=approve, headers=first)
    assert one.json()["status"] == "awaiting_second_review"
    again = await client.post(f"{URL}/{case.id}/decision", json=approve, headers=first)
    assert again.status_code == 403 and "different reviewer" in again.json()["detail"]
    two = await client.post(f"{URL}/{case.id}/decision", json=approve, headers=second)
    assert two.json()["status"] == "approved"
    attempt = db.get(CertificationAttempt, case.attempt_id)
    assert attempt is not None and attempt.status is AttemptStatus.certified
    cert = db.exec(select(Certification)).one()
    assert len(cert.evidence["reviewers"]) == 2
    closed = await client.post(f"{URL}/{case.id}/decision", json=approve, headers=second)
    assert closed.status_code == 409


async def test_high_score_case_needs_one_approval(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    case = _case(factory, settings, low=False)
    reviewer = factory.auth(factory.staff("reviewer"))
    done = await client.post(
        f"{URL}/{case.id}/decision", json={"verdict": "approve"}, headers=reviewer
    )
    assert done.json()["status"] == "approved"


async def test_reject_needs_a_reason_and_new_attempt_reopens(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, db: Session
) -> None:
    reviewer = factory.auth(factory.staff("reviewer"))
    case = _case(factory, settings)
    no_reason = await client.post(
        f"{URL}/{case.id}/decision", json={"verdict": "reject"}, headers=reviewer
    )
    assert no_reason.status_code == 422
    rejected = await client.post(
        f"{URL}/{case.id}/decision",
        json={"verdict": "reject", "reason": "another person"},
        headers=reviewer,
    )
    assert rejected.json()["status"] == "rejected"
    other = _case(factory, settings)
    retry = await client.post(
        f"{URL}/{other.id}/decision",
        json={"verdict": "new_attempt", "reason": "too dark"},
        headers=reviewer,
    )
    assert retry.json()["status"] == ReviewStatus.new_attempt_requested.value
    attempt = db.get(CertificationAttempt, other.attempt_id)
    assert attempt is not None and attempt.status is AttemptStatus.retry


async def test_operator_of_an_assisted_capture_cannot_decide_it(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    staff = factory.staff("reviewer", "community_worker")
    case = _case(factory, settings, operated_by=f"staff:{staff.id}")  # type: ignore[attr-defined]
    response = await client.post(
        f"{URL}/{case.id}/decision", json={"verdict": "approve"}, headers=factory.auth(staff)
    )
    assert response.status_code == 403
    assert "operated the device" in response.json()["detail"]


async def test_assisted_capture_records_the_staff_member(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    pensioner = factory.pensioner()
    factory.face(pensioner)
    worker = factory.staff("community_worker", scope="110105")
    response = await client.post(
        f"/api/v1/pensioners/{pensioner.id}/assisted-attempts",  # type: ignore[attr-defined]
        headers=factory.auth(worker),
    )
    assert response.status_code == 201, response.text
    assert response.json()["operated_by"] == f"staff:{worker.id}"  # type: ignore[attr-defined]


async def test_reviewers_verdicts_become_labelled_face_comparisons(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, db: Session
) -> None:
    from models.face import FaceLabel

    face = {"score": 2.2, "model_name": "m", "model_version": "1", "calibration_id": 7}
    cases = [_case(factory, settings, low=False) for _ in range(3)]
    for case in cases:
        attempt = db.get(CertificationAttempt, case.attempt_id)
        assert attempt is not None
        attempt.decision = {**attempt.decision, "face": face}
        db.add(attempt)
    db.commit()
    reviewer = factory.auth(factory.staff("reviewer", scope="11"))
    bodies = [
        {"verdict": "approve"},
        {"verdict": "reject", "reason": "someone else", "same_person": False},
        {"verdict": "reject", "reason": "too dark to tell"},  # not a verdict on identity
    ]
    for case, body in zip(cases, bodies, strict=True):
        response = await client.post(f"{URL}/{case.id}/decision", json=body, headers=reviewer)
        assert response.status_code == 200, response.text
    labels = {label.attempt_id: label for label in db.exec(select(FaceLabel)).all()}
    assert set(labels) == {cases[0].attempt_id, cases[1].attempt_id}
    assert labels[cases[0].attempt_id].genuine is True
    assert labels[cases[1].attempt_id].genuine is False
    assert labels[cases[1].attempt_id].score == 2.2
    assert labels[cases[1].attempt_id].calibration_id == 7
    assert labels[cases[1].attempt_id].region_code == "110105"
    # An approval cannot say it was another person.
    other = _case(factory, settings, low=False)
    refused = await client.post(
        f"{URL}/{other.id}/decision",
        json={"verdict": "approve", "same_person": False},
        headers=reviewer,
    )
    assert refused.status_code == 422


async def test_reviewers_deciding_one_case_at_once_certify_it_once(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, db: Session
) -> None:
    """Found by scripts/load.py on PostgreSQL: two approvals at once both read the case as
    open and certified it twice. The case row is locked before its status is read."""
    case = _case(factory, settings, low=False)
    reviewers = [factory.auth(factory.staff("reviewer")) for _ in range(6)]
    answers = await asyncio.gather(
        *(
            client.post(f"{URL}/{case.id}/decision", json={"verdict": "approve"}, headers=r)
            for r in reviewers
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [409] * 5, [a.text for a in answers]
    assert {a.json()["error"] for a in answers if a.status_code == 409} == {"ReviewClosed"}
    certifications = db.exec(select(Certification)).all()
    assert [c.evidence["review_case_id"] for c in certifications] == [str(case.id)]
