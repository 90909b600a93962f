"""Oversized request bodies are refused with 413, declared or streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.config import Settings
from tests.conftest import Factory


@pytest.fixture
def small_limit(settings: Settings) -> Settings:
    settings.max_body_bytes = 2048
    return settings


async def test_declared_length_over_the_limit(
    small_limit: Settings, client: httpx.AsyncClient, factory: Factory
) -> None:
    admin = factory.auth(factory.staff("admin"))
    response = await client.post(
        "/api/v1/pensioners",
        content=b"{" + b" " * 4096 + b"}",
        headers={**admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "PayloadTooLarge"


async def test_streamed_body_over_the_limit(
    small_limit: Settings, client: httpx.AsyncClient, factory: Factory
) -> None:
    admin = factory.auth(factory.staff("admin"))

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1024

    response = await client.post(
        "/api/v1/pensioners",
        content=chunks(),
        headers={**admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 413


async def test_malformed_json_is_a_clear_422(client: httpx.AsyncClient, factory: Factory) -> None:
    admin = factory.auth(factory.staff("admin"))
    response = await client.post(
        "/api/v1/pensioners",
        content=b"{not json",
        headers={**admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"] == "ValidationError"
