"""Signalling across processes (LIFECERT_SIGNALLING=redis): two app instances on one database
and one Redis namespace, each with its own event loop, as two API processes would be. The
pensioner joins through one, the agent through the other."""

from __future__ import annotations

import signal
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

import pytest
import redis
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from app.video_calls.signalling import RedisSignalHub
from biometrics import DlibFaceEngine
from tests.app.video_calls.test_signalling import (
    Call,
    _call,
    _refused,
    _token,
    end_the_call,
    join,
    negotiate,
)
from tests.conftest import Backend, Factory, RecordingQueue
from tests.redis_namespace import REDIS_URL, drop_namespace, new_namespace

if TYPE_CHECKING:
    from starlette.testclient import TestClient

DEADLINE_SECONDS = 60  # a message that never arrives fails the test instead of hanging it


@pytest.fixture(autouse=True)
def deadline() -> Iterator[None]:
    def expired(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"signalling test still waiting after {DEADLINE_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(DEADLINE_SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def namespace() -> Iterator[str]:
    """A Redis namespace of this test's own, emptied afterwards."""
    name = new_namespace("signalling")
    yield name
    drop_namespace(name)


def _instance(
    settings: Settings, backend: Backend, face_engine: DlibFaceEngine, namespace: str
) -> FastAPI:
    shared = settings.model_copy(
        update={"signalling": "redis", "redis_url": REDIS_URL, "redis_namespace": namespace}
    )
    return create_app(
        shared,
        engine=backend.engine,
        face_engine=face_engine,
        job_queue=RecordingQueue(),  # type: ignore[arg-type]
    )


def _client(app: FastAPI) -> TestClient:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    return TestClient(app)


@pytest.fixture
def instances(
    settings: Settings,
    backend: Backend,
    face_engine: DlibFaceEngine,
    namespace: str,
    app: FastAPI,  # the shared fixture empties the tables afterwards
) -> Iterator[tuple[TestClient, TestClient]]:
    one = _instance(settings, backend, face_engine, namespace)
    two = _instance(settings, backend, face_engine, namespace)
    with _client(one) as first, _client(two) as second:
        yield first, second


@pytest.fixture
def call(factory: Factory) -> Call:
    return _call(factory)


def _sides(namespace: str, call: Call) -> dict[str, Any]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    prefix = f"{namespace}:signal:{call.appointment.id}:side:"
    sides = {key.removeprefix(prefix): client.pttl(key) for key in client.scan_iter(prefix + "*")}
    client.close()
    return sides


def test_parties_on_two_processes_meet_and_messages_keep_their_order(
    instances: tuple[TestClient, TestClient], call: Call, namespace: str
) -> None:
    one, two = instances
    with join(one, call, _token(one, call, "pensioner")["token"]) as pensioner:
        assert pensioner.receive_json() == {
            "type": "joined",
            "role": "pensioner",
            "appointment_id": str(call.appointment.id),
            "peer_present": False,
        }
        pensioner.send_json({"type": "ready"})
        assert pensioner.receive_json()["code"] == "peer_absent"
        with join(two, call, _token(two, call, "agent")["token"]) as agent:
            assert agent.receive_json()["peer_present"] is True
            assert pensioner.receive_json() == {"type": "peer-joined", "role": "agent"}
            # Both sides are held in Redis, each with a time to live.
            sides = _sides(namespace, call)
            assert set(sides) == {"pensioner", "agent"} and all(
                0 < ttl <= 20_000 for ttl in sides.values()
            )
            negotiate(agent, pensioner, candidates=50)
            # Both directions at once keep their own order.
            for i in range(20):
                agent.send_json({"type": "ice", "candidate": {"candidate": f"a{i}"}})
                pensioner.send_json({"type": "ice", "candidate": {"candidate": f"p{i}"}})
            to_pensioner = [pensioner.receive_json()["candidate"]["candidate"] for _ in range(20)]
            to_agent = [agent.receive_json()["candidate"]["candidate"] for _ in range(20)]
            assert to_pensioner == [f"a{i}" for i in range(20)]
            assert to_agent == [f"p{i}" for i in range(20)]
            pensioner.send_json({"type": "ping"})
            assert pensioner.receive_json() == {"type": "pong"}
        assert pensioner.receive_json() == {"type": "peer-left", "role": "agent"}
        assert set(_sides(namespace, call)) == {"pensioner"}
    assert _sides(namespace, call) == {}


def test_a_third_connection_is_refused_on_either_process(
    instances: tuple[TestClient, TestClient], call: Call
) -> None:
    one, two = instances
    pensioner_token = _token(one, call, "pensioner")["token"]
    agent_token = _token(two, call, "agent")["token"]
    with join(one, call, pensioner_token) as pensioner:
        pensioner.receive_json()
        with join(two, call, agent_token) as agent:
            agent.receive_json()
            assert pensioner.receive_json()["type"] == "peer-joined"
            for client in (one, two):
                second_tab = _refused(client, call, _token(client, call, "pensioner")["token"])
                assert (second_tab.code, second_tab.reason) == (
                    4409,
                    "The pensioner is already connected to this call",
                )
                second_agent = _refused(client, call, _token(client, call, "agent")["token"])
                assert (second_agent.code, second_agent.reason) == (
                    4409,
                    "The agent is already connected to this call",
                )
            # The two in the room noticed nothing; the refused ones took nothing.
            agent.send_json({"type": "offer", "sdp": "x"})
            assert pensioner.receive_json() == {"type": "offer", "sdp": "x", "from": "agent"}
            pensioner.send_json({"type": "answer", "sdp": "y"})
            assert agent.receive_json() == {"type": "answer", "sdp": "y", "from": "pensioner"}
        assert pensioner.receive_json() == {"type": "peer-left", "role": "agent"}
    # Once left, a side can be taken again, from the other process, with a new token; the
    # used one is refused by either process (it is marked used in Redis).
    for client in (one, two):
        used = _refused(client, call, agent_token)
        assert (used.code, used.reason) == (
            4401,
            "this room token was used already; ask for a new one",
        )
    with join(one, call, _token(one, call, "agent")["token"]) as agent:
        assert agent.receive_json()["peer_present"] is False


def test_read_code_and_outcome_reach_the_pensioner_on_the_other_process(
    instances: tuple[TestClient, TestClient], call: Call
) -> None:
    one, two = instances
    base = f"/api/v1/video-calls/{call.appointment.id}"
    # Nobody connected yet: the code is kept, and said to be undelivered.
    early = two.post(f"{base}/read-code", headers=call.agent_headers)
    assert early.status_code == 200 and early.json()["delivered"] is False
    with join(one, call, _token(one, call, "pensioner")["token"]) as pensioner:
        pensioner.receive_json()
        with join(two, call, _token(two, call, "agent")["token"]) as agent:
            agent.receive_json()
            assert pensioner.receive_json()["type"] == "peer-joined"
            issued = two.post(f"{base}/read-code", headers=call.agent_headers)
            assert issued.status_code == 200, issued.text
            code = issued.json()
            assert code["delivered"] is True and code["code"] != early.json()["code"]
            assert pensioner.receive_json() == {"type": "read-code", "code": code["code"]}
            end_the_call(two, call, agent, pensioner)


def test_a_side_is_kept_while_connected_and_freed_when_its_holder_vanishes(
    instances: tuple[TestClient, TestClient], call: Call, namespace: str
) -> None:
    one, two = instances
    # A short time to live on the first process: refreshed every third of it while connected.
    for client in (one, two):
        hub: RedisSignalHub = client.app.state.signal_hub  # type: ignore[attr-defined]
        hub.side_ttl_ms = 2000
    pensioner_token = _token(one, call, "pensioner")["token"]
    with join(one, call, pensioner_token) as pensioner:
        pensioner.receive_json()
        for _ in range(3):  # well past the time to live, the side is still held
            pensioner.send_json({"type": "ping"})
            assert pensioner.receive_json() == {"type": "pong"}
            time.sleep(1.0)
        assert _refused(two, call, _token(two, call, "pensioner")["token"]).code == 4409

    # A process that died without leaving: its side is a key nobody refreshes.
    key = f"{namespace}:signal:{call.appointment.id}:side:pensioner"
    client = redis.Redis.from_url(REDIS_URL)
    client.set(key, "a-process-that-died", px=500)
    client.close()
    assert _refused(two, call, _token(two, call, "pensioner")["token"]).code == 4409
    time.sleep(0.7)
    with join(two, call, _token(two, call, "pensioner")["token"]) as pensioner:
        assert pensioner.receive_json()["type"] == "joined"


def test_a_room_token_is_used_once_across_processes(
    instances: tuple[TestClient, TestClient], call: Call, namespace: str
) -> None:
    one, two = instances
    token = _token(one, call, "pensioner")
    before_use = datetime.now(UTC)
    with join(one, call, token["token"]) as pensioner:
        assert pensioner.receive_json()["type"] == "joined"
    used = _refused(two, call, token["token"])
    assert (used.code, used.reason) == (4401, "this room token was used already; ask for a new one")
    # Kept in Redis as used until the token expires, and no longer.
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    keys = list(client.scan_iter(f"{namespace}:signal:used-token:*"))
    assert len(keys) == 1
    expires = datetime.fromisoformat(token["expires_at"])
    left = client.ttl(keys[0])
    client.close()
    # The key's life is counted from the token's use (rounded up), not from this line: on a
    # loaded machine seconds pass between the two.
    assert 0 < left <= (expires - before_use).total_seconds() + 1
