"""Two API hosts in network namespaces of this test's own (veth to the host; PostgreSQL and
Redis on the host side, reached through a forwarder on each link's host address), each running
`lifecert serve` with LIFECERT_SIGNALLING=redis and rate limits in Redis: the pensioner on
API 1 and the agent on API 2 meet, messages keep their order, a third connection is refused by
either host, and the read code issued on API 2 reaches the pensioner on API 1; a rate limit
counts the requests of both hosts. Needs root (ip netns)."""

from __future__ import annotations

import json
import random
import ssl
import time
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import redis
import sqlalchemy as sa
from sqlmodel import Session, select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from app import national_id
from biometrics import DlibFaceEngine
from models.attempt import CertificationAttempt
from models.certification import Certification
from tests.app.appointments.world import appointment, now_minute, video_agent
from tests.app.attempts.clips import (
    SELFIE_CLIP,
    enrol_clip_person,
    enrol_cohort,
    frame_jpeg,
)
from tests.conftest import (
    Factory,
)
from tests.redis_namespace import REDIS_URL
from tests.topology.conftest import Host, Topology

pytestmark = pytest.mark.topology


def _receive(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=15))  # type: ignore[no-any-return]


def test_a_call_across_two_api_hosts(topology: Topology) -> None:
    engine = sa.create_engine(topology.database_url, poolclass=sa.pool.NullPool)
    with Session(engine, expire_on_commit=False) as session:
        factory = Factory(session, topology.settings)
        agent = video_agent(factory)
        pensioner = factory.pensioner()
        call = appointment(factory, pensioner, agent, starts_at=now_minute() - timedelta(minutes=2))
        pensioner_headers = factory.auth(pensioner, "pensioner")
        agent_headers = factory.auth(agent)
    engine.dispose()
    api1, api2 = topology.hosts
    pensioner_token = httpx.post(
        f"{api1.url}/api/v1/appointments/{call.id}/room-token", headers=pensioner_headers
    ).json()["token"]
    agent_token = httpx.post(
        f"{api2.url}/api/v1/video-calls/{call.id}/room-token", headers=agent_headers
    ).json()["token"]

    def socket(host: Host, token: str) -> ClientConnection:
        """Connect and send the room token as the first message (never in the URL)."""
        ws_url = host.url.replace("http://", "ws://")
        ws = connect(f"{ws_url}/api/v1/video-calls/{call.id}/signal")
        ws.send(json.dumps({"type": "auth", "token": token}))
        return ws

    def fresh(host: Host, role: str) -> str:
        path = "appointments" if role == "pensioner" else "video-calls"
        headers = pensioner_headers if role == "pensioner" else agent_headers
        answer = httpx.post(f"{host.url}/api/v1/{path}/{call.id}/room-token", headers=headers)
        return str(answer.json()["token"])

    with socket(api1, pensioner_token) as pensioner_ws:
        assert _receive(pensioner_ws)["peer_present"] is False
        with socket(api2, agent_token) as agent_ws:
            assert _receive(agent_ws)["peer_present"] is True
            assert _receive(pensioner_ws) == {"type": "peer-joined", "role": "agent"}
            agent_ws.send(json.dumps({"type": "offer", "sdp": "v=0 agent"}))
            assert _receive(pensioner_ws) == {"type": "offer", "sdp": "v=0 agent", "from": "agent"}
            for i in range(40):
                pensioner_ws.send(json.dumps({"type": "ice", "candidate": f"c{i}"}))
            got = [_receive(agent_ws)["candidate"] for _ in range(40)]
            assert got == [f"c{i}" for i in range(40)]
            # One pensioner and one agent, whichever host a third connection reaches.
            for host, role in ((api2, "pensioner"), (api1, "agent")):
                with (
                    socket(host, fresh(host, role)) as third,
                    pytest.raises(ConnectionClosed) as refused,
                ):
                    third.recv(timeout=15)
                assert refused.value.rcvd is not None and refused.value.rcvd.code == 4409
            # A room token opens one connection: the ones in use are refused on either host.
            for host, token in ((api2, pensioner_token), (api1, agent_token)):
                with socket(host, token) as copy, pytest.raises(ConnectionClosed) as refused:
                    copy.recv(timeout=15)
                assert refused.value.rcvd is not None
                assert refused.value.rcvd.reason == (
                    "this room token was used already; ask for a new one"
                )
            issued = httpx.post(
                f"{api2.url}/api/v1/video-calls/{call.id}/read-code", headers=agent_headers
            )
            assert issued.status_code == 200 and issued.json()["delivered"] is True
            assert _receive(pensioner_ws) == {"type": "read-code", "code": issued.json()["code"]}
        assert _receive(pensioner_ws) == {"type": "peer-left", "role": "agent"}


