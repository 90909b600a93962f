"""Amounts of money are whole numbers of fen: a float or a string in a JSON body is a clean 422
naming the field (found by scripts/fuzz_api.py), while the CSV import still reads text."""

from __future__ import annotations

import uuid
from datetime import date

import httpx
import pytest
from sqlmodel import Session

from app import national_id
from models.pensioner import Pensioner
from tests.conftest import Factory

URL = "/api/v1/pensioners"
NOT_WHOLE = [350000.0, 350000.5, "350000", True, 1e300]


def _assert_amount_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "ValidationError"
    assert [f["field"] for f in body["fields"]] == [field]
    assert "whole number of fen" in body["fields"][0]["message"] or (
        "not text" in body["fields"][0]["message"]
    )


@pytest.mark.parametrize("amount", NOT_WHOLE)
async def test_a_change_of_amount_must_be_a_whole_number(
    amount: object, client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    admin = factory.auth(factory.staff("admin"))
    pensioner = factory.pensioner()
    response = await client.patch(
        f"{URL}/{pensioner.id}",  # type: ignore[attr-defined]
        json={"monthly_amount_fen": amount},
        headers=admin,
    )
    _assert_amount_refused(response, "monthly_amount_fen")
    db.expire_all()
    assert db.get(Pensioner, pensioner.id).monthly_amount_fen == 350000  # type: ignore[attr-defined,union-attr]


async def test_a_whole_amount_is_still_taken(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    admin = factory.auth(factory.staff("admin"))
    pensioner = factory.pensioner()
    response = await client.patch(
        f"{URL}/{pensioner.id}",  # type: ignore[attr-defined]
        json={"monthly_amount_fen": 351234},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    assert response.json()["monthly_amount_fen"] == 351234


@pytest.mark.parametrize("amount", [412300.0, "412300"])
async def test_a_new_record_with_a_float_amount_is_refused(
    amount: object, client: httpx.AsyncClient, factory: Factory
) -> None:
    factory.region("110105")
    admin = factory.auth(factory.staff("admin"))
    body = {
        "national_id": "11010519491231002X",
        "name": "王秀英",
        "phone": "13800138000",
        "region_code": "110105",
        "monthly_amount_fen": amount,
    }
    _assert_amount_refused(await client.post(URL, json=body, headers=admin), "monthly_amount_fen")


async def test_a_repayment_must_be_a_whole_number(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    admin = factory.auth(factory.staff("admin"))
    response = await client.post(
        f"/api/v1/overpayments/{uuid.uuid4()}/steps",
        json={"to": "repaying", "amount_fen": 100.0},
        headers=admin,
    )
    _assert_amount_refused(response, "amount_fen")


async def test_the_csv_import_still_reads_amounts_as_text(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    factory.region("110105")
    admin = factory.auth(factory.staff("admin"))
    header = "national_id,name,phone,region_code,benefit_type,monthly_amount_fen\n"
    csv = (
        header
        + "11010519491231002X,王秀英,13800138000,110105,pension,300000\n"
        + f"{national_id.make('110105', date(1950, 1, 1), 11)},李建国,13800138000,110105,"
        + "pension,3000.50\n"
    )
    response = await client.post(
        f"{URL}/import",
        content=csv.encode(),
        params={"all_or_nothing": "false"},
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["valid"], report["created"]) == (1, 1)
    [error] = report["errors"]
    assert (error["row"], error["field"]) == (3, "monthly_amount_fen")
