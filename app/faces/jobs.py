"""The background job of an archive uploaded through POST /faces/imports: the same import as
`lifecert import-faces`, run by a worker (`import_faces` actor, app/worker.py) after the
request's commit; its progress is the batch row, read by GET /faces/imports/{id}."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlmodel import Session

from app.audit.service import Actor
from app.config import Settings
from app.faces import bulk
from models.face_dedup import FaceImportBatch, ImportStatus

IMPORT_FACES = "import_faces"
IMPORTS_QUEUE = "imports"


def archive_path(settings: Settings, batch_id: uuid.UUID) -> Path:
    return settings.data_dir / "imports" / f"{batch_id}.zip"


def run_import_job(batch_id: str, settings_json: str) -> str:
    """Import a stored archive; safe to run again (items already done are skipped)."""
    from app.db import make_engine
    from biometrics import DlibFaceEngine

    settings = Settings.model_validate_json(settings_json)
    with Session(make_engine(settings), expire_on_commit=False) as session:
        return import_archive(
            session=session,
            settings=settings,
            batch_id=uuid.UUID(batch_id),
            engine=DlibFaceEngine(),
        )


def import_archive(
    *, session: Session, settings: Settings, batch_id: uuid.UUID, engine: object
) -> str:
    batch = session.get(FaceImportBatch, batch_id)
    if batch is None or batch.status is ImportStatus.done:
        return "nothing to do"
    path = archive_path(settings, batch_id)
    actor = Actor(batch.created_by_type, batch.created_by_id, "import job")
    items = bulk.open_source(path, settings=settings)
    bulk.run_import(
        session=session,
        settings=settings,
        batch=batch,
        items=items,
        actor=actor,
        engine=engine,  # type: ignore[arg-type]
    )
    path.unlink(missing_ok=True)
    return "done"