def test_rate_limits_count_across_the_api_hosts(topology: Topology) -> None:
    # Three code requests per ID number in 10 minutes (LIFECERT_OTP_RATE_PER_ID), whichever
    # host they reach: each host alone has seen two at most when the fourth is refused.
    api1, api2 = topology.hosts
    number = national_id.make("110105", date(1948, 5, 17), random.randint(100, 999))
    try:
        answers = [
            httpx.post(f"{host.url}/api/v1/auth/pensioner/code", json={"national_id": number})
            for host in (api1, api2, api1, api2)
        ]
        assert [a.status_code for a in answers] == [202, 202, 202, 429]
        assert answers[-1].json()["error"] == "RateLimited"
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"*{number}*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_a_pensioner_certifies_across_the_hosts(
    topology: Topology, face_engine: DlibFaceEngine
) -> None:
    """Upload on API 1, status polled on API 2, the job run by the worker host: one decision."""
    engine = sa.create_engine(topology.database_url, poolclass=sa.pool.NullPool)
    with Session(engine, expire_on_commit=False) as db:
        factory = Factory(db, topology.settings)
        enrol_cohort(db, factory, face_engine)
        pensioner = enrol_clip_person(db, factory, topology.settings, face_engine)
        headers = factory.auth(pensioner, "pensioner")
    api1, api2 = topology.hosts
    base = "/api/v1/certifications/attempts"
    started = httpx.post(f"{api1.url}{base}", json={}, headers=headers, timeout=30)
    assert started.status_code == 201, started.text
    attempt = started.json()
    assert attempt["challenge"]["actions"] == ["blink", "open_mouth"]
    upload = httpx.post(
        f"{api1.url}{base}/{attempt['id']}/upload",
        files={
            "selfie": ("selfie.jpg", frame_jpeg(SELFIE_CLIP, 60), "image/jpeg"),
            "video": ("clip.mp4", SELFIE_CLIP.read_bytes(), "video/mp4"),
        },
        data={"nonce": attempt["challenge"]["nonce"], "mirrored": "false"},
        headers=headers,
        timeout=60,
    )
    assert upload.status_code == 202, upload.text
    deadline = time.monotonic() + 300
    while True:
        status = httpx.get(f"{api2.url}{base}/{attempt['id']}", headers=headers, timeout=30)
        if status.json()["status"] != "processing":
            break
        assert time.monotonic() < deadline, "no decision from the worker host"
        time.sleep(1)
    assert status.json()["status"] == "certified", status.json()
    with Session(engine) as db:
        row = db.get(CertificationAttempt, uuid.UUID(attempt["id"]))
        assert row is not None and row.job_runs == 1
        assert len(db.exec(select(Certification)).all()) == 1
    engine.dispose()


def test_an_api_host_dies_and_the_edge_carries_on(topology: Topology) -> None:
    """Last in this module: API 1 is killed (SIGKILL, as in a crash) while clients go through
    Caddy; every request still gets its answer, from API 2."""
    tls = ssl.create_default_context(cafile=str(topology.root_ca))
    api1 = topology.hosts[0]
    assert api1.process is not None
    with httpx.Client(base_url=topology.edge_url, verify=tls, timeout=15) as client:
        before = [client.get("/readyz") for _ in range(6)]
        api1.process.kill()
        api1.process.wait(timeout=10)
        after = [client.get("/readyz") for _ in range(20)]
        status = client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert [a.status_code for a in before + after] == [200] * 26
    # An error still comes from the service, with its request id, through the edge.
    assert status.status_code == 401 and status.headers["x-request-id"]
