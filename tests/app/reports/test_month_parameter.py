"""The report month is a 422 outside the years a date can hold, not a 500 (year 0 was found by
scripts/fuzz_api.py; December 9999 would have overflowed computing the next month)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Factory


@pytest.mark.parametrize("path", ["/api/v1/reports/monthly", "/api/v1/reports/monthly.csv"])
@pytest.mark.parametrize("month", ["0000-01", "9999-12", "1899-12", "3000-01", "2026-13"])
async def test_a_month_out_of_range_is_refused(
    path: str, month: str, client: httpx.AsyncClient, factory: Factory
) -> None:
    auditor = factory.auth(factory.staff("auditor"))
    response = await client.get(path, params={"month": month}, headers=auditor)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "ValidationError"
    assert [f["field"] for f in response.json()["fields"]] == ["query.month"]


@pytest.mark.parametrize("month", ["1900-01", "2999-12"])
async def test_the_first_and_last_months_are_reported(
    month: str, client: httpx.AsyncClient, factory: Factory
) -> None:
    auditor = factory.auth(factory.staff("auditor"))
    response = await client.get("/api/v1/reports/monthly", params={"month": month}, headers=auditor)
    assert response.status_code == 200, response.text
