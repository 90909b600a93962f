"""Faults in the topology, on a PostgreSQL cluster and a Redis server of this test's own (never
the machine's shared ones, which other people use): PostgreSQL restarted, Redis restarted, the
worker host killed mid-job, an API host killed mid-upload and mid-poll. Each counts the rows
before and after: nothing written before a fault is lost, nothing is half-written, and each
attempt ends with exactly one decision."""

from __future__ import annotations

import ssl
import struct
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from biometrics import DlibFaceEngine
from models.attempt import CertificationAttempt
from models.audit import AuditEvent
from models.certification import Certification
from tests.app.attempts.clips import SELFIE_CLIP, enrol_clip_person, enrol_cohort, frame_jpeg
from tests.conftest import Factory
from tests.topology.conftest import OwnPostgres, OwnRedis, Topology, build_topology

pytestmark = pytest.mark.topology
ATTEMPTS = "/api/v1/certifications/attempts"
DECIDED_WITHIN = 600  # seconds: a worker's start and a job on a shared, loaded 2-core machine
_variants = iter(range(1, 10_000))


@dataclass
class Faulty:
    topology: Topology
    postgres: OwnPostgres
    redis: OwnRedis
    engine: sa.Engine

    def counts(self) -> dict[str, int]:
        with Session(self.engine) as db:
            return {
                model.__tablename__: db.exec(select(func.count()).select_from(model)).one()  # type: ignore[attr-defined]
                for model in (CertificationAttempt, Certification, AuditEvent)
            }

    def ids(self) -> set[uuid.UUID]:
        with Session(self.engine) as db:
            return set(db.exec(select(CertificationAttempt.id)).all())

    def attempt(self, attempt_id: str) -> CertificationAttempt:
        with Session(self.engine) as db:
            row = db.get(CertificationAttempt, uuid.UUID(attempt_id))
            assert row is not None
            return row

    def decisions(self, attempt_id: str) -> int:
        """Audit events recording a decision on this attempt (one per decision made)."""
        finals = [f"attempt.{s}" for s in ("certified", "needs_review", "rejected", "retry")]
        with Session(self.engine) as db:
            events = db.exec(select(AuditEvent).where(col(AuditEvent.action).in_(finals))).all()
        return sum(1 for e in events if (e.after or {}).get("attempt_id") == attempt_id)


@pytest.fixture(scope="module")
def faulty(
    tmp_path_factory: pytest.TempPathFactory,
    own_postgres: OwnPostgres,
    own_redis: OwnRedis,
    face_engine: DlibFaceEngine,
) -> Iterator[Faulty]:
    env = {
        # A killed worker's unfinished job goes back to the queue within seconds, not a minute.
        "LIFECERT_REDIS_HEARTBEAT_MS": "5000",
        "LIFECERT_REDIS_MAINTENANCE_CHANCE": "1000000",
        # The machine is shared with other test runs: jobs at a lower priority could starve.
        "LIFECERT_WORKER_NICE": "0",
    }
    with build_topology(
        tmp_path_factory.mktemp("faults"),
        database_url=own_postgres.url,
        redis_port=own_redis.port,
        worker_hosts=2,
        env=env,
    ) as topology:
        # The second worker host starts empty: it is "another worker" when the first dies.
        second = topology.workers[1]
        second.kill_everything()
        engine = sa.create_engine(own_postgres.url, poolclass=sa.pool.NullPool)
        with Session(engine, expire_on_commit=False) as db:
            enrol_cohort(db, Factory(db, topology.settings), face_engine)
        yield Faulty(topology, own_postgres, own_redis, engine)
        engine.dispose()


_people = iter(range(1, 10_000))


