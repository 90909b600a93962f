"""TURN credentials minted by the service: their format (the TURN REST API scheme), their place
in the room token's ice_servers, and a real coturn (deploy/turnserver.conf) relaying with them
and refusing a wrong or expired one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.config import IceServer, Settings
from app.main import create_app
from app.video_calls.turn import TURN_GRACE, turn_password, turn_server
from biometrics import DlibFaceEngine
from tests.app.video_calls.test_signalling import Call, _call
from tests.conftest import Backend, Factory, RecordingQueue

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
SECRET = "north-wind-secret"
URLS = ["turn:127.0.0.1:3478?transport=udp", "turns:turn.example.org:5349?transport=tcp"]
STUN: dict[str, Any] = {"urls": "stun:stun.example.org:3478", "username": None, "credential": None}


def test_the_credential_is_the_turn_rest_api_scheme() -> None:
    # A vector computed apart (openssl dgst -sha1 -hmac north-wind-secret -binary | base64).
    assert turn_password(SECRET, "1700000000:3f2a0c1e-agent") == "GSmIRw5Db/mgTc8TFVq+z/wvjRA="
    expires = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
    server = turn_server(secret=SECRET, urls=URLS, subject="p-1", expires_at=expires)
    assert server.username == f"{int(expires.timestamp())}:p-1"
    digest = hmac.new(SECRET.encode(), server.username.encode(), hashlib.sha1).digest()
    assert server.credential == base64.b64encode(digest).decode()
    assert server.urls == URLS


@pytest.fixture
async def turn_client(
    settings: Settings, backend: Backend, face_engine: DlibFaceEngine, app: FastAPI
) -> httpx.AsyncClient:
    configured = settings.model_copy(
        update={"turn_secret": SECRET, "turn_urls": URLS, "ice_servers": [IceServer(**STUN)]}
    )
    instance = create_app(
        configured,
        engine=backend.engine,
        face_engine=face_engine,
        job_queue=RecordingQueue(),  # type: ignore[arg-type]
    )
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=instance), base_url="http://testserver"
    )


async def test_each_room_token_carries_credentials_for_its_holder(
    turn_client: httpx.AsyncClient, factory: Factory
) -> None:
    call: Call = _call(factory)
    base = f"/api/v1/{{}}/{call.appointment.id}/room-token"
    for role, path, headers, subject in (
        ("pensioner", "appointments", call.pensioner_headers, call.pensioner.id),
        ("agent", "video-calls", call.agent_headers, call.agent.id),
    ):
        answer = await turn_client.post(base.format(path), headers=headers)
        assert answer.status_code == 200, answer.text
        token = answer.json()
        assert token["role"] == role
        configured, relay = token["ice_servers"]
        assert configured == STUN
        expiry = datetime.fromisoformat(token["expires_at"]) + TURN_GRACE
        assert relay["username"] == f"{int(expiry.timestamp())}:{subject}"
        assert relay["credential"] == turn_password(SECRET, relay["username"])
        assert relay["urls"] == URLS
    await turn_client.aclose()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[int]:
    """deploy/turnserver.conf on loopback: its own ports, no TLS, loopback peers allowed."""
    assert shutil.which("turnserver"), "coturn is needed: apt-get install coturn"
    port = _free_udp_port()
    overrides = {
        "listening-ip": "127.0.0.1",
        "relay-ip": "127.0.0.1",
        "listening-port": str(port),
        "min-port": "49160",
        "max-port": "49260",
        "static-auth-secret": SECRET,
        "realm": "lifecert.test",
        "log-file": "stdout",
        "pidfile": str(tmp_path / "turnserver.pid"),
    }
    dropped = ("tls-listening-port", "cert", "pkey", "cipher-list", "denied-peer-ip=127.")
    lines = [
        line
        for line in (DEPLOY / "turnserver.conf").read_text().splitlines()
        if line.split("=")[0] not in overrides and not line.startswith(dropped)
    ]
    lines += [f"{key}={value}" for key, value in overrides.items()]
    lines += ["no-tls", "no-dtls", "allow-loopback-peers"]
    config = tmp_path / "turnserver.conf"
    config.write_text("\n".join(lines) + "\n")
    server = subprocess.Popen(
        ["turnserver", "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and server.poll() is None:
            try:
                probe = subprocess.run(
                    ["turnutils_stunclient", "-p", str(port), "127.0.0.1"],
                    capture_output=True,
                    timeout=2,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                continue  # not answering yet
            if probe.returncode == 0:
                break
            time.sleep(0.2)
        assert server.poll() is None, server.stdout.read() if server.stdout else ""
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def _relay(port: int, peer_port: int, username: str, password: str) -> str:
    done = subprocess.run(
        [
            "turnutils_uclient",
            *("-u", username, "-w", password),
            *("-e", "127.0.0.1", "-r", str(peer_port), "-n", "5", "-m", "1"),
            *("-p", str(port), "127.0.0.1"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.stdout + done.stderr


def test_coturn_relays_with_minted_credentials_only(coturn: int) -> None:
    peer_port = _free_udp_port()
    peer = subprocess.Popen(
        ["turnutils_peer", "-L", "127.0.0.1", "-p", str(peer_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        subject = str(uuid.uuid4())
        good = turn_server(
            secret=SECRET,
            urls=URLS,
            subject=subject,
            expires_at=datetime.now(UTC) + timedelta(minutes=10),
        )
        assert good.username and good.credential
        relayed = _relay(coturn, peer_port, good.username, good.credential)
        assert "Total lost packets 0" in relayed and "tot_recv_msgs=10" in relayed, relayed

        wrong = _relay(coturn, peer_port, good.username, turn_password("other", good.username))
        assert "Cannot complete Allocation" in wrong and "tot_recv_msgs" not in wrong
        expired = turn_server(
            secret=SECRET,
            urls=URLS,
            subject=subject,
            expires_at=datetime.now(UTC) - timedelta(minutes=1),
        )
        assert expired.username and expired.credential
        late = _relay(coturn, peer_port, expired.username, expired.credential)
        assert "Cannot complete Allocation" in late and "tot_recv_msgs" not in late
    finally:
        peer.terminate()
        peer.wait(timeout=10)
