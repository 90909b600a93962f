"""Bulk CSV import: row-by-row report, all-or-nothing by default, malformed files refused."""

from __future__ import annotations

from datetime import date

import httpx
from sqlmodel import Session, func, select

from app import national_id
from models.audit import AuditEvent
from models.pensioner import Pensioner
from tests.conftest import Factory

URL = "/api/v1/pensioners/import"
HEADER = (
    "national_id,name,phone,region_code,residence,overseas_country,overseas_timezone,"
    "benefit_type,monthly_amount_fen,mobility_limited\n"
)


def _nid(seq: int, region: str = "110105") -> str:
    return national_id.make(region, date(1948, 6, 15), seq)


def _row(seq: int, **kw: str) -> str:
    values = {
        "national_id": _nid(seq),
        "name": f"张{seq}",
        "phone": "13800138000",
        "region_code": "110105",
        "residence": "local",
        "overseas_country": "",
        "overseas_timezone": "",
        "benefit_type": "pension",
        "monthly_amount_fen": "300000",
        "mobility_limited": "否",
    }
    values.update(kw)
    return ",".join(values.values()) + "\n"


def _count(db: Session, model: type) -> int:
    return int(db.exec(select(func.count()).select_from(model)).one())


async def _post(
    client: httpx.AsyncClient, headers: dict[str, str], content: bytes, **params: str
) -> httpx.Response:
    return await client.post(
        URL, content=content, params=params, headers={**headers, "Content-Type": "text/csv"}
    )


async def test_valid_file_imports_every_row(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    factory.region("110105")
    admin = factory.auth(factory.staff("admin"))
    csv = (
        HEADER
        + _row(1)
        + _row(2, mobility_limited="yes")
        + _row(3, residence="overseas", overseas_country="NZ", overseas_timezone="Pacific/Auckland")
    )
    response = await _post(client, admin, ("\ufeff" + csv).encode())  # Excel's BOM
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["rows"], report["valid"], report["created"], report["errors"]) == (3, 3, 3, [])
    assert _count(db, Pensioner) == 3
    limited = db.exec(select(Pensioner).where(Pensioner.national_id == _nid(2))).one()
    assert limited.mobility_limited is True
    assert _count(db, AuditEvent) == 3


async def test_one_bad_row_rejects_the_whole_file(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    factory.region("110105")
    admin = factory.auth(factory.staff("admin"))
    bad_check = _nid(5)[:17] + ("0" if _nid(5)[17] != "0" else "1")
    csv = (
        HEADER
        + _row(1)
        + _row(2, national_id=bad_check)
        + _row(3, region_code="999999")
        + _row(1, name="重复")
        + _row(4, residence="overseas")
        + _row(6, monthly_amount_fen="lots")
    )
    response = await _post(client, admin, csv.encode())
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "ImportRejected"
    assert "nothing was imported" in body["detail"]
    errors = body["report"]["errors"]
    by_line = {e["row"]: e for e in errors}
    assert by_line[3]["field"] == "national_id" and "check character" in by_line[3]["message"]
    assert by_line[4]["code"] == "unknown_region"
    assert by_line[5]["code"] == "duplicate_in_file" and "line 2" in by_line[5]["message"]
    assert "overseas_country" in by_line[6]["message"]
    assert by_line[7]["field"] == "monthly_amount_fen"
    assert 2 not in by_line
    assert _count(db, Pensioner) == 0
    assert _count(db, AuditEvent) == 0


async def test_valid_rows_mode_writes_the_good_rows(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    factory.region("110105")
    admin = factory.auth(factory.staff("admin"))
    csv = HEADER + _row(1) + _row(2, phone="x") + _row(3)
    response = await _post(client, admin, csv.encode(), all_or_nothing="false")
    assert response.status_code == 200
    report = response.json()
    assert (report["created"], len(report["errors"]), report["errors"][0]["row"]) == (2, 1, 3)
    assert _count(db, Pensioner) == 2


async def test_already_registered_and_out_of_scope_rows(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    existing = factory.pensioner("110105")
    factory.region("310115")
    admin = factory.auth(factory.staff("admin", scope="11"))
    csv = (
        HEADER
        + _row(1, national_id=existing.national_id)
        + _row(2, national_id=_nid(2, "310115"), region_code="310115")
    )
    response = await _post(client, admin, csv.encode())
    codes = [e["code"] for e in response.json()["report"]["errors"]]
    assert codes == ["duplicate_national_id", "region_out_of_scope"]
    assert _count(db, Pensioner) == 1


async def test_dry_run_validates_without_writing(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    factory.region("110105")
    admin = factory.auth(factory.staff("admin"))
    response = await _post(client, admin, (HEADER + _row(1)).encode(), dry_run="true")
    assert response.status_code == 200
    assert response.json()["valid"] == 1 and response.json()["created"] == 0
    assert _count(db, Pensioner) == 0


async def test_multipart_upload(client: httpx.AsyncClient, factory: Factory) -> None:
    factory.region("110105")
    admin = factory.auth(factory.staff("admin"))
    response = await client.post(
        URL,
        files={"file": ("people.csv", (HEADER + _row(1)).encode(), "text/csv")},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1


async def test_malformed_files_are_explained(client: httpx.AsyncClient, factory: Factory) -> None:
    admin = factory.auth(factory.staff("admin"))
    cases = {
        b"": "empty",
        b"national_id,name\n": "missing columns: phone, region_code, monthly_amount_fen",
        (HEADER.strip() + ",nickname\n" + _row(1)).encode(): "unknown columns: nickname",
        HEADER.encode(): "no rows",
        "姓名,电话\n张三,138".encode("gbk"): "not UTF-8",
    }
    for content, phrase in cases.items():
        response = await _post(client, admin, content)
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "InvalidCsv"
        assert phrase in response.json()["detail"], response.json()["detail"]
    extra = await _post(client, admin, (HEADER + _row(1).strip() + ",surplus\n").encode())
    assert extra.json()["report"]["errors"][0]["code"] == "too_many_fields"


async def test_oversized_import_is_refused_before_reading(
    client: httpx.AsyncClient, factory: Factory, settings: object
) -> None:
    admin = factory.auth(factory.staff("admin"))
    big = b"x" * (50 * 1024 * 1024 + 1)
    response = await _post(client, admin, big)
    assert response.status_code == 413
    assert response.json()["error"] == "PayloadTooLarge"
    assert "50.0 MB" in response.json()["detail"]


async def test_a_dry_run_does_not_tell_whether_an_out_of_scope_id_is_registered(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    registered = factory.pensioner("310115")  # another province's pensioner
    unregistered = _nid(7, "310115")
    factory.region("110105")
    admin = factory.auth(factory.staff("admin", scope="11"))
    reports = []
    for nid in (registered.national_id, unregistered):
        csv = HEADER + _row(1, national_id=nid, region_code="310115")
        response = await _post(client, admin, csv.encode(), dry_run="true")
        assert response.status_code == 422
        reports.append(response.json()["report"]["errors"])
    # Both rows get the same scope refusal: nothing says which of the two is registered.
    assert [e["code"] for e in reports[0]] == ["region_out_of_scope"]
    assert [{**e, "national_id": None} for e in reports[0]] == [
        {**e, "national_id": None} for e in reports[1]
    ]
