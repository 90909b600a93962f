"""Admission to the database (app.db.SessionSlots): a request waits for one of the process's
session slots on the event loop and, when none frees up in time, is answered 503 Overloaded
with Retry-After, having saved nothing. Found by scripts/load.py with 200 users: without the
slots the 40 server threads and 40 pooled connections deadlocked each other until the pool's
30 s timeout turned requests into 500s."""

from __future__ import annotations

import asyncio
import time

import httpx
from fastapi import FastAPI
from sqlmodel import Session, select

from app.db import SessionSlots
from models.attempt import CertificationAttempt
from tests.app.attempts.test_requests import BASE, _enrolled
from tests.conftest import Factory


async def test_no_free_slot_answers_503_with_retry_after_and_saves_nothing(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    app.state.session_slots = slots = SessionSlots(1, wait_seconds=0.2)
    _, headers = _enrolled(factory)
    held = await slots.acquire()  # another request holds the only slot
    started = time.monotonic()
    refused = await client.post(BASE, headers=headers)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"] == "Overloaded"
    assert refused.headers["Retry-After"] == "5"
    assert 0.2 <= time.monotonic() - started < 5  # it waited its time, no longer
    # The status poll reads on its own connection and waits for a slot too.
    poll = await client.get(f"{BASE}/00000000-0000-0000-0000-000000000000", headers=headers)
    assert poll.status_code == 503 and poll.json()["error"] == "Overloaded"
    assert db.exec(select(CertificationAttempt)).all() == []
    held.release()
    assert slots.in_use() == 0
    accepted = await client.post(BASE, headers=headers)
    assert accepted.status_code == 201, accepted.text
    assert slots.in_use() == 0  # every request gave its slot back


async def test_a_waiting_request_gets_the_slot_as_soon_as_it_is_freed(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory
) -> None:
    app.state.session_slots = slots = SessionSlots(1, wait_seconds=10.0)
    _, headers = _enrolled(factory)
    held = await slots.acquire()
    asyncio.get_running_loop().call_later(0.3, held.release)
    started = time.monotonic()
    response = await client.get(BASE, headers=headers)
    assert response.status_code == 200, response.text
    assert 0.25 <= time.monotonic() - started < 5


async def test_more_requests_than_threads_and_connections_all_succeed(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    """120 at once against 40 threads and 40 connections: each request takes a connection in
    one thread (the pensioner's lookup) and needs another thread for the route. Without the
    slots this stalled for the pool's 30 s and answered 500."""
    _, headers = _enrolled(factory)
    started = time.monotonic()
    answers = await asyncio.gather(*(client.get(BASE, headers=headers) for _ in range(120)))
    assert [r.status_code for r in answers] == [200] * 120, {r.text for r in answers}
    assert time.monotonic() - started < 25
