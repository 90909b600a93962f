"""A calibration's target false-match rate below one in a billion is a 422, not a 500 (5e-324
was found by scripts/fuzz_api.py: the pairs it needs overflowed an integer)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Factory

URL = "/api/v1/faces/calibrations"


@pytest.mark.parametrize("rate", [5e-324, 1e-300, 9.9e-10, 0.0])
async def test_a_tiny_target_rate_is_refused(
    rate: float, client: httpx.AsyncClient, factory: Factory
) -> None:
    admin = factory.auth(factory.staff("admin"))
    response = await client.post(URL, json={"target_fmr": rate}, headers=admin)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "ValidationError"
    assert [f["field"] for f in body["fields"]] == ["target_fmr"]


async def test_one_in_a_billion_is_taken_with_auto_accept_off(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    admin = factory.auth(factory.staff("admin"))
    response = await client.post(URL, json={"target_fmr": 1e-9}, headers=admin)
    # The request is valid; an empty register cannot support the rate, so nothing certifies
    # automatically and the answer says how many pairs it would take.
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["auto_accept"] is False
    assert body["thresholds"]["overall"]["pairs_needed"] == 2995732273
