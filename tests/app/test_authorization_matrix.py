"""Every route, every role plus anonymous and a pensioner, a target in and out of region scope.

Staff identities are scoped to province 11 (Beijing); the in-scope target is in 110105, the
out-of-scope one in 310115 (Shanghai). A new route fails `test_every_route_is_in_the_matrix`
until its expectations are written here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import date

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Connection
from sqlmodel import Session

from app import media, national_id
from app.config import Environment, Settings
from app.main import create_app
from biometrics import DlibFaceEngine
from tests.app.appointments.matrix import MATRIX as APPOINTMENTS_MATRIX
from tests.app.appointments.matrix import build_world as appointments_world
from tests.app.attempts.matrix import MATRIX as UPLOADS_MATRIX
from tests.app.attempts.matrix import build_world as uploads_world
from tests.app.datamatch.matrix import MATRIX as DATAMATCH_MATRIX
from tests.app.datamatch.matrix import build_world as datamatch_world
from tests.app.faces.matrix import MATRIX as DUPLICATES_MATRIX
from tests.app.faces.matrix import build_world as duplicates_world
from tests.app.reviews.matrix import MATRIX as REVIEWS_MATRIX
from tests.app.reviews.matrix import build_world as reviews_world
from tests.conftest import (
    FIXTURES,
    TEST_SECRET,
    Backend,
    Factory,
    RecordingQueue,
)

ROLES = ("admin", "reviewer", "video_agent", "community_worker", "auditor")
IDENTITIES = ("anonymous", "pensioner", *ROLES, "national_auditor")
PUBLIC = {
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/pensioner/code"),
    ("POST", "/api/v1/auth/pensioner/token"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
}


@dataclass
class World:
    pensioner_in: str
    pensioner_out: str
    staff_in: str
    staff_out: str
    face_in: str
    face_out: str
    attempt_in: str
    attempt_out: str
    nonce_in: str
    nonce_out: str
    data: dict[str, str] = field(default_factory=dict)  # tests/app/datamatch/matrix.py


PHOTO = (FIXTURES / "faces" / "deepface_c01" / "1.jpg").read_bytes()
CLIP = (FIXTURES / "videos" / "live" / "liveportrait_driving_d0.mp4").read_bytes()
PENSIONER_ONLY = dict.fromkeys(IDENTITIES, (401, 401))


def _upload(world: World, inside: bool) -> tuple[str, str, dict[str, object]]:
    attempt, nonce = (
        (world.attempt_in, world.nonce_in) if inside else (world.attempt_out, world.nonce_out)
    )
    return (
        "POST",
        f"/api/v1/certifications/attempts/{attempt}/upload",
        {
            "files": {
                "selfie": ("s.jpg", PHOTO, "image/jpeg"),
                "video": ("v.mp4", CLIP, "video/mp4"),
            },
            "data": {"nonce": nonce},
        },
    )


def _pensioner_body(region: str) -> dict[str, object]:
    return {
        "national_id": national_id.make(region, date(1944, 2, 2), 777),
        "name": "新人",
        "phone": "13900000000",
        "region_code": region,
        "monthly_amount_fen": 100000,
    }


def _csv(region: str) -> str:
    nid = national_id.make(region, date(1944, 2, 3), 778)
    header = "national_id,name,phone,region_code,monthly_amount_fen"
    return f"{header}\n{nid},新人,13900000001,{region},1\n"


Request = Callable[[World, bool], tuple[str, str, dict[str, object]]]

# (method, path template) -> (request builder, {identity: (status in scope, status out of scope)})
STAFF_DENIED = dict.fromkeys(ROLES + ("national_auditor",), (403, 403))
ANON = {"anonymous": (401, 401), "pensioner": (401, 401)}


def _expect(**allowed: tuple[int, int]) -> dict[str, tuple[int, int]]:
    return {**ANON, **STAFF_DENIED, **allowed}


def _p(world: World, inside: bool) -> str:
    return world.pensioner_in if inside else world.pensioner_out


def _s(world: World, inside: bool) -> str:
    return world.staff_in if inside else world.staff_out


def _f(world: World, inside: bool) -> str:
    return f"/api/v1/pensioners/{_p(world, inside)}/faces/" + (
        world.face_in if inside else world.face_out
    )


MATRIX: dict[tuple[str, str], tuple[Request, dict[str, tuple[int, int]]]] = {
    ("GET", "/api/v1/pensioners"): (
        lambda w, i: (
            "GET",
            "/api/v1/pensioners",
            {"params": {"region_code": "110105" if i else "310115"}},
        ),
        _expect(admin=(200, 200), reviewer=(200, 200)),
    ),
    ("POST", "/api/v1/pensioners"): (
        lambda w, i: (
            "POST",
            "/api/v1/pensioners",
            {"json": _pensioner_body("110105" if i else "310115")},
        ),
        _expect(admin=(201, 403)),
    ),
    ("POST", "/api/v1/pensioners/import"): (
        lambda w, i: (
            "POST",
            "/api/v1/pensioners/import",
            {
                "content": _csv("110105" if i else "310115").encode(),
                "headers": {"Content-Type": "text/csv"},
            },
        ),
        _expect(admin=(200, 422)),
    ),
    ("GET", "/api/v1/pensioners/{pensioner_id}"): (
        lambda w, i: ("GET", f"/api/v1/pensioners/{_p(w, i)}", {}),
        _expect(admin=(200, 404), reviewer=(200, 404)),
    ),
    ("PATCH", "/api/v1/pensioners/{pensioner_id}"): (
        lambda w, i: ("PATCH", f"/api/v1/pensioners/{_p(w, i)}", {"json": {"name": "改名"}}),
        _expect(admin=(200, 404)),
    ),
    ("DELETE", "/api/v1/pensioners/{pensioner_id}"): (
        lambda w, i: ("DELETE", f"/api/v1/pensioners/{_p(w, i)}", {}),
        _expect(admin=(204, 404)),
    ),
    ("POST", "/api/v1/pensioners/{pensioner_id}/faces"): (
        lambda w, i: (
            "POST",
            f"/api/v1/pensioners/{_p(w, i)}/faces",
            {"files": {"photo": ("me.jpg", PHOTO, "image/jpeg")}},
        ),
        _expect(admin=(201, 404), community_worker=(201, 404)),
    ),
    ("GET", "/api/v1/pensioners/{pensioner_id}/faces"): (
        lambda w, i: ("GET", f"/api/v1/pensioners/{_p(w, i)}/faces", {}),
        _expect(admin=(200, 404), reviewer=(200, 404), community_worker=(200, 404)),
    ),
    ("GET", "/api/v1/pensioners/{pensioner_id}/faces/{face_id}/photo"): (
        lambda w, i: ("GET", _f(w, i) + "/photo", {}),
        # Video agents see the enrolled photo only beside a call booked with them (none
        # here; tests/app/video_calls/test_calls.py has the call).
        _expect(
            admin=(200, 404),
            reviewer=(200, 404),
            community_worker=(200, 404),
            video_agent=(404, 404),
        ),
    ),
    ("POST", "/api/v1/pensioners/{pensioner_id}/faces/{face_id}/retire"): (
        lambda w, i: ("POST", _f(w, i) + "/retire", {}),
        _expect(admin=(200, 404)),
    ),
    # The world's face is already in the gallery: nothing waits for a check (409).
    ("POST", "/api/v1/pensioners/{pensioner_id}/faces/{face_id}/approval"): (
        lambda w, i: ("POST", _f(w, i) + "/approval", {"json": {"approve": True}}),
        _expect(admin=(409, 404), reviewer=(409, 404)),
    ),
    ("GET", "/api/v1/faces/pending"): (
        lambda w, i: ("GET", "/api/v1/faces/pending", {}),
        _expect(admin=(200, 200), reviewer=(200, 200)),
    ),
    ("GET", "/api/v1/staff/me"): (
        lambda w, i: ("GET", "/api/v1/staff/me", {}),
        _expect(**dict.fromkeys(ROLES + ("national_auditor",), (200, 200))),
    ),
    ("GET", "/api/v1/staff"): (
        lambda w, i: ("GET", "/api/v1/staff", {}),
        _expect(admin=(200, 200)),
    ),
    ("POST", "/api/v1/staff"): (
        lambda w, i: (
            "POST",
            "/api/v1/staff",
            {
                "json": {
                    "username": "new.person",
                    "password": "a long password!",
                    "roles": ["reviewer"],
                    "region_scope": "1101" if i else "31",
                }
            },
        ),
        _expect(admin=(201, 403)),
    ),
    ("GET", "/api/v1/staff/{staff_id}"): (
        lambda w, i: ("GET", f"/api/v1/staff/{_s(w, i)}", {}),
        _expect(admin=(200, 404)),
    ),
    ("PATCH", "/api/v1/staff/{staff_id}"): (
        lambda w, i: ("PATCH", f"/api/v1/staff/{_s(w, i)}", {"json": {"full_name": "X"}}),
        _expect(admin=(200, 404)),
    ),
    ("POST", "/api/v1/staff/{staff_id}/unlock"): (
        lambda w, i: ("POST", f"/api/v1/staff/{_s(w, i)}/unlock", {}),
        _expect(admin=(200, 404)),
    ),
    ("GET", "/api/v1/regions"): (
        lambda w, i: ("GET", "/api/v1/regions", {}),
        _expect(**dict.fromkeys(ROLES + ("national_auditor",), (200, 200))),
    ),
    ("POST", "/api/v1/regions"): (
        lambda w, i: (
            "POST",
            "/api/v1/regions",
            {"json": {"code": "110106" if i else "310116", "name": "新区"}},
        ),
        _expect(admin=(201, 403)),
    ),
    ("PATCH", "/api/v1/regions/{code}"): (
        lambda w, i: (
            "PATCH",
            f"/api/v1/regions/{'110105' if i else '310115'}",
            {"json": {"certification_period_months": 6}},
        ),
        _expect(admin=(200, 404)),
    ),
    ("GET", "/api/v1/audit/events"): (
        lambda w, i: ("GET", "/api/v1/audit/events", {}),
        _expect(admin=(200, 200), auditor=(200, 200), national_auditor=(200, 200)),
    ),
    ("GET", "/api/v1/audit/verify"): (
        lambda w, i: ("GET", "/api/v1/audit/verify", {}),
        # Only an unscoped account may check the whole chain.
        _expect(national_auditor=(200, 200)),
    ),
    ("POST", "/api/v1/certifications/attempts"): (
        lambda w, i: ("POST", "/api/v1/certifications/attempts", {}),
        {**PENSIONER_ONLY, "pensioner": (201, 201)},
    ),
    ("POST", "/api/v1/certifications/attempts/{attempt_id}/upload"): (
        _upload,
        {**PENSIONER_ONLY, "pensioner": (202, 404)},
    ),
    ("GET", "/api/v1/certifications/attempts/{attempt_id}"): (
        lambda w, i: (
            "GET",
            f"/api/v1/certifications/attempts/{w.attempt_in if i else w.attempt_out}",
            {},
        ),
        {**PENSIONER_ONLY, "pensioner": (200, 404)},
    ),
    ("GET", "/api/v1/certifications/attempts"): (
        lambda w, i: ("GET", "/api/v1/certifications/attempts", {}),
        {**PENSIONER_ONLY, "pensioner": (200, 200)},
    ),
    ("GET", "/api/v1/me"): (
        lambda w, i: ("GET", "/api/v1/me", {}),
        {**dict.fromkeys(IDENTITIES, (401, 401)), "pensioner": (200, 200)},
    ),
    ("PATCH", "/api/v1/me"): (
        lambda w, i: ("PATCH", "/api/v1/me", {"json": {"display_timezone": "Europe/Berlin"}}),
        {**dict.fromkeys(IDENTITIES, (401, 401)), "pensioner": (200, 200)},
    ),
    ("POST", "/api/v1/certifications/attempts/{attempt_id}/selfie-check"): (
        lambda w, i: (
            "POST",
            f"/api/v1/certifications/attempts/{w.attempt_in if i else w.attempt_out}/selfie-check",
            {"files": {"selfie": ("s.jpg", PHOTO, "image/jpeg")}},
        ),
        {**PENSIONER_ONLY, "pensioner": (200, 404)},
    ),
    ("GET", "/api/v1/pensioners/{pensioner_id}/certifications"): (
        lambda w, i: ("GET", f"/api/v1/pensioners/{_p(w, i)}/certifications", {}),
        _expect(admin=(200, 404), reviewer=(200, 404)),
    ),
    ("GET", "/api/v1/reports/dashboard"): (
        lambda w, i: ("GET", "/api/v1/reports/dashboard", {}),
        _expect(admin=(200, 200), auditor=(200, 200), national_auditor=(200, 200)),
    ),
    # Face thresholds are national: a provincial admin may read them (none exist here, so
    # 404) but not make or audit them.
    ("GET", "/api/v1/faces/calibrations/current"): (
        lambda w, i: ("GET", "/api/v1/faces/calibrations/current", {}),
        _expect(admin=(404, 404)),
    ),
    ("POST", "/api/v1/faces/calibrations"): (
        lambda w, i: ("POST", "/api/v1/faces/calibrations", {"json": {}}),
        _expect(admin=(403, 403)),
    ),
    ("GET", "/api/v1/faces/calibrations/report"): (
        lambda w, i: ("GET", "/api/v1/faces/calibrations/report", {}),
        _expect(admin=(403, 403)),
    ),
    # Prometheus only: the configured addresses or the metrics token, never a staff token
    # (none is configured in the tests).
    ("GET", "/metrics"): (
        lambda w, i: ("GET", "/metrics", {}),
        dict.fromkeys(IDENTITIES, (403, 403)),
    ),
}

MATRIX.update(DATAMATCH_MATRIX)
MATRIX.update(REVIEWS_MATRIX)
MATRIX.update(DUPLICATES_MATRIX)
MATRIX.update(APPOINTMENTS_MATRIX)
MATRIX.update(UPLOADS_MATRIX)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_route_is_in_the_matrix(app: FastAPI) -> None:
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert routes - PUBLIC - set(MATRIX) == set(), "add the new routes to MATRIX"
    assert set(MATRIX) - routes == set(), "MATRIX names routes that no longer exist"


class _Probe(dict[str, str]):
    """A stand-in world whose every id names the side it belongs to."""

    def __missing__(self, key: str) -> str:
        return key


def _scoped(route: tuple[str, str]) -> bool:
    """Whether the request differs for a target in and out of scope (else test it once)."""
    build, expected = MATRIX[route]
    ids = {f.name: f.name for f in fields(World) if f.name != "data"}
    probe = World(**ids, data=_Probe())  # type: ignore[arg-type]
    return build(probe, True) != build(probe, False) or any(a != b for a, b in expected.values())


def _sample_identity(route: tuple[str, str]) -> str:
    """The identity whose request goes furthest: the first one allowed in scope, else anonymous."""
    expected = MATRIX[route][1]
    return next((i for i in IDENTITIES if expected[i][0] < 400), IDENTITIES[0])


# The whole matrix runs on SQLite; PostgreSQL gets every route once, with the identity that gets
# furthest into the handler (the access rules are in Python, the same on both databases).
CASES = [
    pytest.param(
        "sqlite",
        route,
        identity,
        inside,
        id=f"{route[0]} {route[1]} {identity} {'in' if inside else 'out'}-sqlite",
    )
    for route in MATRIX
    for identity in IDENTITIES
    for inside in ((True, False) if _scoped(route) else (True,))
] + [
    pytest.param(
        "postgresql", route, _sample_identity(route), True, id=f"{route[0]} {route[1]}-postgresql"
    )
    for route in MATRIX
]


@dataclass
class Base:
    """The rows every case starts from, built once per database (ids only: each case loads
    them again in its own session, so nothing one case changed in memory leaks into the next)."""

    pensioner_in: str
    pensioner_out: str
    world: World
    identities: dict[str, str]  # identity -> staff id (the staff roles and the national auditor)
    # The enrolled photos' files: a case that deletes a photo or a pensioner removes them once
    # its commit (a released savepoint here) is done, and the next case needs them back.
    files: dict[str, bytes]


# One app per database for the whole matrix, on one connection inside a transaction that is
# never committed: the base world is built once, and each case runs inside a savepoint that is
# rolled back after it (the app's and the factory's commits only release nested savepoints).
@pytest.fixture(scope="module")
def settings(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        env=Environment.test,
        data_dir=tmp_path_factory.mktemp("matrix"),
        database_url=backend.url,
        secret_key=TEST_SECRET,
    )


@pytest.fixture(scope="module")
def connection(backend: Backend) -> Iterator[Connection]:
    conn = backend.engine.connect()
    outer = conn.begin()
    conn.begin_nested()
    yield conn
    outer.rollback()
    conn.close()


@pytest.fixture(scope="module")
def app(settings: Settings, connection: Connection, face_engine: DlibFaceEngine) -> FastAPI:
    return create_app(
        settings,
        engine=connection,  # type: ignore[arg-type]  # sessions on it join its transaction
        face_engine=face_engine,
        job_queue=RecordingQueue(),
    )


def _session(connection: Connection) -> Session:
    return Session(connection, expire_on_commit=False, join_transaction_mode="create_savepoint")


@pytest.fixture(scope="module")
def base(settings: Settings, connection: Connection, app: FastAPI) -> Base:
    with _session(connection) as session:
        factory = Factory(session, settings)
        factory.region("110105")
        factory.region("310115", "上海市浦东新区")
        pensioner_in = factory.pensioner("110105")
        pensioner_out = factory.pensioner("310115")
        world = World(
            pensioner_in=str(pensioner_in.id),
            pensioner_out=str(pensioner_out.id),
            staff_in=str(factory.staff("reviewer", scope="110105").id),
            staff_out=str(factory.staff("reviewer", scope="31").id),
            face_in=str((face_in := factory.face(pensioner_in)).id),
            face_out=str((face_out := factory.face(pensioner_out)).id),
            attempt_in=str((attempt_in := factory.attempt(pensioner_in)).id),
            attempt_out=str((attempt_out := factory.attempt(pensioner_out)).id),
            nonce_in=attempt_in.challenge_nonce,
            nonce_out=attempt_out.challenge_nonce,
        )
        identities = {role: str(factory.staff(role, scope="11").id) for role in ROLES}
        identities["national_auditor"] = str(factory.staff("auditor", scope="").id)
        files = {
            face.photo_path: media.read(settings=settings, relative=face.photo_path)
            for face in (face_in, face_out)
        }
        return Base(world.pensioner_in, world.pensioner_out, world, identities, files)


@pytest.fixture
def case_factory(settings: Settings, connection: Connection, base: Base) -> Iterator[Factory]:
    """A factory inside the case's savepoint; everything the case adds is rolled back after it."""
    for relative, data in base.files.items():
        media.store(settings=settings, relative=relative, data=data)
    savepoint = connection.begin_nested()
    with _session(connection) as session:
        factory = Factory(session, settings)
        factory._seq = 500  # past the base world's user names
        factory.born = date(1951, 4, 1)  # ID numbers apart from the base world's
        yield factory
    savepoint.rollback()


