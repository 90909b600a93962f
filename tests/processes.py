"""Processes a test starts (servers, relays, forwarders, Caddy), and stopping them together."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

CADDYFILE = Path(__file__).resolve().parent.parent / "deploy" / "Caddyfile"


def stop_all(processes: Sequence[subprocess.Popen[bytes]], *, seconds: float = 15) -> None:
    """SIGTERM to each, then wait; one that does not stop in time is killed."""
    for process in reversed(processes):
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=seconds)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, *, verify: ssl.SSLContext | bool = True, seconds: float = 60) -> None:
    """Until the URL answers below 500."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url, verify=verify, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer within {seconds} s")
        time.sleep(0.3)


def start_caddy(
    base: Path, upstreams: list[str], processes: list[subprocess.Popen[bytes]]
) -> tuple[str, Path]:
    """deploy/Caddyfile on a free loopback port in front of `upstreams`, with its internal CA
    kept under `base` (never the host's trust store); returns its URL and root certificate."""
    https_port, home = free_port(), base / "caddy"
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "CADDY_ADMIN": f"127.0.0.1:{free_port()}",
        "LIFECERT_SITE": f"localhost:{https_port}",
        "LIFECERT_HTTP_PORT": str(free_port()),
        "LIFECERT_HTTPS_PORT": str(https_port),
        "LIFECERT_UPSTREAMS": " ".join(upstreams),
    }
    command = ["caddy", "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"]
    log = base / "caddy.log"
    processes.append(
        subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    )
    root_ca = home / "data/caddy/pki/authorities/local/root.crt"
    deadline = time.monotonic() + 30
    while not root_ca.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert root_ca.exists(), log.read_text()[-2000:]
    url = f"https://localhost:{https_port}"
    wait_for(f"{url}/healthz", verify=ssl.create_default_context(cafile=str(root_ca)))
    return url, root_ca
