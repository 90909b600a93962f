"""Redis namespaces of the tests' own: each test that talks to the real Redis takes a new one
and empties it afterwards."""

from __future__ import annotations

import uuid

import redis

REDIS_URL = "redis://127.0.0.1:6379/0"


def new_namespace(purpose: str) -> str:
    return f"lifecert-{purpose}-{uuid.uuid4().hex[:10]}"


def drop_namespace(namespace: str, *, url: str = REDIS_URL) -> None:
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
