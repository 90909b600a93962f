"""A change to a record is a 422 naming the field when it would erase a required value or leave
the record invalid, never a 500 (both found by scripts/fuzz_api.py); the record is untouched."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import Session

from models.pensioner import Pensioner, Residence
from tests.conftest import Factory

URL = "/api/v1/pensioners"
REQUIRED = [
    "name",
    "phone",
    "region_code",
    "residence",
    "benefit_type",
    "benefit_status",
    "monthly_amount_fen",
    "mobility_limited",
    "preferred_language",
]


@pytest.mark.parametrize("field", REQUIRED)
async def test_null_for_a_required_field_is_refused(
    field: str, client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    admin = factory.auth(factory.staff("admin"))
    pensioner = factory.pensioner()
    before = pensioner.model_dump()  # type: ignore[attr-defined]
    response = await client.patch(
        f"{URL}/{pensioner.id}",  # type: ignore[attr-defined]
        json={field: None},
        headers=admin,
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "ValidationError"
    assert [f["field"] for f in body["fields"]] == [field]
    assert "leave the field out" in body["fields"][0]["message"]
    db.expire_all()
    assert db.get(Pensioner, pensioner.id).model_dump() == before  # type: ignore[attr-defined,union-attr]


async def test_the_overseas_details_can_still_be_cleared(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    admin = factory.auth(factory.staff("admin"))
    pensioner = factory.pensioner(
        residence=Residence.overseas, overseas_country="NZ", overseas_timezone="Pacific/Auckland"
    )
    response = await client.patch(
        f"{URL}/{pensioner.id}",  # type: ignore[attr-defined]
        json={"residence": "local", "overseas_country": None, "overseas_timezone": None},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    assert response.json()["overseas_country"] is None


async def test_moving_overseas_without_the_details_is_refused(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    admin = factory.auth(factory.staff("admin"))
    pensioner = factory.pensioner()
    response = await client.patch(
        f"{URL}/{pensioner.id}",  # type: ignore[attr-defined]
        json={"residence": "overseas", "overseas_country": "CA"},
        headers=admin,
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "ValidationError"
    assert "overseas_timezone" in body["detail"]
    assert body["fields"] and "overseas_timezone" in body["fields"][0]["message"]
    db.expire_all()
    assert db.get(Pensioner, pensioner.id).residence is Residence.local  # type: ignore[attr-defined,union-attr]
