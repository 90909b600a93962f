"""A whole service for checking responses against the OpenAPI document: a migrated SQLite
database with a little data, the app, and the token each route needs. Used by the contract
tests (tests/app/test_api_contract.py) and the long fuzzing run (scripts/fuzz_api.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlmodel import Session

from app.config import Environment, Settings
from app.db import make_engine
from app.deps import current_pensioner
from app.main import create_app
from app.migrate import upgrade
from app.openapi import api_routes
from biometrics import DlibFaceEngine, FaceEngine
from tests.conftest import TEST_SECRET, Factory, RecordingQueue

STAFF_ROLES = ("admin", "reviewer", "video_agent", "community_worker", "auditor")


class Answering:
    """The app as a server runs it: an unexpected exception is answered (500, the error body)
    and kept in `crashes`, instead of being raised into the caller as the test clients do."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.crashes: list[str] = []
        self.statuses: Counter[int] = Counter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def counting_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.statuses[message["status"]] += 1
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except Exception as exc:  # ServerErrorMiddleware has sent the 500 already
            self.crashes.append(f"{scope.get('method')} {scope.get('path')}: {exc!r}")


@dataclass
class ContractService:
    app: FastAPI
    settings: Settings
    staff_token: str  # every role, national scope
    pensioner_token: str
    pensioner_id: str
    # operationId -> the Authorization header its route accepts
    headers: dict[str, dict[str, str]]
    served: Answering  # the app to send requests to

    @property
    def crashes(self) -> list[str]:
        return self.served.crashes

    def headers_for(self, operation_id: str) -> dict[str, str]:
        return self.headers.get(operation_id, {})


def _needs(dependant: Any, call: Any) -> bool:
    return dependant.call is call or any(_needs(sub, call) for sub in dependant.dependencies)


def build_service(data_dir: Path, *, face_engine: FaceEngine | None = None) -> ContractService:
    """The app over a new SQLite database in `data_dir`; jobs are recorded, never run."""
    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{data_dir / 'lifecert.db'}"
    upgrade(url)
    settings = Settings(
        env=Environment.test,
        data_dir=data_dir / "var",
        database_url=url,
        secret_key=TEST_SECRET,
    )
    engine = make_engine(settings)
    app = create_app(
        settings,
        engine=engine,
        # The models load on first use: most requests never reach the engine.
        face_engine=face_engine or DlibFaceEngine(),
        job_queue=RecordingQueue(),  # type: ignore[arg-type]
    )
    with Session(engine, expire_on_commit=False) as session:
        factory = Factory(session, settings)
        staff = factory.staff(*STAFF_ROLES, scope="", username="contract-admin")
        pensioner = factory.pensioner()
        staff_token = factory.token(staff, lifetime=timedelta(hours=12))
        pensioner_token = factory.token(pensioner, "pensioner", lifetime=timedelta(hours=12))
        pensioner_id = str(pensioner.id)  # type: ignore[attr-defined]
    headers: dict[str, dict[str, str]] = {}
    for route in api_routes(app):
        token = pensioner_token if _needs(route.dependant, current_pensioner) else staff_token
        for method in route.methods:
            operation = app.openapi()["paths"][route.path_format][method.lower()]
            headers[operation["operationId"]] = {"Authorization": f"Bearer {token}"}
    return ContractService(
        app, settings, staff_token, pensioner_token, pensioner_id, headers, Answering(app)
    )


def operations(app: FastAPI) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) of every operation in the document."""
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation
