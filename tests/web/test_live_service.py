"""Behaviour only a real server shows: the response of a write is sent after its commit, so the
client's next request sees what it just wrote (FastAPI ends `yield` dependencies after the
response unless they are scoped to the function)."""

from __future__ import annotations

import httpx

from tests.conftest import Factory
from tests.web.conftest import Live


def test_a_read_right_after_a_write_sees_it(live: Live, seed: Factory) -> None:
    pensioner = seed.pensioner("110105", name="读写辛")
    headers = {"Authorization": f"Bearer {seed.token(pensioner, 'pensioner')}"}
    zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Pacific/Auckland"] * 5
    with httpx.Client(base_url=live.url, headers=headers, timeout=30) as client:
        for zone in zones:
            written = client.patch("/api/v1/me", json={"display_timezone": zone})
            assert written.status_code == 200, written.text
            read = client.get("/api/v1/appointments/eligibility")
            assert read.status_code == 200, read.text
            assert read.json()["timezone"] == zone
