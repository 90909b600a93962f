"""A real two-party video call across the topology: the pensioner's Chromium (its fake camera
plays a fixture clip) on API 1 and the agent's Chromium on API 2, signalling through Redis
between the two processes. Media must flow both ways (the WebRTC statistics count decoded
video frames on each side) and the read-aloud code issued on API 2 must reach the pensioner
on API 1. Once with ICE free to go direct, once forced through coturn (deploy/turnserver.conf)
running in a namespace of its own, with the time-limited credentials the service mints in its
room-token answers (iceTransportPolicy "relay" forced on the browsers' peer connections).

The browsers reach each API host straight at its namespace address over plain HTTP: Chromium is
told to treat those two origins as secure (a camera needs a secure context)."""

from __future__ import annotations

import itertools
import re
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, Playwright, expect
from sqlmodel import Session

from app.audit.service import SYSTEM
from app.faces import service as faces
from biometrics import DlibFaceEngine
from models.pensioner import Pensioner, Residence
from models.staff import StaffUser
from tests.app.attempts.clips import frame_jpeg
from tests.conftest import Factory, create_postgres_database, drop_postgres_database
from tests.processes import stop_all
from tests.topology.conftest import Topology, build_topology, pick_subnet
from tests.web.conftest import open_page, signed_in
from tests.web.conftest import playwright as playwright  # the browser tests' fixture
from tests.web.test_video_call import (
    CALLER_CLIP,
    agent_connects,
    caller_camera,
    launch_with_camera,
    pensioner_waits,
    read_aloud,
)
from tests.web.webrtc import CallStats, call_stats, trace_peer_connections
from tests.web.worlds import call_now

pytestmark = pytest.mark.topology
_SEED_BLOCKS = itertools.count(1)
page_in = contextmanager(open_page)
TURNSERVER_CONF = Path(__file__).resolve().parents[2] / "deploy" / "turnserver.conf"


@pytest.fixture(autouse=True, scope="module")
def patient_expectations() -> Iterator[None]:
    """Pages served by several processes on a shared, loaded machine: an expectation waits up
    to 30 s rather than Playwright's 5 s."""
    expect.set_options(timeout=30_000)
    yield
    expect.set_options(timeout=5_000)


@dataclass
class CallTopology:
    topology: Topology
    turn_address: str
    turn_log: Path


@pytest.fixture(scope="module")
def call_topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CallTopology]:
    """API 1, API 2 and a worker host, and coturn in a fourth namespace of its own, run with
    deploy/turnserver.conf (only its secret, addresses, certificates and logging changed)."""
    base = tmp_path_factory.mktemp("call-topology")
    subnet = pick_subnet()
    turn_address = f"10.{subnet}.4.2"  # the extra host after API 1, API 2 and the worker
    secret = secrets.token_urlsafe(32)
    env = {
        "LIFECERT_TURN_SECRET": secret,
        "LIFECERT_TURN_URLS": f'["turn:{turn_address}:3478?transport=udp"]',
    }
    database_url = create_postgres_database()
    turn: list[subprocess.Popen[bytes]] = []
    try:
        with build_topology(
            base, database_url=database_url, extra_hosts=1, env=env, subnet=subnet
        ) as topology:
            relay = topology.extra[0]
            assert relay.address == turn_address
            conf = base / "turnserver.conf"
            conf.write_text(turn_conf(secret=secret, address=turn_address, folder=base))
            turn_log = base / "turnserver.log"
            relay.process = subprocess.Popen(
                ["ip", "netns", "exec", relay.namespace, "turnserver", "-c", str(conf)],
                stdout=turn_log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            turn.append(relay.process)
            deadline = time.monotonic() + 30
            while not _listening(turn_address, 3478):
                assert relay.process.poll() is None, read_log(base)[-3000:]
                assert time.monotonic() < deadline, read_log(base)[-3000:]
                time.sleep(0.2)
            yield CallTopology(topology, turn_address, base / "turn.log")
    finally:
        stop_all(turn)
        drop_postgres_database(database_url)


def _listening(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=1).close()
    except OSError:
        return False
    return True


def read_log(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.glob("turn*.log"))


def turn_conf(*, secret: str, address: str, folder: Path) -> str:
    """deploy/turnserver.conf for this namespace: the secret the API hosts were given, its
    address, no TLS listener (no certificate here), logging to a file, and the relay's own
    address allowed as a peer (both browsers' relayed candidates are on it; the deployed file
    refuses private addresses as peers, which a public relay is right to)."""
    kept = [
        line
        for line in TURNSERVER_CONF.read_text().splitlines()
        if not re.match(r"(static-auth-secret|cert|pkey|log-file|tls-listening-port)=", line)
    ]
    return "\n".join(
        [
            *kept,
            f"static-auth-secret={secret}",
            f"listening-ip={address}",
            f"relay-ip={address}",
            f"allowed-peer-ip={address}",
            "no-tls",
            "no-dtls",
            f"log-file={folder / 'turn.log'}",
            f"pidfile={folder / 'turnserver.pid'}",
            f"userdb={folder / 'turndb'}",
            "",
        ]
    )


@pytest.fixture(scope="module")
def browsers(
    playwright: Playwright,  # noqa: F811 (the fixture imported above)
    call_topology: CallTopology,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Browser, Browser]]:
    """The pensioner's (camera: CALLER_CLIP) and the agent's (Chromium's test pattern)."""
    api1, api2 = call_topology.topology.hosts
    secure = f"--unsafely-treat-insecure-origin-as-secure={api1.url},{api2.url}"
    camera = caller_camera(tmp_path_factory.mktemp("caller"))
    caller = launch_with_camera(playwright, camera, secure)
    agent = launch_with_camera(playwright, None, secure)
    yield caller, agent
    caller.close()
    agent.close()


