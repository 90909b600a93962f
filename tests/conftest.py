"""Shared fixtures: a migrated SQLite and PostgreSQL database, an app and client per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel

from app.config import Environment, Settings
from app.db import make_engine
from app.main import create_app
from app.migrate import upgrade
from app.security import create_access_token, hash_password
from biometrics import DlibFaceEngine
from tests.engines import engine_for_run

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
# The PostgreSQL server in which each test run creates (and drops) its own database.
POSTGRES_ADMIN_URL = os.environ.get(
    "LIFECERT_TEST_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test"
)


def _tables_child_first() -> tuple[str, ...]:
    """Every table, children before parents, taken from the models (a new table needs no list)."""
    import models  # noqa: F401  (importing the package registers every table)

    return tuple(table.name for table in reversed(SQLModel.metadata.sorted_tables))


TABLES_CHILD_FIRST = _tables_child_first()
PASSWORD = "correct horse battery staple"


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Backend:
    name: str
    url: str
    engine: Engine  # the app's engine
    # The tests' own view of the database: plain transactions, so a test that reads between
    # requests does not hold SQLite's write lock the way the app's BEGIN IMMEDIATE does.
    test_engine: Engine


def create_postgres_database() -> str:
    name = f"lifecert_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(_libpq(POSTGRES_ADMIN_URL), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL is needed for the database tests and is not reachable at "
            f"{POSTGRES_ADMIN_URL} ({exc}). Start it, or point LIFECERT_TEST_POSTGRES_URL at one."
        ) from exc
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(_libpq(POSTGRES_ADMIN_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'lifecert.db'}"
    else:
        url = create_postgres_database()
    upgrade(url)
    settings = Settings(database_url=url, data_dir=tmp_path_factory.mktemp("var"))
    engine = make_engine(settings)
    test_engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    yield Backend(request.param, url, engine, test_engine)
    engine.dispose()
    test_engine.dispose()
    if request.param == "postgresql":
        drop_postgres_database(url)


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return Settings(
        env=Environment.test,
        data_dir=tmp_path / "var",
        database_url=backend.url,
        secret_key=TEST_SECRET,
    )


@pytest.fixture(scope="session")
def face_engine(tmp_path_factory: pytest.TempPathFactory) -> DlibFaceEngine:
    """One real dlib engine for the whole run (models load once, on first use), remembering
    its answers: the same photo analysed again in another test, or by another xdist worker,
    costs nothing (tests/engines.py)."""
    return engine_for_run(tmp_path_factory.getbasetemp())  # type: ignore[return-value]


class RecordingQueue:
    """Collects enqueued jobs for tests of the request side; flow tests use the real pool."""

    def __init__(self) -> None:
        self.attempts: list[uuid.UUID] = []

    def enqueue_attempt(self, attempt_id: uuid.UUID) -> None:
        self.attempts.append(attempt_id)

    def check(self) -> None:
        return None

    def shutdown(self) -> None:
        return None


@pytest.fixture
def job_queue() -> Iterator[object]:
    yield RecordingQueue()


@pytest.fixture
def app(
    settings: Settings, backend: Backend, face_engine: DlibFaceEngine, job_queue: object
) -> Iterator[FastAPI]:
    application = create_app(
        settings,
        engine=backend.engine,
        face_engine=face_engine,
        job_queue=job_queue,  # type: ignore[arg-type]
    )
    yield application
    with backend.engine.begin() as conn:
        for table in TABLES_CHILD_FIRST:
            conn.execute(sa.text(f"DELETE FROM {table}"))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def db(backend: Backend, app: FastAPI) -> Iterator[Session]:
    with Session(backend.test_engine, expire_on_commit=False) as session:
        yield session


_PASSWORD_HASH = hash_password(PASSWORD)


class Factory:
    """Builds rows directly in the database for tests, and tokens for them."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self._seq = 100
        # ID numbers are unique by region, birth date and a 3-digit sequence; a factory that
        # shares a database with others (the browser tests) takes its own birth date.
        self.born = date(1950, 3, 1)

    def region(self, code: str = "110105", name: str = "北京市朝阳区") -> object:
        from models.region import Region

        region = self.session.get(Region, code) or Region(code=code, name=name)
        self.session.add(region)
        self.session.commit()
        return region

    def staff(
        self, *roles: str, scope: str = "", username: str | None = None, active: bool = True
    ) -> object:
        from models.staff import StaffUser

        self._seq += 1
        staff = StaffUser(
            username=username or f"user{self._seq}",
            password_hash=_PASSWORD_HASH,
            roles=list(roles),
            region_scope=scope,
            is_active=active,
        )
        self.session.add(staff)
        self.session.commit()
        return staff

    def pensioner(self, region: str = "110105", **fields: object) -> object:

        from app import national_id
        from models.pensioner import BenefitType, Pensioner, Residence, Sex

        self.region(region)
        self._seq += 1
        nid = national_id.make(region, self.born, self._seq)
        values: dict[str, object] = {
            "national_id": nid,
            "name": f"测试{self._seq}",
            "date_of_birth": self.born,
            "sex": Sex(national_id.sex(nid)),
            "phone": "13800138000",
            "region_code": region,
            "residence": Residence.local,
            "benefit_type": BenefitType.pension,
            "monthly_amount_fen": 350000,
        }
        values.update(fields)
        pensioner = Pensioner(**values)  # type: ignore[arg-type]
        self.session.add(pensioner)
        self.session.commit()
        return pensioner

    def face(self, pensioner: object, photo: bytes = b"\xff\xd8 stored photo") -> object:
        """An enrolled face row with a stored file (a random embedding: not for matching)."""
        import numpy as np

        from models.face import EnrolledFace, FaceSource

        pid = pensioner.id  # type: ignore[attr-defined]
        face = EnrolledFace(
            pensioner_id=pid,
            source=FaceSource.enrolment,
            photo_path=f"faces/{pid}/{uuid.uuid4()}.jpg",
            photo_sha256="0" * 64,
            photo_format="jpeg",
            photo_width=640,
            photo_height=480,
            embedding=np.random.default_rng().normal(size=128).astype("<f8").tobytes(),
            model_name="dlib_face_recognition_resnet_model_v1",
            model_version="test",
            added_by_type="system",
            added_by_id="test",
        )
        from app import media

        media.store(settings=self.settings, relative=face.photo_path, data=photo)
        self.session.add(face)
        self.session.commit()
        return face

    def attempt(self, pensioner: object) -> object:
        """A started remote certification attempt waiting for its upload."""
        from datetime import UTC, datetime

        from models.attempt import CertificationAttempt

        attempt = CertificationAttempt(
            pensioner_id=pensioner.id,  # type: ignore[attr-defined]
            challenge_actions=["blink", "open_mouth"],
            challenge_nonce=uuid.uuid4().hex,
            challenge_expires_at=datetime.now(UTC) + timedelta(minutes=5),
        )
        self.session.add(attempt)
        self.session.commit()
        return attempt

    def token(
        self, subject: object, kind: str = "staff", lifetime: timedelta = timedelta(minutes=5)
    ) -> str:
        return create_access_token(
            subject=str(getattr(subject, "id", subject)),
            kind=kind,  # type: ignore[arg-type]
            key=self.settings.signing_key,
            lifetime=lifetime,
        )

    def auth(self, subject: object, kind: str = "staff") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject, kind)}"}


