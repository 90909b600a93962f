"""The request side of remote certification: challenges, uploads, refusals and lockouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
from sqlmodel import Session, select

from app.config import Settings
from models.attempt import AttemptStatus, CertificationAttempt
from tests.app.attempts.clips import SELFIE_CLIP
from tests.conftest import FIXTURES, Factory, RecordingQueue

BASE = "/api/v1/certifications/attempts"
SELFIE = (FIXTURES / "faces" / "fr_obama" / "1.jpg").read_bytes()


def _enrolled(factory: Factory) -> tuple[object, dict[str, str]]:
    pensioner = factory.pensioner()
    factory.face(pensioner)
    return pensioner, factory.auth(pensioner, "pensioner")


async def _start(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, object]:
    response = await client.post(BASE, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def _upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    attempt: dict[str, object],
    *,
    selfie: bytes = SELFIE,
    video: bytes | None = None,
    nonce: str | None = None,
) -> httpx.Response:
    challenge = attempt["challenge"]
    assert isinstance(challenge, dict)
    return await client.post(
        f"{BASE}/{attempt['id']}/upload",
        files={
            "selfie": ("s.jpg", selfie, "image/jpeg"),
            "video": (
                "v.mp4",
                video if video is not None else SELFIE_CLIP.read_bytes(),
                "video/mp4",
            ),
        },
        data={"nonce": nonce or challenge["nonce"]},
        headers=headers,
    )


async def test_challenge_is_random_bound_and_short_lived(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    _, headers = _enrolled(factory)
    attempt = await _start(client, headers)
    challenge = attempt["challenge"]
    assert isinstance(challenge, dict)
    assert 2 <= len(challenge["actions"]) <= 3
    assert len(set(challenge["actions"])) == len(challenge["actions"])
    assert set(challenge["actions"]) <= {"blink", "turn_left", "turn_right", "open_mouth"}
    expires = datetime.fromisoformat(challenge["expires_at"])
    assert timedelta(minutes=4) < expires - datetime.now(UTC) <= timedelta(minutes=5)
    assert attempt["status"] == "awaiting_upload"


async def test_upload_is_queued_and_answered_at_once(
    client: httpx.AsyncClient,
    factory: Factory,
    job_queue: RecordingQueue,
    db: Session,
    settings: Settings,
) -> None:
    _, headers = _enrolled(factory)
    attempt = await _start(client, headers)
    response = await _upload(client, headers, attempt)
    assert response.status_code == 202
    assert response.json()["status"] == "processing"
    assert [str(a) for a in job_queue.attempts] == [attempt["id"]]
    stored = db.exec(select(CertificationAttempt)).one()
    assert stored.selfie_path and (settings.resolved_media_dir / stored.selfie_path).exists()


async def test_reused_challenge(client: httpx.AsyncClient, factory: Factory) -> None:
    _, headers = _enrolled(factory)
    attempt = await _start(client, headers)
    assert (await _upload(client, headers, attempt)).status_code == 202
    again = await _upload(client, headers, attempt)
    assert again.status_code == 409
    assert again.json()["error"] == "ChallengeAlreadyUsed"


async def test_same_video_for_a_new_challenge_is_a_replay(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    _, headers = _enrolled(factory)
    assert (await _upload(client, headers, await _start(client, headers))).status_code == 202
    replay = await _upload(client, headers, await _start(client, headers))
    assert replay.status_code == 409
    assert "already submitted" in replay.json()["detail"]


async def test_expired_challenge(client: httpx.AsyncClient, factory: Factory) -> None:
    _, headers = _enrolled(factory)
    attempt = await _start(client, headers)
    with factory.session.get_bind().begin() as conn:
        conn.execute(
            sa.text("UPDATE certification_attempt SET challenge_expires_at = :t"),
            {"t": datetime.now(UTC) - timedelta(seconds=1)},
        )
    response = await _upload(client, headers, attempt)
    assert response.status_code == 410
    assert response.json()["error"] == "ChallengeExpired"
    status = (await client.get(f"{BASE}/{attempt['id']}", headers=headers)).json()
    assert status["status"] == "expired"


async def test_wrong_nonce(client: httpx.AsyncClient, factory: Factory) -> None:
    _, headers = _enrolled(factory)
    attempt = await _start(client, headers)
    response = await _upload(client, headers, attempt, nonce="not-the-nonce")
    assert response.status_code == 409
    assert response.json()["error"] == "ChallengeMismatch"


async def test_upload_for_someone_elses_attempt(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    _, owner = _enrolled(factory)
    _, other = _enrolled(factory)
    attempt = await _start(client, owner)
    response = await _upload(client, other, attempt)
    assert response.status_code == 404
    assert response.json()["error"] == "AttemptNotFound"


async def test_wrong_content_types(client: httpx.AsyncClient, factory: Factory) -> None:
    _, headers = _enrolled(factory)
    attempt = await _start(client, headers)
    photo_as_video = await _upload(client, headers, attempt, video=SELFIE)
    assert photo_as_video.status_code == 415
    assert "not a video" in photo_as_video.json()["detail"]
    text_as_selfie = await _upload(client, headers, attempt, selfie=b"hello, I am alive")
    assert text_as_selfie.status_code == 415
    assert text_as_selfie.json()["error"] == "UnsupportedMediaType"
    # Refusals did not use up the challenge.
    assert (await _upload(client, headers, attempt)).status_code == 202


async def test_upload_over_the_size_limit(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    settings.max_video_bytes = 1024 * 1024
    _, headers = _enrolled(factory)
    attempt = await _start(client, headers)
    response = await _upload(
        client, headers, attempt, video=b"\x00\x00\x00\x18ftypmp42" + b"\x00" * (2 * 1024 * 1024)
    )
    assert response.status_code == 413
    assert response.json()["error"] in {"PayloadTooLarge", "FileTooLarge"}


async def test_fourth_attempt_in_a_day_is_refused_with_human_routes(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    _, headers = _enrolled(factory)
    for _ in range(3):
        attempt = await _start(client, headers)
        row = db.get(CertificationAttempt, __import__("uuid").UUID(attempt["id"]))
        assert row is not None
        row.status = AttemptStatus.rejected
        db.add(row)
        db.commit()
    response = await client.post(BASE, headers=headers)
    assert response.status_code == 423
    body = response.json()
    assert body["error"] == "AttemptsLockedOut"
    assert body["human_routes"] == ["video_call", "community_visit"]


async def test_not_enrolled_is_told_the_human_routes(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    pensioner = factory.pensioner()
    response = await client.post(BASE, headers=factory.auth(pensioner, "pensioner"))
    assert response.status_code == 409
    assert response.json()["error"] == "NotEnrolled"
    assert "video call" in response.json()["detail"]


async def test_staff_token_cannot_start_an_attempt(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    response = await client.post(BASE, headers=factory.auth(factory.staff("admin")))
    assert response.status_code == 401


async def test_stranded_jobs_are_queued_again(
    client: httpx.AsyncClient, factory: Factory, job_queue: RecordingQueue, db: Session
) -> None:
    from app.attempts.service import requeue_stranded

    _, headers = _enrolled(factory)
    attempt = await _start(client, headers)
    assert (await _upload(client, headers, attempt)).status_code == 202
    recent = requeue_stranded(
        session=db, queue=job_queue, older_than=timedelta(minutes=10), lease=timedelta(minutes=5)
    )
    assert recent == []  # just uploaded: its job is still on its way
    lost = requeue_stranded(
        session=db, queue=job_queue, older_than=timedelta(0), lease=timedelta(minutes=5)
    )
    assert [str(a) for a in lost] == [attempt["id"]]
    assert [str(a) for a in job_queue.attempts] == [attempt["id"], attempt["id"]]
    row = db.exec(select(CertificationAttempt)).one()
    row.status = AttemptStatus.certified
    db.add(row)
    db.commit()
    assert (
        requeue_stranded(session=db, queue=job_queue, older_than=timedelta(0), lease=timedelta(0))
        == []
    )
