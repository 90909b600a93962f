"""The test topology: hosts in network namespaces of the test's own (veth to the host, addresses
10.<subnet>.<n>.2 inside and .1 on the host's end), PostgreSQL and Redis on the host's loopback
reached through a forwarder on each link's host address, `lifecert serve` and `lifecert worker`
in the namespaces, Caddy (deploy/Caddyfile) in front of the API hosts. Needs root (ip netns).

`topology` (per module) uses the machine's shared PostgreSQL and Redis (a database and a Redis
namespace of its own); the fault tests build theirs on a PostgreSQL cluster and a Redis server
of their own (`own_postgres`, `own_redis`), which they may stop and start."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
import sqlalchemy as sa

from app.config import Environment, Settings
from app.migrate import upgrade
from tests.app.attempts.clips import SEED_BLINK_THEN_MOUTH
from tests.conftest import TEST_SECRET, create_postgres_database, drop_postgres_database
from tests.processes import free_port, start_caddy, stop_all
from tests.redis_namespace import drop_namespace

LIFECERT = Path(sys.executable).parent / "lifecert"
SHARED_REDIS_PORT = 6379


def pick_subnet() -> int:
    """A 10.<n>.0.0/16 no interface of this machine uses yet."""
    used = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    while True:
        subnet = random.randint(64, 250)
        if f" 10.{subnet}." not in used:
            return subnet


def sh(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=30)


@dataclass
class Host:
    namespace: str
    address: str  # inside the namespace
    gateway: str  # the host's end of the link
    url: str
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log else ""

    def kill_everything(self) -> None:
        """As if the machine died: SIGKILL to every process in its namespace."""
        pids = subprocess.run(
            ["ip", "netns", "pids", self.namespace], capture_output=True, text=True, timeout=10
        ).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process is not None and self.process.poll() is None:
            self.process.wait(timeout=15)


@dataclass
class Topology:
    hosts: list[Host]  # API 1, API 2
    workers: list[Host]  # each runs `lifecert worker`
    database_url: str  # as this test (on the host) reaches it
    settings: Settings
    edge_url: str  # Caddy (deploy/Caddyfile) in front of both API hosts
    root_ca: Path
    redis_url: str  # as this test reaches it
    redis_namespace: str
    env: dict[str, str]  # what every lifecert process gets (besides its host's addresses)
    base: Path
    extra: list[Host] = field(default_factory=list)  # namespaces with nothing started in them
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def worker(self) -> Host:
        return self.workers[0]

    def start(self, host: Host, *role: str, env: Mapping[str, str] | None = None) -> None:
        """(Re)start a lifecert process on that host: serve or worker; serve waits until ready."""
        host_env = {
            **self.env,
            "LIFECERT_DATABASE_URL": _through(self.database_url, host.gateway),
            "LIFECERT_REDIS_URL": _redis_through(self.redis_url, host.gateway),
            "LIFECERT_RATE_LIMIT_STORAGE": _redis_through(self.redis_url, host.gateway),
            "LIFECERT_TRUSTED_PROXIES": f'["{host.gateway}"]',
            **(env or {}),
        }
        if not role:
            role = ("serve", "--host", host.address, "--port", "8000")
        host.log = self.base / f"{host.namespace}.log"
        host.process = subprocess.Popen(
            ["ip", "netns", "exec", host.namespace, str(LIFECERT), *role],
            env=host_env,
            stdout=host.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a session of its own, as systemd starts it
        )
        self.processes.append(host.process)
        if role[0] == "serve":
            wait_ready(host)


def _through(database_url: str, gateway: str) -> str:
    return sa.engine.make_url(database_url).set(host=gateway).render_as_string(hide_password=False)


def _redis_through(redis_url: str, gateway: str) -> str:
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    return f"redis://{gateway}:{port}/0"


def wait_ready(host: Host, *, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{host.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert host.process is None or host.process.poll() is None, host.log_tail()
        assert time.monotonic() < deadline, host.log_tail()
        time.sleep(0.5)


@contextmanager
def build_topology(
    base: Path,
    *,
    database_url: str,
    redis_port: int = SHARED_REDIS_PORT,
    worker_hosts: int = 1,
    extra_hosts: int = 0,
    env: Mapping[str, str] | None = None,
    worker_processes: int = 1,
    subnet: int | None = None,
) -> Iterator[Topology]:
    """Two API hosts, `worker_hosts` worker hosts and `extra_hosts` empty namespaces, every
    namespace and process removed on the way out (also when the test fails). Host n (from 1:
    API 1, API 2, the workers, the extra ones) is 10.<subnet>.<n>.2; `subnet` is random unless
    given (so `env` can name an extra host's address)."""
    assert os.geteuid() == 0, "the topology tests make network namespaces: run them as root"
    base.mkdir(parents=True, exist_ok=True)  # the benchmark passes a folder of its own
    tag = uuid.uuid4().hex[:6]
    subnet = subnet or pick_subnet()
    redis_namespace = f"lifecert-topology-{tag}"
    database_port = sa.engine.make_url(database_url).port or 5432
    upgrade(database_url)
    made: list[Host] = []
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(1, 3 + worker_hosts + extra_hosts):
            ns, outside, inside = f"lc{tag}a{n}", f"lc{tag}h{n}", f"lc{tag}n{n}"
            gateway, address = f"10.{subnet}.{n}.1", f"10.{subnet}.{n}.2"
            sh("ip", "netns", "add", ns)
            made.append(Host(ns, address, gateway, f"http://{address}:8000"))
            sh("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
            sh("ip", "link", "set", inside, "netns", ns)
            sh("ip", "addr", "add", f"{gateway}/24", "dev", outside)
            sh("ip", "link", "set", outside, "up")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{address}/24", "dev", inside)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", inside, "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            sh("ip", "netns", "exec", ns, "ip", "route", "add", "default", "via", gateway)
            # PostgreSQL and Redis listen on the host's loopback: forward the link's address.
            for port in (database_port, redis_port):
                processes.append(
                    subprocess.Popen(
                        [
                            "socat",
                            f"TCP-LISTEN:{port},bind={gateway},reuseaddr,fork",
                            f"TCP:127.0.0.1:{port}",
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
        common = {
            **os.environ,
            "LIFECERT_ENV": "test",
            "LIFECERT_SECRET_KEY": TEST_SECRET,
            "LIFECERT_DATA_DIR": str(base / "var"),  # one shared media folder
            "LIFECERT_REDIS_NAMESPACE": redis_namespace,
            "LIFECERT_SIGNALLING": "redis",
            "LIFECERT_JOB_BACKEND": "redis",
            "LIFECERT_LOG_FORMAT": "json",
            **(env or {}),
        }
        settings = Settings(
            env=Environment.test,
            data_dir=base / "var",
            database_url=database_url,
            secret_key=TEST_SECRET,
        )
        apis, workers = made[:2], made[2 : 2 + worker_hosts]
        topology = Topology(
            hosts=apis,
            workers=workers,
            database_url=database_url,
            settings=settings,
            edge_url="",
            root_ca=base,
            redis_url=f"redis://127.0.0.1:{redis_port}/0",
            redis_namespace=redis_namespace,
            env=common,
            base=base,
            extra=made[2 + worker_hosts :],
            processes=processes,
        )
        for host in workers:
            topology.start(host, "worker", "--processes", str(worker_processes))
        # API 1's first attempt asks for what the fixture clip performs.
        topology.start(apis[0], env={"LIFECERT_CHALLENGE_SEED": str(SEED_BLINK_THEN_MOUTH)})
        topology.start(apis[1])
        topology.edge_url, topology.root_ca = start_caddy(
            base, [f"{h.address}:8000" for h in apis], processes
        )
        yield topology
    finally:
        stop_all(processes)
        for host in made:  # the namespace's end of the link goes with it, and so the link
            host.kill_everything()
            subprocess.run(["ip", "netns", "delete", host.namespace], check=False, timeout=30)
        drop_namespace(redis_namespace, url=f"redis://127.0.0.1:{redis_port}/0")


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """On the machine's PostgreSQL (a database of its own) and Redis (a namespace of its own)."""
    database_url = create_postgres_database()
    try:
        with build_topology(tmp_path_factory.mktemp("topology"), database_url=database_url) as t:
            yield t
    finally:
        drop_postgres_database(database_url)


@dataclass
class OwnPostgres:
    """A PostgreSQL cluster of the test's own (initdb in a temporary folder, its own port)."""

    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/lifecert"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", "pg_ctl", "-D", str(self.folder / "data"), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder}"
        self._ctl("-l", str(self.folder / "postgres.log"), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "-w", "stop")


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[OwnPostgres]:
    # Not under pytest's folder, which only root may enter: the server runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="lifecert-topology-postgres-"))
    cluster = OwnPostgres(folder, free_port())
    try:
        shutil.chown(folder, "postgres", "postgres")
        folder.chmod(0o700)
        subprocess.run(
            ["runuser", "-u", "postgres", "--", "initdb", "-D", str(folder / "data")]
            + ["-U", "postgres", "--auth=trust", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster.start()
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE lifecert")
        yield cluster
    finally:
        try:
            cluster.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # not started, or already stopped
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class OwnRedis:
    """A Redis server of the test's own on its own port, appending every write to its file."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--dir", str(self.folder), "--appendonly", "yes", "--appendfsync", "always"]
            + ["--save", "", "--protected-mode", "no"],
            stdout=(self.folder / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while (
            subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
            ).stdout.strip()
            != "PONG"
        ):
            assert time.monotonic() < deadline, (self.folder / "redis.log").read_text()
            time.sleep(0.1)

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()  # SIGTERM: Redis flushes its file and exits
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path_factory.mktemp("redis"), free_port())
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.stop()