@pytest.fixture
def factory(db: Session, settings: Settings) -> Factory:
    return Factory(db, settings)


# Groups of tests timed apart at the end of a run. The browser tests drive Chromium; the
# topology and network-emulation groups (several hosts, degraded links) are other suites that
# count apart from the core suite's time budget.
GROUPS = ("browser", "topology", "netem")
_GROUP_DIRS = {"browser": "tests/web/"}
_group_seconds: dict[str, float] = {}
_group_tests: dict[str, set[str]] = {}
_group_span: dict[str, tuple[float, float]] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for group, folder in _GROUP_DIRS.items():
            if item.nodeid.startswith(folder):
                item.add_marker(getattr(pytest.mark, group))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # The most specific group wins: a netem test in tests/web is also a browser test.
    group = next((g for g in reversed(GROUPS) if g in report.keywords), "core")
    _group_seconds[group] = _group_seconds.get(group, 0.0) + report.duration
    _group_tests.setdefault(group, set()).add(report.nodeid)
    first, last = _group_span.get(group, (report.start, report.stop))
    _group_span[group] = (min(first, report.start), max(last, report.stop))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _group_seconds:
        return
    terminalreporter.section("time by group")
    terminalreporter.write_line(
        "    group  tests  test time (summed over workers)  wall clock from first to last"
    )
    for group in ("core", *GROUPS):
        if group in _group_seconds:
            first, last = _group_span[group]
            terminalreporter.write_line(
                f"{group:>9}  {len(_group_tests[group]):5d}  {_group_seconds[group]:9.1f} s"
                f"{'':22}{last - first:7.1f} s"
            )
