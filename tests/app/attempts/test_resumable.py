"""Resumable uploads (tus 1.0 core, creation, expiration) of an attempt's selfie and video:
chunks at offsets, resuming, the limits on the first chunk, expiry and cleanup, and the same
202/processing flow as the one-request upload."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from sqlmodel import Session, select

from app import media
from app.attempts import resumable
from app.config import Settings
from models.attempt import AttemptStatus, CertificationAttempt
from models.upload import ResumableUpload
from tests.app.attempts.clips import SELFIE_CLIP
from tests.conftest import FIXTURES, Factory, RecordingQueue

BASE = "/api/v1/certifications"
SELFIE = (FIXTURES / "faces" / "fr_obama" / "1.jpg").read_bytes()
VIDEO = SELFIE_CLIP.read_bytes()
TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = "application/offset+octet-stream"


def _enrolled(factory: Factory) -> dict[str, str]:
    pensioner = factory.pensioner()
    factory.face(pensioner)
    return factory.auth(pensioner, "pensioner") | TUS


async def _start(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post(f"{BASE}/attempts", headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _metadata(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


async def _create(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    attempt: dict[str, Any],
    part: str,
    length: int,
    *,
    nonce: str | None = None,
) -> httpx.Response:
    return await client.post(
        f"{BASE}/attempts/{attempt['id']}/uploads",
        headers=headers
        | {
            "Upload-Length": str(length),
            "Upload-Metadata": _metadata(
                part=part, nonce=nonce or attempt["challenge"]["nonce"], mirrored="false"
            ),
        },
    )


async def _created(
    client: httpx.AsyncClient, headers: dict[str, str], attempt: dict[str, Any], part: str, n: int
) -> str:
    response = await _create(client, headers, attempt, part, n)
    assert response.status_code == 201, response.text
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Upload-Expires"].endswith("GMT")
    return response.headers["Location"]


async def _patch(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, offset: int, data: bytes
) -> httpx.Response:
    return await client.patch(
        url, content=data, headers=headers | {"Upload-Offset": str(offset), "Content-Type": CHUNK}
    )


async def _send_all(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, data: bytes, chunk: int
) -> httpx.Response:
    response = None
    for offset in range(0, len(data), chunk):
        response = await _patch(client, headers, url, offset, data[offset : offset + chunk])
        assert response.status_code == 204, response.text
        assert int(response.headers["Upload-Offset"]) == min(offset + chunk, len(data))
    assert response is not None
    return response


def _chunk_files(settings: Settings) -> list[Path]:
    return sorted(p for p in (settings.resolved_media_dir / "uploads").rglob("*") if p.is_file())


async def test_selfie_and_video_in_chunks_go_to_processing_as_one_upload_would(
    client: httpx.AsyncClient,
    factory: Factory,
    job_queue: RecordingQueue,
    db: Session,
    settings: Settings,
) -> None:
    headers = _enrolled(factory)
    attempt = await _start(client, headers)
    selfie_url = await _created(client, headers, attempt, "selfie", len(SELFIE))
    video_url = await _created(client, headers, attempt, "video", len(VIDEO))

    head = await client.head(video_url, headers=headers)
    assert head.status_code == 200
    assert (head.headers["Upload-Offset"], head.headers["Upload-Length"]) == ("0", str(len(VIDEO)))
    assert head.headers["Cache-Control"] == "no-store"

    done = await _send_all(client, headers, selfie_url, SELFIE, 20_000)
    assert done.headers["Upload-Attempt-Status"] == "awaiting_upload"  # the video is missing
    # Half the video, then the app "restarts": it asks where it stands and goes on from there.
    half = len(VIDEO) // 2
    assert (await _patch(client, headers, video_url, 0, VIDEO[:half])).status_code == 204
    # Stored encrypted while incomplete: no chunk file holds the plaintext.
    files = _chunk_files(settings)
    assert len(files) == len(SELFIE) // 20_000 + 1 + 1
    assert all(f.read_bytes().startswith(b"LCMF") for f in files)
    assert all(VIDEO[:64] not in f.read_bytes() for f in files)
    offset = int((await client.head(video_url, headers=headers)).headers["Upload-Offset"])
    assert offset == half
    last = await _patch(client, headers, video_url, offset, VIDEO[offset:])
    assert last.status_code == 204
    assert last.headers["Upload-Attempt-Status"] == "processing"

    assert [str(a) for a in job_queue.attempts] == [attempt["id"]]
    stored = db.exec(select(CertificationAttempt)).one()
    assert stored.status is AttemptStatus.processing
    assert media.read(settings=settings, relative=stored.selfie_path) == SELFIE
    assert media.read(settings=settings, relative=stored.video_path) == VIDEO
    # The chunks are gone once the attempt has its files; no byte was received twice.
    assert _chunk_files(settings) == []
    uploads = db.exec(select(ResumableUpload)).all()
    assert sorted(u.received for u in uploads) == sorted([len(SELFIE), len(VIDEO)])
    status = await client.get(f"{BASE}/attempts/{attempt['id']}", headers=headers)
    assert status.json()["status"] == "processing"
    # The challenge is used: neither a new upload nor the one-request upload is accepted.
    again = await _create(client, headers, attempt, "video", len(VIDEO))
    assert again.status_code == 409
    assert again.json()["error"] == "ChallengeAlreadyUsed"


async def test_a_wrong_offset_is_refused_with_where_the_upload_stands(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    headers = _enrolled(factory)
    attempt = await _start(client, headers)
    url = await _created(client, headers, attempt, "video", len(VIDEO))
    assert (await _patch(client, headers, url, 0, VIDEO[:1000])).status_code == 204
    for wrong in (0, 500, 2000):
        response = await _patch(client, headers, url, wrong, VIDEO[wrong : wrong + 1000])
        assert response.status_code == 409
        assert response.json()["error"] == "UploadOffsetMismatch"
        assert response.json()["offset"] == 1000
    assert len(_chunk_files(settings)) == 1
    head = await client.head(url, headers=headers)
    assert head.headers["Upload-Offset"] == "1000"


async def test_a_chunk_past_the_declared_length_is_refused_and_nothing_stored(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    headers = _enrolled(factory)
    attempt = await _start(client, headers)
    url = await _created(client, headers, attempt, "selfie", 1000)
    response = await _patch(client, headers, url, 0, SELFIE[:1001])
    assert response.status_code == 413
    assert response.json()["error"] == "UploadPastLength"
    assert _chunk_files(settings) == []
    assert (await client.head(url, headers=headers)).headers["Upload-Offset"] == "0"


async def test_a_declared_size_over_the_limit_is_refused_at_creation(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, db: Session
) -> None:
    headers = _enrolled(factory)
    attempt = await _start(client, headers)
    for part, limit in (("selfie", settings.max_photo_bytes), ("video", settings.max_video_bytes)):
        response = await _create(client, headers, attempt, part, limit + 1)
        assert response.status_code == 413
        assert response.json()["error"] == "UploadTooLarge"
        assert response.json()["limit"] == limit
    assert db.exec(select(ResumableUpload)).all() == []


async def test_a_first_chunk_that_is_not_a_photo_or_video_is_refused(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    headers = _enrolled(factory)
    attempt = await _start(client, headers)
    selfie_url = await _created(client, headers, attempt, "selfie", 5000)
    text = await _patch(client, headers, selfie_url, 0, b"hello, I am alive and well" * 10)
    assert text.status_code == 415
    assert text.json()["error"] == "UnsupportedMediaType"
    assert "not a photo" in text.json()["detail"]
    video_url = await _created(client, headers, attempt, "video", len(SELFIE))
    photo = await _patch(client, headers, video_url, 0, SELFIE[:4096])
    assert photo.status_code == 415
    assert "picture, not a video" in photo.json()["detail"]
    tiny = await _patch(client, headers, video_url, 0, VIDEO[:8])
    assert tiny.status_code == 400
    assert tiny.json()["error"] == "UploadProtocolError"
    assert _chunk_files(settings) == []


async def test_another_pensioners_upload_is_not_found(
    client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    owner = _enrolled(factory)
    other = _enrolled(factory)
    attempt = await _start(client, owner)
    url = await _created(client, owner, attempt, "selfie", len(SELFIE))
    refused = await _patch(client, other, url, 0, SELFIE[:1000])
    assert refused.status_code == 404
    assert refused.json()["error"] == "UploadNotFound"
    assert (await client.head(url, headers=other)).status_code == 404
    created = await _create(client, other, attempt, "video", 1000)
    assert created.status_code == 404
    assert created.json()["error"] == "AttemptNotFound"
    assert _chunk_files(settings) == []
    assert (await client.head(url, headers=owner)).headers["Upload-Offset"] == "0"


async def test_protocol_refusals(client: httpx.AsyncClient, factory: Factory) -> None:
    headers = _enrolled(factory)
    attempt = await _start(client, headers)
    no_version = await client.post(
        f"{BASE}/attempts/{attempt['id']}/uploads",
        headers={"Authorization": headers["Authorization"], "Upload-Length": "10"},
    )
    assert no_version.status_code == 412
    assert no_version.json()["error"] == "UploadVersionUnsupported"
    wrong_nonce = await _create(client, headers, attempt, "video", 100, nonce="not-the-nonce")
    assert wrong_nonce.status_code == 409
    assert wrong_nonce.json()["error"] == "ChallengeMismatch"
    no_part = await client.post(
        f"{BASE}/attempts/{attempt['id']}/uploads",
        headers=headers | {"Upload-Length": "10", "Upload-Metadata": _metadata(part="audio")},
    )
    assert no_part.status_code == 400
    assert no_part.json()["error"] == "UploadProtocolError"
    no_length = await client.post(f"{BASE}/attempts/{attempt['id']}/uploads", headers=headers)
    assert no_length.status_code == 400
    url = await _created(client, headers, attempt, "selfie", len(SELFIE))
    form = await client.patch(
        url,
        content=SELFIE[:100],
        headers=headers | {"Upload-Offset": "0", "Content-Type": "image/jpeg"},
    )
    assert form.status_code == 415


async def test_an_expired_upload_is_refused_and_deleted_on_access_and_by_the_purge(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, db: Session
) -> None:
    headers = _enrolled(factory)
    attempt = await _start(client, headers)
    touched = await _created(client, headers, attempt, "selfie", len(SELFIE))
    left = await _created(client, headers, attempt, "video", len(VIDEO))
    assert (await _patch(client, headers, touched, 0, SELFIE[:1000])).status_code == 204
    assert (await _patch(client, headers, left, 0, VIDEO[:1000])).status_code == 204
    assert len(_chunk_files(settings)) == 2
    with factory.session.get_bind().begin() as conn:
        conn.execute(
            sa.text("UPDATE resumable_upload SET expires_at = :t"),
            {"t": datetime.now(UTC) - timedelta(seconds=1)},
        )
    response = await _patch(client, headers, touched, 1000, SELFIE[1000:2000])
    assert response.status_code == 410
    assert response.json()["error"] == "UploadExpired"
    assert len(_chunk_files(settings)) == 1
    assert (await client.head(touched, headers=headers)).status_code == 404
    assert resumable.purge_expired(session=db, settings=settings) == 1
    assert _chunk_files(settings) == []
    assert db.exec(select(ResumableUpload)).all() == []


async def test_an_expired_challenge_ends_the_upload(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = _enrolled(factory)
    attempt = await _start(client, headers)
    with factory.session.get_bind().begin() as conn:
        conn.execute(
            sa.text("UPDATE certification_attempt SET challenge_expires_at = :t"),
            {"t": datetime.now(UTC) - timedelta(seconds=1)},
        )
    response = await _create(client, headers, attempt, "selfie", len(SELFIE))
    assert response.status_code == 410
    assert response.json()["error"] == "ChallengeExpired"
    status = await client.get(f"{BASE}/attempts/{attempt['id']}", headers=headers)
    assert status.json()["status"] == "expired"


async def test_the_same_video_again_is_a_replay_through_either_upload(
    client: httpx.AsyncClient, factory: Factory, job_queue: RecordingQueue
) -> None:
    headers = _enrolled(factory)
    first = await _start(client, headers)
    one_request = await client.post(
        f"{BASE}/attempts/{first['id']}/upload",
        files={"selfie": ("s.jpg", SELFIE, "image/jpeg"), "video": ("v.mp4", VIDEO, "video/mp4")},
        data={"nonce": first["challenge"]["nonce"]},
        headers=headers,
    )
    assert one_request.status_code == 202
    second = await _start(client, headers)
    selfie_url = await _created(client, headers, second, "selfie", len(SELFIE))
    video_url = await _created(client, headers, second, "video", len(VIDEO))
    await _send_all(client, headers, selfie_url, SELFIE, len(SELFIE))
    replay = await _patch(client, headers, video_url, 0, VIDEO)
    assert replay.status_code == 409
    assert "already submitted" in replay.json()["detail"]
    assert len(job_queue.attempts) == 1


async def test_a_chunk_cut_off_by_a_lost_connection_keeps_what_arrived(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory, settings: Settings
) -> None:
    headers = _enrolled(factory)
    attempt = await _start(client, headers)
    url = await _created(client, headers, attempt, "video", len(VIDEO))
    # The client sends 300 000 bytes of a 600 000-byte chunk, then the connection drops.
    arrived = VIDEO[:300_000]
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": arrived[:100_000], "more_body": True},
        {"type": "http.request", "body": arrived[100_000:], "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(_message: dict[str, Any]) -> None:
        return None

    raw = {k.lower(): v for k, v in headers.items()} | {
        "upload-offset": "0",
        "content-type": CHUNK,
        "content-length": "600000",
    }
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PATCH",
        "scheme": "http",
        "path": url,
        "raw_path": url.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in raw.items()],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "state": {},
    }
    await app(scope, receive, send)
    head = await client.head(url, headers=headers)
    assert head.headers["Upload-Offset"] == "300000"
    rest = await _patch(client, headers, url, 300_000, VIDEO[300_000:])
    assert rest.status_code == 204
    upload = factory.session.get(ResumableUpload, uuid.UUID(url.rsplit("/", 1)[1]))
    assert upload is not None
    factory.session.refresh(upload)
    assert upload.received == len(VIDEO)  # nothing was sent twice
