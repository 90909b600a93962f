"""deploy/Caddyfile in front of two real `lifecert serve` processes on loopback: TLS with
Caddy's internal CA, the security headers, a request id from the edge, /metrics closed,
oversized bodies refused at the edge, the signalling WebSocket upgraded through it, and
requests spread over both processes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets

from tests.processes import free_port, start_caddy, stop_all, wait_for
from tests.redis_namespace import drop_namespace

ROOT = Path(__file__).resolve().parents[2]
LIFECERT = Path(sys.executable).parent / "lifecert"


@dataclass
class Edge:
    url: str
    root_ca: Path
    api_logs: list[Path]


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    assert shutil.which("caddy"), "Caddy is needed: apt-get install caddy"
    base = tmp_path_factory.mktemp("edge")
    namespace = f"lifecert-edge-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "LIFECERT_DATA_DIR": str(base / "var"),
        "LIFECERT_SIGNALLING": "redis",
        "LIFECERT_REDIS_NAMESPACE": namespace,
        "LIFECERT_TRUSTED_PROXIES": '["127.0.0.1"]',
        "LIFECERT_LOG_FORMAT": "json",
    }
    subprocess.run([str(LIFECERT), "migrate"], env=env, check=True, capture_output=True)
    processes: list[subprocess.Popen[bytes]] = []
    ports = [free_port(), free_port()]
    logs = [base / f"api{i}.log" for i in (1, 2)]
    try:
        for port, log in zip(ports, logs, strict=True):
            processes.append(
                subprocess.Popen(
                    [str(LIFECERT), "serve", "--host", "127.0.0.1", "--port", str(port)],
                    env=env,
                    stdout=log.open("wb"),
                    stderr=subprocess.STDOUT,
                )
            )
        for port in ports:
            wait_for(f"http://127.0.0.1:{port}/healthz")
        url, root_ca = start_caddy(base, [f"127.0.0.1:{p}" for p in ports], processes)
        yield Edge(url, root_ca, logs)
    finally:
        stop_all(processes)
        drop_namespace(namespace)


def test_tls_headers_request_id_and_spread(edge: Edge) -> None:
    with httpx.Client(
        base_url=edge.url, verify=ssl.create_default_context(cafile=str(edge.root_ca)), timeout=10
    ) as client:
        answers = [client.get("/healthz") for _ in range(8)]
        page = client.get("/")
        metrics = client.get("/metrics")
    for answer in answers:
        assert answer.status_code == 200 and answer.http_version in ("HTTP/1.1", "HTTP/2")
        assert answer.headers["strict-transport-security"].startswith("max-age=31536000")
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert "server" not in answer.headers
    ids = {answer.headers["x-request-id"] for answer in answers}
    assert len(ids) == 8  # one per request, from the edge
    assert page.status_code == 200 and "content-security-policy" in page.headers
    assert metrics.status_code == 404
    # Both processes answered, and logged the edge's request ids as JSON lines.
    logged: list[set[str]] = []
    for log in edge.api_logs:
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        logged.append({line.get("request_id", "") for line in lines} & ids)
    assert all(logged), logged
    assert set().union(*logged) == ids


def test_bodies_over_the_limit_stop_at_the_edge(edge: Edge) -> None:
    with httpx.Client(
        base_url=edge.url, verify=ssl.create_default_context(cafile=str(edge.root_ca)), timeout=30
    ) as client:
        big = client.post(
            "/api/v1/auth/token",
            content=b"x" * (27 * 1024 * 1024),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        small = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "x"})
    assert big.status_code == 413
    assert small.status_code == 401


def test_the_signalling_websocket_is_upgraded_through_the_edge(edge: Edge) -> None:
    context = ssl.create_default_context(cafile=str(edge.root_ca))
    url = edge.url.replace("https://", "wss://") + f"/api/v1/video-calls/{uuid.uuid4()}/signal"

    async def refused() -> tuple[int, str]:
        async with websockets.connect(url, ssl=context, open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "ping"}))  # not the auth message it waits for
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), timeout=10)
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code, closed.value.rcvd.reason

    # The service's own answer (4401), so the upgrade reached it through Caddy.
    assert asyncio.run(refused()) == (
        4401,
        'the first message must be {"type": "auth", "token": ...}',
    )
