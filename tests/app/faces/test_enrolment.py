"""Face enrolment through the API with the real dlib engine, and every kind of bad upload."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlmodel import Session, func, select

from app import media
from app.config import Settings
from models.audit import AuditEvent
from models.face import EnrolledFace, FaceGallery
from tests.conftest import FIXTURES, Factory
from tests.samples import encode, png_bomb

FACES = FIXTURES / "faces"
HARD = FIXTURES / "hard"


def _url(pensioner: object) -> str:
    return f"/api/v1/pensioners/{pensioner.id}/faces"  # type: ignore[attr-defined]


async def _upload(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    data: bytes,
    name: str = "photo.jpg",
) -> httpx.Response:
    return await client.post(url, files={"photo": (name, data, "image/jpeg")}, headers=headers)


def _nothing_written(db: Session, settings: Settings) -> None:
    assert db.exec(select(func.count()).select_from(EnrolledFace)).one() == 0
    assert db.exec(select(func.count()).select_from(FaceGallery)).one() == 0
    assert db.exec(select(func.count()).select_from(AuditEvent)).one() == 0
    media = settings.resolved_media_dir
    assert not any(p.is_file() for p in media.rglob("*")) if media.exists() else True


async def test_enrol_stores_photo_template_and_audit(
    client: httpx.AsyncClient, factory: Factory, db: Session, settings: Settings
) -> None:
    pensioner = factory.pensioner()
    staff = factory.auth(factory.staff("community_worker", scope="110105"))
    photo = (FACES / "deepface_c01" / "1.jpg").read_bytes()
    response = await _upload(client, _url(pensioner), staff, photo)
    assert response.status_code == 201, response.text
    face = response.json()
    assert face["model_name"] == "dlib_face_recognition_resnet_model_v1"
    assert face["model_version"]
    assert face["source"] == "enrolment" and face["quality"]["faces"] == 1
    assert face["quality"]["findings"] == []
    # The first photo a staff member enrols waits for a second one before it counts.
    assert face["pending"] is True and face["active"] is False
    assert face["enrolment_check"]["waits_for"] == ["first_photo"]

    stored = db.exec(select(EnrolledFace)).one()
    assert len(stored.embedding) == 128 * 8
    assert media.read(settings=settings, relative=stored.photo_path) == photo
    on_disk = settings.resolved_media_dir / stored.photo_path
    assert (
        not on_disk.read_bytes().startswith(b"\xff\xd8") and photo[-64:] not in on_disk.read_bytes()
    )
    assert (
        on_disk.stat().st_mode & 0o777 == 0o600 and on_disk.parent.stat().st_mode & 0o777 == 0o700
    )
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "face.enrolment_pending")).one()
    assert event.after is not None and event.after["face_id"] == face["id"]
    assert db.exec(select(func.count()).select_from(FaceGallery)).one() == 0

    reviewer = factory.auth(factory.staff("reviewer", scope="11"))
    approved = await client.post(
        f"{_url(pensioner)}/{face['id']}/approval", json={"approve": True}, headers=reviewer
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["active"] is True and approved.json()["pending"] is False
    assert approved.json()["approved_by_id"]

    got = await client.get(f"{_url(pensioner)}/{face['id']}/photo", headers=staff)
    assert got.status_code == 200 and got.content == photo
    assert got.headers["content-type"] == "image/jpeg"


async def test_re_enrolment_keeps_history(client: httpx.AsyncClient, factory: Factory) -> None:
    pensioner = factory.pensioner()
    admin = factory.auth(factory.staff("admin"))
    checker = factory.auth(factory.staff("admin"))
    first = (
        await _upload(
            client, _url(pensioner), admin, (FACES / "deepface_c13" / "1.jpg").read_bytes()
        )
    ).json()
    second = await _upload(
        client, _url(pensioner), admin, (FACES / "deepface_c13" / "2.jpg").read_bytes()
    )
    assert second.status_code == 201
    for face in (first, second.json()):
        approval = await client.post(
            f"{_url(pensioner)}/{face['id']}/approval", json={"approve": True}, headers=checker
        )
        assert approval.status_code == 200, approval.text
    retired = await client.post(f"{_url(pensioner)}/{first['id']}/retire", headers=admin)
    assert retired.json()["active"] is False and retired.json()["retired_at"]
    gallery = (await client.get(_url(pensioner), headers=admin)).json()
    assert gallery["active_faces"] == 1
    assert {f["id"]: f["active"] for f in gallery["faces"]} == {
        first["id"]: False,
        second.json()["id"]: True,
    }


@pytest.mark.parametrize(
    ("photo", "issue"),
    [
        (FACES / "fr_obama" / "2.jpg", "head_turned"),
        (HARD / "multiple_faces_1.jpg", "multiple_faces"),
        (HARD / "partial_face_1.jpg", "face_cut_off"),
        (FACES / "dlibjohns_John_Simm" / "1.jpg", "face_too_small"),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else v,
)
async def test_photos_failing_the_enrolment_gate_say_what_to_fix(
    photo: Path,
    issue: str,
    client: httpx.AsyncClient,
    factory: Factory,
    db: Session,
    settings: Settings,
) -> None:
    pensioner = factory.pensioner()
    admin = factory.auth(factory.staff("admin"))
    response = await _upload(client, _url(pensioner), admin, photo.read_bytes())
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "PhotoQualityFailed"
    issues = [f["issue"] for f in body["findings"]]
    assert issue in issues, issues
    assert all(f["zh"] and f["en"] for f in body["findings"])
    _nothing_written(db, settings)


def _gif_animation() -> bytes:
    frames = [Image.new("RGB", (200, 200), c) for c in ("red", "blue", "green")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


def _truncated_jpeg() -> bytes:
    data = (FACES / "fr_obama" / "1.jpg").read_bytes()
    return data[: len(data) // 2]


BAD_UPLOADS = {
    "zero_bytes": (lambda: b"", 422, "EmptyFile"),
    "text_named_jpg": (lambda: b"this is not a photo\n" * 20, 415, "UnsupportedFormat"),
    "truncated_jpeg": (_truncated_jpeg, 422, "CorruptImage"),
    "gif_animation": (_gif_animation, 422, "AnimatedImage"),
    "png_bomb": (lambda: png_bomb(40_000, 40_000), 413, "ImageTooLarge"),
    "tiny_image": (lambda: encode(Image.new("RGB", (20, 20)), "PNG"), 422, "ImageTooSmall"),
}


@pytest.mark.parametrize("kind", list(BAD_UPLOADS))
async def test_bad_uploads_are_refused_clearly_and_write_nothing(
    kind: str, client: httpx.AsyncClient, factory: Factory, db: Session, settings: Settings
) -> None:
    make, status, error = BAD_UPLOADS[kind]
    pensioner = factory.pensioner()
    admin = factory.auth(factory.staff("admin"))
    response = await _upload(client, _url(pensioner), admin, make())
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert len(response.json()["detail"]) > 10
    _nothing_written(db, settings)


async def test_100_mb_upload_is_refused(
    client: httpx.AsyncClient, factory: Factory, db: Session, settings: Settings
) -> None:
    pensioner = factory.pensioner()
    admin = factory.auth(factory.staff("admin"))
    response = await _upload(client, _url(pensioner), admin, b"\xff\xd8" + b"\0" * 100_000_000)
    assert response.status_code == 413
    assert response.json()["error"] == "PayloadTooLarge"
    _nothing_written(db, settings)


async def test_missing_photo_field(client: httpx.AsyncClient, factory: Factory) -> None:
    pensioner = factory.pensioner()
    admin = factory.auth(factory.staff("admin"))
    response = await client.post(_url(pensioner), files={"picture": ("a.jpg", b"x")}, headers=admin)
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "photo"