def _people(topology: Topology, face_engine: DlibFaceEngine) -> tuple[Factory, Pensioner, str]:
    """A pensioner abroad with an enrolled photo, an agent and a call open now."""
    engine = sa.create_engine(topology.database_url, poolclass=sa.pool.NullPool)
    session = Session(engine, expire_on_commit=False)
    seed = Factory(session, topology.settings)
    seed.born += timedelta(days=next(_SEED_BLOCKS))  # each test's people their own ID numbers
    pensioner = seed.pensioner("110105")
    assert isinstance(pensioner, Pensioner)
    faces.enrol(
        session=session,
        settings=topology.settings,
        engine=face_engine,
        pensioner=pensioner,
        data=frame_jpeg(CALLER_CLIP, 15),
        actor=SYSTEM,
    )
    pensioner.residence = Residence.overseas
    pensioner.overseas_country = "NZ"
    pensioner.overseas_timezone = "Pacific/Auckland"
    username = f"agent.{secrets.token_hex(3)}"
    agent = seed.staff("video_agent", scope="11", username=username)
    assert isinstance(agent, StaffUser)
    session.add(pensioner)
    session.commit()
    call_now(seed, pensioner, agent)
    return seed, pensioner, username


def _flowing(page: Page, *, seconds: float = 30) -> CallStats:
    """The page's one live peer connection once it has decoded video from the other side for
    a while (more than 30 frames), with the candidate pair it chose."""
    deadline = time.monotonic() + seconds
    while True:
        live = [s for s in call_stats(page) if s.state == "connected"]
        if len(live) == 1 and live[0].frames > 30 and live[0].local is not None:
            return live[0]
        assert time.monotonic() < deadline, call_stats(page)
        page.wait_for_timeout(500)


def _call(
    call_topology: CallTopology,
    browsers: tuple[Browser, Browser],
    face_engine: DlibFaceEngine,
    **forced: str,
) -> tuple[CallStats, CallStats]:
    topology = call_topology.topology
    api1, api2 = topology.hosts
    seed, pensioner, username = _people(topology, face_engine)
    script = trace_peer_connections(**forced)
    caller_browser, agent_browser = browsers
    try:
        with (
            page_in(caller_browser, api1.url, width=390, height=844, init_script=script) as home,
            page_in(agent_browser, api2.url, init_script=script) as console,
        ):
            signed_in(home, seed, pensioner)
            pensioner_waits(home)
            agent_connects(console, home, pensioner, username)
            pensioner_side, agent_side = _flowing(home), _flowing(console)
            # The read-aloud code: issued on API 2, shown by the page served by API 1.
            read_aloud(console, home)
            # Still flowing after the exchange: more frames than before.
            assert _flowing(home).frames > pensioner_side.frames
            assert _flowing(console).frames > agent_side.frames
    finally:
        seed.session.close()
    return pensioner_side, agent_side


def test_a_browser_call_across_the_api_hosts_goes_direct(
    call_topology: CallTopology,
    browsers: tuple[Browser, Browser],
    face_engine: DlibFaceEngine,
) -> None:
    pensioner_side, agent_side = _call(call_topology, browsers, face_engine)
    for side in (pensioner_side, agent_side):
        assert side.policy == "all"
        assert side.bytes > 10_000
        # Both browsers are on this machine: ICE finds the host candidates and needs no relay.
        assert (side.local, side.remote) == ("host", "host"), side


def test_a_browser_call_across_the_api_hosts_through_the_turn_relay(
    call_topology: CallTopology,
    browsers: tuple[Browser, Browser],
    face_engine: DlibFaceEngine,
) -> None:
    pensioner_side, agent_side = _call(
        call_topology, browsers, face_engine, iceTransportPolicy="relay"
    )
    for side in (pensioner_side, agent_side):
        assert side.policy == "relay"
        assert side.bytes > 10_000
        assert (side.local, side.remote) == ("relay", "relay"), side
        assert side.remote_address == call_topology.turn_address
        # The relay the browsers used is the one the service's room-token answer named, with
        # the short-lived credentials it minted ("<expiry unix time>:<subject>").
        turn = [server for server in side.ice_servers if server["username"]]
        assert turn and all(
            url.startswith(f"turn:{call_topology.turn_address}:") for url in turn[0]["urls"]
        ), side.ice_servers
        expiry = int(turn[0]["username"].split(":")[0])
        assert time.time() < expiry < time.time() + 3 * 3600, turn