def _pensioner(faulty: Faulty, face_engine: DlibFaceEngine) -> dict[str, str]:
    """A new pensioner enrolled with the clip's face; their bearer headers."""
    with Session(faulty.engine, expire_on_commit=False) as db:
        factory = Factory(db, faulty.topology.settings)
        factory.born += timedelta(days=next(_people))  # ID numbers of their own
        pensioner = enrol_clip_person(db, factory, faulty.topology.settings, face_engine)
        return factory.auth(pensioner, "pensioner")


def _variant(clip: bytes) -> bytes:
    """The clip with an MP4 `free` box appended: the same recording, another checksum (the
    service refuses a video it has seen before)."""
    payload = uuid.uuid4().bytes + struct.pack(">I", next(_variants))
    return clip + struct.pack(">I4s", 8 + len(payload), b"free") + payload


def _start(url: str, headers: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    started = httpx.post(f"{url}{ATTEMPTS}", json={}, headers=headers, timeout=30, **kwargs)
    assert started.status_code == 201, started.text
    return started.json()  # type: ignore[no-any-return]


def _upload_parts(attempt: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The multipart body of an upload (its bytes, its content type)."""
    request = httpx.Request(
        "POST",
        "http://upload.invalid/",
        files={
            "selfie": ("selfie.jpg", frame_jpeg(SELFIE_CLIP, 60), "image/jpeg"),
            "video": ("clip.mp4", _variant(SELFIE_CLIP.read_bytes()), "video/mp4"),
        },
        data={"nonce": attempt["challenge"]["nonce"], "mirrored": "false"},
    )
    return request.read(), {"Content-Type": request.headers["Content-Type"]}


def _upload(
    url: str, attempt: dict[str, Any], headers: dict[str, str], **kw: Any
) -> httpx.Response:
    body, content_type = _upload_parts(attempt)
    return httpx.post(
        f"{url}{ATTEMPTS}/{attempt['id']}/upload",
        content=body,
        headers={**headers, **content_type},
        timeout=60,
        **kw,
    )


def _decided(faulty: Faulty, attempt_id: str) -> CertificationAttempt:
    deadline = time.monotonic() + DECIDED_WITHIN
    while True:
        row = faulty.attempt(attempt_id)
        if row.status.value != "processing":
            return row
        assert time.monotonic() < deadline, "no decision"
        time.sleep(1)


def _media(faulty: Faulty, attempt_id: str) -> list[str]:
    folder = faulty.topology.settings.resolved_media_dir / "attempts"
    return sorted(p.name for p in folder.glob(f"*/{attempt_id}/*"))


def _uploaded(faulty: Faulty, attempt_id: str) -> list[str]:
    """The upload's own files (the decision adds the frames it looked at beside them)."""
    return [name for name in _media(faulty, attempt_id) if not name.startswith("frame_")]


def _no_leak(response: httpx.Response) -> None:
    """An error answer a client can act on: never a 500, never a Python traceback."""
    assert response.status_code != 500, response.text
    for leak in ("Traceback", 'File "', "sqlalchemy", "psycopg", "redis.exceptions"):
        assert leak not in response.text, response.text


def test_postgresql_restarts(faulty: Faulty, face_engine: DlibFaceEngine) -> None:
    """/readyz fails on both hosts while PostgreSQL is down and recovers after; the other
    answers meanwhile are 503s without a trace of the server's insides; no row is lost."""
    topology = faulty.topology
    headers = _pensioner(faulty, face_engine)
    attempt = _start(topology.hosts[0].url, headers)
    before, ids = faulty.counts(), faulty.ids()
    tls = ssl.create_default_context(cafile=str(topology.root_ca))
    faulty.postgres.stop()
    try:
        down: list[httpx.Response] = []
        for host in topology.hosts:
            down.append(httpx.get(f"{host.url}/readyz", timeout=15))
            down.append(httpx.get(f"{host.url}{ATTEMPTS}/{attempt['id']}", headers=headers))
            down.append(httpx.get(f"{host.url}/api/v1/me", headers=headers, timeout=15))
            down.append(httpx.post(f"{host.url}{ATTEMPTS}", json={}, headers=headers))
        with httpx.Client(base_url=topology.edge_url, verify=tls, timeout=15) as edge:
            down.append(edge.get(f"{ATTEMPTS}/{attempt['id']}", headers=headers))
        for response in down:
            _no_leak(response)
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "DatabaseUnavailable"
        assert all(r.headers.get("Retry-After") for r in down[1:4])
    finally:
        faulty.postgres.start()
    deadline = time.monotonic() + 60
    for host in topology.hosts:
        while httpx.get(f"{host.url}/readyz", timeout=15).status_code != 200:
            assert time.monotonic() < deadline, "the API host did not recover"
            time.sleep(0.5)
    again = httpx.get(f"{topology.hosts[1].url}{ATTEMPTS}/{attempt['id']}", headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "awaiting_upload"
    assert faulty.counts() == before and faulty.ids() == ids


def test_redis_restarts(faulty: Faulty, face_engine: DlibFaceEngine) -> None:
    """A job queued before Redis stops is still there after; while it is down an upload is
    refused with 503 and Retry-After (and nothing of it is written); once it is back the retried
    upload is accepted and the worker decides both, once each."""
    topology = faulty.topology
    api1, api2 = topology.hosts
    worker = topology.workers[0]
    first_headers, second_headers = _pensioner(faulty, face_engine), _pensioner(faulty, face_engine)
    first, second = _start(api1.url, first_headers), _start(api2.url, second_headers)
    worker.kill_everything()  # no worker: the first job stays in the queue
    try:
        queued = _upload(api1.url, first, first_headers)
        assert queued.status_code == 202, queued.text
        queue = f"{topology.redis_namespace}:attempts"
        client = redis.Redis(port=faulty.redis.port)
        assert client.llen(queue) + client.hlen(f"{queue}.msgs") >= 1
        before, ids = faulty.counts(), faulty.ids()
        faulty.redis.stop()
        try:
            refused = _upload(api2.url, second, second_headers)
            _no_leak(refused)
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["Retry-After"]) > 0
            assert faulty.attempt(second["id"]).status.value == "awaiting_upload"
            assert _media(faulty, second["id"]) == []
        finally:
            faulty.redis.start()
        assert faulty.counts() == before and faulty.ids() == ids
        assert client.hlen(f"{queue}.msgs") >= 1  # the first job survived the restart
        accepted = _upload(api2.url, second, second_headers)
        assert accepted.status_code == 202, accepted.text
    finally:
        topology.start(worker, "worker", "--processes", "1")
    for attempt in (first, second):
        row = _decided(faulty, attempt["id"])
        assert row.job_runs == 1, row
        assert faulty.decisions(attempt["id"]) == 1
        assert _uploaded(faulty, attempt["id"]) == ["selfie", "video"]


def test_the_worker_host_dies_mid_job(faulty: Faulty, face_engine: DlibFaceEngine) -> None:
    """The worker host is killed (every process in it) while it runs a job; another worker host
    started then gets the job back from Redis and finishes it: one decision, two runs."""
    topology = faulty.topology
    first, second = topology.workers
    headers = _pensioner(faulty, face_engine)
    attempt = _start(topology.hosts[0].url, headers)
    before = faulty.counts()
    assert _upload(topology.hosts[0].url, attempt, headers).status_code == 202
    deadline = time.monotonic() + 120
    while faulty.attempt(attempt["id"]).job_started_at is None:
        assert time.monotonic() < deadline, first.log_tail()
        time.sleep(0.2)
    assert faulty.attempt(attempt["id"]).status.value == "processing"
    first.kill_everything()
    try:
        topology.start(second, "worker", "--processes", "1")
        row = _decided(faulty, attempt["id"])
    finally:
        topology.start(first, "worker", "--processes", "1")
    assert row.job_runs == 2, row
    assert faulty.decisions(attempt["id"]) == 1
    after = faulty.counts()
    assert after["certification_attempt"] == before["certification_attempt"]
    with Session(faulty.engine) as db:
        certified = db.exec(
            select(func.count())
            .select_from(Certification)
            .where(Certification.pensioner_id == row.pensioner_id)
        ).one()
    assert certified == (1 if row.status.value == "certified" else 0)


def test_an_api_host_dies_mid_upload_and_mid_poll(
    faulty: Faulty, face_engine: DlibFaceEngine
) -> None:
    """API 1 is killed while an upload streams into it: nothing of it is written, and the
    client's retry through the edge is accepted. Then API 2 is killed while the client polls
    through the edge: the client's retries get their answers from API 1."""
    topology = faulty.topology
    api1, api2 = topology.hosts
    headers = _pensioner(faulty, face_engine)
    attempt = _start(api1.url, headers)
    body, content_type = _upload_parts(attempt)
    before, ids = faulty.counts(), faulty.ids()

    def slowly() -> Iterator[bytes]:
        step = len(body) // 8
        for n, offset in enumerate(range(0, len(body), step)):
            if n == 3:
                api1.kill_everything()
            yield body[offset : offset + step]
            time.sleep(0.1)

    try:
        with pytest.raises(httpx.TransportError):
            httpx.post(
                f"{api1.url}{ATTEMPTS}/{attempt['id']}/upload",
                content=slowly(),
                headers={**headers, **content_type, "Content-Length": str(len(body))},
                timeout=30,
            )
        # Nothing of the cut upload: the attempt still awaits it, no file, no event.
        assert faulty.attempt(attempt["id"]).status.value == "awaiting_upload"
        assert _media(faulty, attempt["id"]) == []
        assert faulty.counts() == before and faulty.ids() == ids
        tls = ssl.create_default_context(cafile=str(topology.root_ca))
        with httpx.Client(base_url=topology.edge_url, verify=tls, timeout=60) as edge:
            # No worker for now: the attempt stays `processing` while the client polls.
            for worker in topology.workers:
                worker.kill_everything()
            retried = _retrying(
                lambda: edge.post(
                    f"{ATTEMPTS}/{attempt['id']}/upload",
                    content=body,
                    headers={**headers, **content_type},
                )
            )
            assert retried.status_code == 202, retried.text
            topology.start(api1)

            # Four clients poll through the edge, back to back, while API 2 dies under them.
            def poll(_: int) -> list[str]:
                seen = []
                for _ in range(12):
                    answer = _retrying(
                        lambda: edge.get(f"{ATTEMPTS}/{attempt['id']}", headers=headers)
                    )
                    assert answer.status_code == 200, answer.text
                    seen.append(answer.json()["status"])
                return seen

            with ThreadPoolExecutor(max_workers=4) as pollers:
                polled = pollers.map(poll, range(4))
                time.sleep(1)
                api2.kill_everything()
                answers = [status for seen in polled for status in seen]
            assert answers == ["processing"] * 48
            topology.start(topology.workers[0], "worker", "--processes", "1")
    finally:
        for host in (api1, api2):
            if host.process is None or host.process.poll() is not None:
                topology.start(host)
    row = _decided(faulty, attempt["id"])
    assert row.job_runs == 1 and faulty.decisions(attempt["id"]) == 1
    assert _uploaded(faulty, attempt["id"]) == ["selfie", "video"]
    assert faulty.ids() == ids  # no new attempt: the retry completed the same one


def _retrying(send: Any, *, tries: int = 10) -> httpx.Response:
    """A client's retry: again after a broken connection or a 502/503 from the edge."""
    for n in range(tries):
        try:
            response: httpx.Response = send()
        except httpx.TransportError:
            if n == tries - 1:
                raise
        else:
            if response.status_code not in (502, 503) or n == tries - 1:
                return response
        time.sleep(1)
    raise AssertionError("unreachable")