@pytest.mark.parametrize(("backend", "route", "identity", "inside"), CASES, indirect=["backend"])
async def test_authorization(
    route: tuple[str, str],
    identity: str,
    inside: bool,
    client: httpx.AsyncClient,
    case_factory: Factory,
    base: Base,
) -> None:
    from models.pensioner import Pensioner
    from models.staff import StaffUser

    factory = case_factory
    session = factory.session
    pensioner_in = session.get(Pensioner, uuid.UUID(base.pensioner_in))
    pensioner_out = session.get(Pensioner, uuid.UUID(base.pensioner_out))
    world = replace(base.world, data={})
    # Only the routes that need them build the larger worlds: the matrix has >1000 cases.
    if route in DATAMATCH_MATRIX:
        world.data = datamatch_world(factory, pensioner_in, pensioner_out)
    if route in REVIEWS_MATRIX:
        world.data.update(reviews_world(factory, pensioner_in, pensioner_out))
    if route in DUPLICATES_MATRIX:
        world.data.update(duplicates_world(factory, pensioner_in, pensioner_out))
    if route in UPLOADS_MATRIX:
        world.data.update(uploads_world(factory, pensioner_in, pensioner_out))
    headers: dict[str, str] = {}
    staff = None
    if identity == "pensioner":
        headers = factory.auth(pensioner_in, "pensioner")
    elif identity != "anonymous":
        staff = session.get(StaffUser, uuid.UUID(base.identities[identity]))
        headers = factory.auth(staff)
    if route in APPOINTMENTS_MATRIX:
        # Calls belong to one agent: the world needs to know who is asking.
        world.data.update(
            appointments_world(factory, pensioner_in, pensioner_out, agent=staff, route=route)
        )

    build, expected = MATRIX[route]
    method, url, kwargs = build(world, inside)
    extra_headers = kwargs.pop("headers", {})
    response = await client.request(
        method,
        url,
        headers={**headers, **extra_headers},
        **kwargs,  # type: ignore[arg-type]
    )
    want = expected[identity][0 if inside else 1]
    assert response.status_code == want, response.text
    if want >= 400 and method != "HEAD":  # a HEAD answer has no body
        assert set(response.json()) >= {"error", "detail"}
