"""deploy/Caddyfile in front of two real `lifecert serve` processes on loopback: TLS with
Caddy's internal CA, the security headers, a request id from the edge, /metrics closed,
oversized bodies refused at the edge, the signalling WebSocket upgraded through it, and
requests spread over both processes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets

from tests.processes import stop_all
from tests.redis_namespace import drop_namespace

ROOT = Path(__file__).resolve().parents[2]
LIFECERT = Path(sys.executable).parent / "lifecert"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, *, verify: object = True, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url, verify=verify, timeout=2).status_code < 500:  # type: ignore[arg-type]
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer within {seconds} s")
        time.sleep(0.3)


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
    ports = [_free_port(), _free_port()]
    logs = [base / f"api{i}.log" for i in (1, 2)]
    https_port, http_port = _free_port(), _free_port()
    caddy_home = base / "caddy"
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
            _wait_for(f"http://127.0.0.1:{port}/healthz")
        caddy_env = {
            **os.environ,
            "HOME": str(caddy_home),
            "XDG_DATA_HOME": str(caddy_home / "data"),
            "XDG_CONFIG_HOME": str(caddy_home / "config"),
            "CADDY_ADMIN": f"127.0.0.1:{_free_port()}",
            "LIFECERT_SITE": f"localhost:{https_port}",
            "LIFECERT_HTTP_PORT": str(http_port),
            "LIFECERT_HTTPS_PORT": str(https_port),
            "LIFECERT_UPSTREAMS": " ".join(f"127.0.0.1:{p}" for p in ports),
        }
        processes.append(
            subprocess.Popen(
                [
                    "caddy",
                    "run",
                    "--config",
                    str(ROOT / "deploy/Caddyfile"),
                    "--adapter",
                    "caddyfile",
                ],
                env=caddy_env,
                stdout=(base / "caddy.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
        root_ca = caddy_home / "data/caddy/pki/authorities/local/root.crt"
        deadline = time.monotonic() + 30
        while not root_ca.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert root_ca.exists(), (base / "caddy.log").read_text()[-2000:]
        url = f"https://localhost:{https_port}"
        _wait_for(f"{url}/healthz", verify=ssl.create_default_context(cafile=str(root_ca)))
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
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), timeout=10)
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code, closed.value.rcvd.reason

    # The service's own answer (4401), so the upgrade reached it through Caddy.
    assert asyncio.run(refused()) == (4401, "missing room token (?token=...)")
