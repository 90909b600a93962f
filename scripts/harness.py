"""What the benchmark and the load script share: the service started as production runs it
(`lifecert serve` and `lifecert worker` on Redis, on 127.0.0.1 only), a throw-away database
and data folder, the enrolled people and staff, tokens, and the fixture pictures."""

from __future__ import annotations

import io
import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import av
import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures"
CLIP = FIXTURES / "videos" / "live" / "liveportrait_driving_d13.mp4"
COHORT = sorted((FIXTURES / "faces").glob("dlibjohns_*/*.jpg"))[:24] + sorted(
    (FIXTURES / "faces").glob("fr_*/*.jpg")
)
ENROLMENT_FRAME = 240
# The clip blinks, then opens the mouth: the challenge it answers.
CLIP_ACTIONS = ["blink", "open_mouth"]
HOST = "127.0.0.1"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def frame(index: int, size: tuple[int, int] | None = None) -> bytes:
    """Frame `index` of the clip as a JPEG, resized to `size` if given."""
    with av.open(str(CLIP)) as container:
        for i, f in enumerate(container.decode(video=0)):
            if i == index:
                image = f.to_image()
                if size:
                    image = image.resize(size, Image.Resampling.LANCZOS)
                buffer = io.BytesIO()
                image.save(buffer, format="JPEG", quality=92)
                return buffer.getvalue()
    raise ValueError(index)


def unique_clip(data: bytes) -> bytes:
    """The same clip with a trailing MP4 `free` box: new bytes, same pictures."""
    payload = secrets.token_bytes(16)
    return data + struct.pack(">I", 8 + len(payload)) + b"free" + payload


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextmanager
def scratch_database(database_url: str | None, workdir: Path) -> Iterator[str]:
    """`database_url` as given; "postgresql": a new database on the tests' PostgreSQL server
    (LIFECERT_TEST_POSTGRES_URL), dropped afterwards; None: a new SQLite file in `workdir`."""
    if database_url is None:
        yield f"sqlite:///{workdir / 'bench.db'}"
    elif database_url == "postgresql":
        from tests.conftest import create_postgres_database, drop_postgres_database

        url = create_postgres_database()
        try:
            yield url
        finally:
            drop_postgres_database(url)
    else:
        yield database_url


def service_env(workdir: Path, database_url: str, **settings: str) -> dict[str, str]:
    """The service's settings as environment variables; `settings` overrides (LIFECERT_ names
    without the prefix, e.g. worker_nice="0")."""
    env = {
        "LIFECERT_ENV": "test",
        "LIFECERT_DATA_DIR": str(workdir),
        "LIFECERT_DATABASE_URL": database_url,
        "LIFECERT_SECRET_KEY": secrets.token_urlsafe(40),
        "LIFECERT_JOB_BACKEND": "redis",
        "LIFECERT_REDIS_NAMESPACE": f"lifecert-bench-{uuid.uuid4().hex[:8]}",
        "OMP_NUM_THREADS": "1",
    }
    env.update({f"LIFECERT_{k.upper()}": v for k, v in settings.items()})
    return env


@dataclass
class Population:
    pensioners: list[str]
    staff: list[tuple[str, str]] = field(default_factory=list)  # (role, staff id)
    region: str = "110105"


def prepare(env: dict[str, str], pensioners: int, staff_roles: tuple[str, ...] = ()) -> Population:
    """Migrate, enrol a cohort of other people (region 110108) and `pensioners` people in region
    110105 whose face is the clip's, and create one staff member per role in `staff_roles`."""
    os.environ.update(env)
    from sqlmodel import Session

    from app.audit.service import SYSTEM
    from app.config import get_settings
    from app.db import make_engine
    from app.faces import service as faces
    from app.migrate import upgrade
    from biometrics import DlibFaceEngine
    from models.region import Region
    from tests.conftest import Factory

    get_settings.cache_clear()
    settings = get_settings()
    settings.ensure_dirs()
    upgrade(settings.resolved_database_url)
    engine = DlibFaceEngine()
    population = Population(pensioners=[])
    database = make_engine(settings)
    with Session(database, expire_on_commit=False) as session:
        session.add(Region(code="110105", name="bench"))
        session.add(Region(code="110108", name="bench cohort"))
        session.commit()
        factory = Factory(session, settings)

        def add(person: object, data: bytes, analysis: faces.PhotoAnalysis) -> None:
            faces._add_face(
                session=session,
                settings=settings,
                pensioner=person,  # type: ignore[arg-type]
                analysis=analysis,
                data=data,
                source=faces.FaceSource.enrolment,
                actor=SYSTEM,
            )

        for photo in COHORT:
            data = photo.read_bytes()
            analysis = faces.analyze(data, engine=engine, settings=settings, gate="selfie")
            if analysis.embedding is not None:
                add(factory.pensioner("110108"), data, analysis)
        enrolment = frame(ENROLMENT_FRAME)
        analysis = faces.analyze(enrolment, engine=engine, settings=settings, gate="enrolment")
        assert analysis.ok, "the enrolment frame no longer passes the enrolment gate"
        for _ in range(pensioners):
            person = factory.pensioner("110105")
            add(person, enrolment, analysis)
            population.pensioners.append(str(person.id))
        for role in staff_roles:
            member = factory.staff(role, scope="")
            population.staff.append((role, str(member.id)))  # type: ignore[attr-defined]
        session.commit()
    database.dispose()
    return population


def token(env: dict[str, str], subject: str, kind: str) -> str:
    from app.security import create_access_token

    return create_access_token(
        subject=subject,
        kind=kind,  # type: ignore[arg-type]
        key=env["LIFECERT_SECRET_KEY"],
        lifetime=timedelta(hours=4),
    )


@dataclass
class Service:
    base: str
    workdir: Path
    processes: list[subprocess.Popen[bytes]]


@contextmanager
def running_service(
    env: dict[str, str],
    *,
    workers: int,
    serve_args: tuple[str, ...] = (),
    ready_seconds: float = 180,
) -> Iterator[Service]:
    """`lifecert serve` on a free 127.0.0.1 port and `lifecert worker --processes N`, each in
    its own session (as systemd or a container starts them), stopped with SIGTERM at the end."""
    workdir = Path(env["LIFECERT_DATA_DIR"])
    port = free_port()
    # The service runs the code of this checkout (first on the path, before the installed one).
    child_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    lifecert = str(Path(sys.executable).with_name("lifecert"))
    log = (workdir / "server.log").open("ab")
    worker_log = (workdir / "worker.log").open("ab")
    processes = [
        subprocess.Popen(
            [lifecert, "serve", "--host", HOST, "--port", str(port), *serve_args],
            env=child_env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ]
    try:
        if workers:
            processes.append(
                subprocess.Popen(
                    [lifecert, "worker", "--processes", str(workers)],
                    env=child_env,
                    cwd=ROOT,
                    stdout=worker_log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        base = f"http://{HOST}:{port}"
        deadline = time.monotonic() + ready_seconds
        while True:
            if processes[0].poll() is not None:
                raise RuntimeError(f"lifecert serve exited; see {workdir / 'server.log'}")
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"lifecert serve not ready in {ready_seconds:.0f} s")
            time.sleep(0.3)
        yield Service(base=base, workdir=workdir, processes=processes)
    finally:
        for proc in processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in processes:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
        worker_log.close()


def new_workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
