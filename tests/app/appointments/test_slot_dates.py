"""Open slots from a day at either end of the calendar are a 422, not a 500 (0001-01-01 was
found by scripts/fuzz_api.py: the day overflowed when turned into an instant in a time zone)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Factory

URL = "/api/v1/appointments/slots"


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1899-12-31", "3000-01-01"])
async def test_a_day_out_of_range_is_refused(
    day: str, client: httpx.AsyncClient, factory: Factory
) -> None:
    pensioner = factory.auth(factory.pensioner(), "pensioner")
    response = await client.get(URL, params={"from": day, "days": 1}, headers=pensioner)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "ValidationError"
    assert [f["field"] for f in body["fields"]] == ["query.from"]
    assert "between 1900-01-01 and 2999-12-31" in body["fields"][0]["message"]


@pytest.mark.parametrize("day", ["1900-01-01", "2999-12-31"])
async def test_the_first_and_last_days_are_answered(
    day: str, client: httpx.AsyncClient, factory: Factory
) -> None:
    pensioner = factory.auth(factory.pensioner(), "pensioner")
    response = await client.get(URL, params={"from": day, "days": 1}, headers=pensioner)
    # Whether the pensioner may book decides the answer; the day itself is accepted.
    assert response.status_code != 422, response.text
    assert response.status_code < 500
