"""Paging the audit events from a sequence number past the 32-bit sequence column is a 422,
not a 500 (a huge one was found by scripts/fuzz_api.py: it overflowed the database integer)."""

from __future__ import annotations

import httpx

from tests.conftest import Factory

URL = "/api/v1/audit/events"


async def test_a_sequence_number_past_32_bits_is_refused(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    auditor = factory.auth(factory.staff("auditor"))
    for too_big in (2**31, 359508635650671016673280):
        response = await client.get(URL, params={"before_seq": too_big}, headers=auditor)
        assert response.status_code == 422, response.text
        assert [f["field"] for f in response.json()["fields"]] == ["query.before_seq"]
    largest = await client.get(URL, params={"before_seq": 2**31 - 1}, headers=auditor)
    assert largest.status_code == 200, largest.text
