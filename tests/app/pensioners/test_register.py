"""The pensioner register: create, read, change, delete and search, with validation and audit."""

from __future__ import annotations

import httpx
from sqlmodel import Session, col, func, select

from models.audit import AuditEvent
from models.pensioner import Pensioner
from tests.conftest import Factory

URL = "/api/v1/pensioners"


def _body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "national_id": "11010519491231002X",
        "name": "王秀英",
        "phone": "138 0013 8000",
        "region_code": "110105",
        "benefit_type": "pension",
        "monthly_amount_fen": 412300,
    }
    body.update(overrides)
    return body


def _count(db: Session, model: type) -> int:
    return int(db.exec(select(func.count()).select_from(model)).one())


async def test_create_read_update_delete_with_audit(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    factory.region("110105")
    admin = factory.auth(factory.staff("admin", scope="11"))
    created = await client.post(URL, json=_body(), headers=admin)
    assert created.status_code == 201, created.text
    record = created.json()
    # Date of birth and sex come from the ID number; the phone is normalised.
    assert record["date_of_birth"] == "1949-12-31"
    assert record["sex"] == "F"
    assert record["phone"] == "13800138000"
    assert record["benefit_status"] == "active"
    assert record["created_at"].endswith(("Z", "+00:00"))

    pid = record["id"]
    assert (await client.get(f"{URL}/{pid}", headers=admin)).json()["name"] == "王秀英"

    changed = await client.patch(
        f"{URL}/{pid}",
        json={
            "residence": "overseas",
            "overseas_country": "ca",
            "overseas_timezone": "America/Toronto",
        },
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["overseas_country"] == "CA"

    home = await client.patch(f"{URL}/{pid}", json={"residence": "away"}, headers=admin)
    assert home.json()["overseas_country"] is None and home.json()["overseas_timezone"] is None

    assert (await client.delete(f"{URL}/{pid}", headers=admin)).status_code == 204
    assert (await client.get(f"{URL}/{pid}", headers=admin)).status_code == 404

    events = db.exec(
        select(AuditEvent).where(AuditEvent.entity_id == pid).order_by(col(AuditEvent.seq))
    ).all()
    # The read of the record is in the trail too (audited reads, issue 16).
    assert [e.action for e in events] == [
        "pensioner.create",
        "pensioner.read",
        "pensioner.update",
        "pensioner.update",
        "pensioner.delete",
    ]
    events = [e for e in events if e.action != "pensioner.read"]
    assert events[0].after is not None and events[0].after["national_id"] == "11010519491231002X"
    assert events[1].before == {
        "residence": "local",
        "overseas_country": None,
        "overseas_timezone": None,
    }
    assert events[1].after == {
        "residence": "overseas",
        "overseas_country": "CA",
        "overseas_timezone": "America/Toronto",
    }
    assert events[3].before is not None and events[3].before["name"] == "王秀英"
    assert all(e.actor_type == "staff" for e in events)


async def test_duplicate_national_id(client: httpx.AsyncClient, factory: Factory) -> None:
    factory.region("110105")
    admin = factory.auth(factory.staff("admin"))
    assert (await client.post(URL, json=_body(), headers=admin)).status_code == 201
    again = await client.post(URL, json=_body(name="别人"), headers=admin)
    assert again.status_code == 409
    assert again.json()["error"] == "DuplicateNationalId"


async def test_unknown_region_writes_nothing(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    admin = factory.auth(factory.staff("admin"))
    response = await client.post(URL, json=_body(region_code="999999"), headers=admin)
    assert response.status_code == 422
    assert response.json()["error"] == "UnknownRegion"
    assert _count(db, Pensioner) == 0
    assert _count(db, AuditEvent) == 0


async def test_region_outside_scope(client: httpx.AsyncClient, factory: Factory) -> None:
    factory.region("310115", "上海市浦东新区")
    admin = factory.auth(factory.staff("admin", scope="11"))
    response = await client.post(URL, json=_body(region_code="310115"), headers=admin)
    assert response.status_code == 403
    assert response.json()["error"] == "RegionOutOfScope"


async def test_invalid_fields_are_each_named(client: httpx.AsyncClient, factory: Factory) -> None:
    factory.region("110105")
    admin = factory.auth(factory.staff("admin"))
    cases = {
        "national_id": _body(national_id="110105194912310021"),  # check character
        "national_id ": _body(national_id="110105194902300021"),  # 30 February
        "phone": _body(phone="call me"),
        "monthly_amount_fen": _body(monthly_amount_fen=-1),
        "region_code": _body(region_code="1101"),
    }
    for field, body in cases.items():
        response = await client.post(URL, json=body, headers=admin)
        assert response.status_code == 422, (field, response.text)
        assert response.json()["fields"][0]["field"] == field.strip(), response.text
    mismatch = await client.post(URL, json=_body(date_of_birth="1950-01-01"), headers=admin)
    assert mismatch.status_code == 422
    assert "differs from the ID number" in mismatch.json()["detail"]
    overseas = await client.post(
        URL, json=_body(residence="overseas", overseas_country="CA"), headers=admin
    )
    assert overseas.status_code == 422
    assert "overseas_timezone" in overseas.json()["detail"]
    bad_tz = await client.post(
        URL,
        json=_body(residence="overseas", overseas_country="CA", overseas_timezone="Mars/Base"),
        headers=admin,
    )
    assert bad_tz.status_code == 422
    assert "IANA" in bad_tz.json()["detail"]


async def test_national_id_cannot_be_changed(client: httpx.AsyncClient, factory: Factory) -> None:
    pensioner = factory.pensioner()
    admin = factory.auth(factory.staff("admin"))
    response = await client.patch(
        f"{URL}/{pensioner.id}", json={"national_id": "11010519491231002X"}, headers=admin
    )
    assert response.status_code == 422


async def test_search_is_limited_to_region_scope(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    beijing = factory.pensioner("110105", name="李建国")
    factory.pensioner("110108", name="李玉兰")
    factory.pensioner("310115", name="李德明")
    reviewer = factory.auth(factory.staff("reviewer", scope="11"))
    national = factory.auth(factory.staff("admin"))

    page = (await client.get(URL, params={"q": "李"}, headers=reviewer)).json()
    assert page["total"] == 2
    assert {p["region_code"] for p in page["items"]} == {"110105", "110108"}
    assert (await client.get(URL, params={"q": "李"}, headers=national)).json()["total"] == 3

    by_id = (await client.get(URL, params={"q": beijing.national_id[:10]}, headers=reviewer)).json()
    assert [p["id"] for p in by_id["items"]] == [str(beijing.id)]
    narrowed = await client.get(URL, params={"region_code": "110108"}, headers=reviewer)
    assert narrowed.json()["total"] == 1
    paged = await client.get(URL, params={"limit": 1, "offset": 1}, headers=national)
    assert len(paged.json()["items"]) == 1 and paged.json()["total"] == 3


async def test_reviewer_cannot_see_out_of_scope_record(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    shanghai = factory.pensioner("310115")
    reviewer = factory.auth(factory.staff("reviewer", scope="11"))
    response = await client.get(f"{URL}/{shanghai.id}", headers=reviewer)
    assert response.status_code == 404
    assert response.json()["error"] == "PensionerNotFound"


async def test_delete_removes_face_templates_and_photos(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    from models.face import EnrolledFace

    pensioner = factory.pensioner()
    face = factory.face(pensioner)
    photo = factory.settings.resolved_media_dir / face.photo_path
    assert photo.exists()
    admin = factory.auth(factory.staff("admin"))
    assert (await client.delete(f"{URL}/{pensioner.id}", headers=admin)).status_code == 204
    assert not photo.exists()
    assert _count(db, EnrolledFace) == 0
