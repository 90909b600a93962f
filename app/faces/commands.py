"""Command-line commands of enrolment at scale: `lifecert import-faces`, `lifecert faces
dedup` and `lifecert faces index-rebuild` (registered on the main CLI by app/cli.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session, select

from app.config import get_settings


def _session() -> Session:
    from app.db import make_engine

    settings = get_settings()
    settings.ensure_dirs()
    return Session(make_engine(settings), expire_on_commit=False)


def _fail(error: str, detail: str, code: int = 1) -> None:
    typer.echo(json.dumps({"error": error, "detail": detail}, ensure_ascii=False), err=True)
    raise typer.Exit(code)


def _national_admin(session: Session, as_user: str) -> object:
    from app.audit.service import Actor
    from app.errors import PermissionDenied
    from models.staff import Role, StaffUser

    staff = session.exec(select(StaffUser).where(StaffUser.username == as_user)).first()
    if staff is None or not staff.is_active or not staff.has_role(Role.admin) or staff.region_scope:
        _fail(PermissionDenied.code, f"{as_user!r} is not an active national admin account.")
    assert staff is not None
    return Actor("staff", str(staff.id), "cli")


def import_faces(
    source: Annotated[
        Path,
        typer.Argument(
            exists=True,
            help="A folder of photos named by national ID, a CSV "
            "`national_id,file`, or a ZIP of photos named by national ID",
        ),
    ],
    as_user: Annotated[str, typer.Option("--as", help="National admin recorded in the audit")],
    kind: Annotated[
        str, typer.Option(help="id_card (chip photos, 102x126) or photo (the enrolment gate)")
    ] = "id_card",
    workers: Annotated[int, typer.Option(min=0, help="Processes (0: one per core)")] = 0,
    report: Annotated[
        Path | None, typer.Option(help="Write the refusals here as CSV (default: data folder)")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
) -> None:
    """Enrol the register's photo archive in bulk; rerun after an interruption to resume.

    Prints a JSON summary; every refusal (no face, several faces, too small, unreadable,
    unknown ID, already enrolled, duplicate of another ID, unsafe name, ZIP bomb) is a row of
    the CSV report. Exit code 0 even with refusals; 1 when the source itself is refused.
    """
    from app.errors import AppError
    from app.faces import bulk
    from models.face import FaceSource

    if kind not in ("id_card", "photo"):
        _fail("InvalidKind", "--kind is id_card or photo", 2)
    source_kind = FaceSource.id_card if kind == "id_card" else FaceSource.enrolment
    settings = get_settings()
    with _session() as session:
        actor = _national_admin(session, as_user)
        try:
            items = bulk.open_source(source, settings=settings)
        except AppError as exc:
            _fail(exc.code, exc.message)
            return
        batch = bulk.start_batch(
            session=session,
            source=str(source),
            kind=source_kind,
            actor=actor,  # type: ignore[arg-type]
        )
        session.commit()
        started = time.perf_counter()
        cpu_started = time.process_time()
        bar = None
        if not quiet:
            from tqdm import tqdm  # type: ignore[import-untyped]

            bar = tqdm(total=len(items), unit="photo", desc="import-faces", smoothing=0.1)

        def shown(progress: bulk.Progress) -> None:
            if bar is not None:
                bar.update(progress.processed - bar.n)
                bar.set_postfix(enrolled=progress.enrolled, refused=progress.refused)

        with bulk.pool(workers or None) as executor:
            progress = bulk.run_import(
                session=session,
                settings=settings,
                batch=batch,
                items=items,
                actor=actor,  # type: ignore[arg-type]
                executor=executor,
                on_progress=shown,
            )
        if bar is not None:
            bar.close()
        seconds = time.perf_counter() - started
        refusals = bulk.batch_refusals(session=session, batch_id=batch.id)
    path = report or settings.data_dir / "imports" / f"{batch.id}-refusals.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(bulk.report_csv(refusals), encoding="utf-8")
    analysed = progress.processed - progress.skipped
    summary = {
        "batch_id": str(batch.id),
        "photos": progress.total,
        "enrolled": progress.enrolled,
        "refused": progress.refused,
        "skipped_already_imported": progress.skipped,
        "seconds": round(seconds, 1),
        "photos_per_second": round(analysed / seconds, 2) if seconds else None,
        "worker_max_rss_mb": round(progress.worker_max_rss_mb),
        # Decode, gate, detect and embed, in the workers' own CPU time: the rate per core
        # whatever else the machine runs.
        "analysis_cpu_ms_per_photo": round(
            1000 * progress.analysis_cpu_seconds / max(progress.analysed, 1), 1
        ),
        "parent_cpu_seconds": round(time.process_time() - cpu_started, 1),
        "report": str(path),
        "reasons": {r: sum(1 for x in refusals if x["reason"] == r) for r in bulk.REASONS},
    }
    summary["reasons"] = {k: v for k, v in summary["reasons"].items() if v}  # type: ignore[attr-defined]
    typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))


def faces_dedup(
    as_user: Annotated[
        str | None, typer.Option("--as", help="National admin recorded in the audit")
    ] = None,
) -> None:
    """Build the k-nearest-neighbour graph of the whole register; every pair of different
    pensioners closer than the duplicate threshold becomes a duplicate case (pairs already
    decided, e.g. relatives, are not raised again). Prints a JSON summary."""
    from app.audit.service import SYSTEM
    from app.faces import duplicates
    from app.faces.index import register_index
    from biometrics import DLIB_MODEL_NAME, DLIB_MODEL_VERSION

    settings = get_settings()
    with _session() as session:
        actor = SYSTEM if as_user is None else _national_admin(session, as_user)
        started = time.perf_counter()
        index = register_index(session, model=(DLIB_MODEL_NAME, DLIB_MODEL_VERSION))
        built = time.perf_counter() - started
        result = duplicates.run_dedup(
            session=session,
            settings=settings,
            index=index,
            actor=actor,  # type: ignore[arg-type]
        )
        session.commit()
    result["index_seconds"] = round(built, 1)
    result["seconds"] = round(time.perf_counter() - started, 1)
    typer.echo(json.dumps(result, indent=2))


def faces_index_rebuild() -> None:
    """Rebuild this process's 1:N index from the database and report its size (each API or
    worker process rebuilds its own on start and follows the change log afterwards)."""
    from app.faces.index import RegisterIndex
    from biometrics import DLIB_MODEL_NAME, DLIB_MODEL_VERSION

    with _session() as session:
        started = time.perf_counter()
        count = RegisterIndex(model=(DLIB_MODEL_NAME, DLIB_MODEL_VERSION)).rebuild(session)
    typer.echo(json.dumps({"templates": count, "seconds": round(time.perf_counter() - started, 1)}))


def register(cli: typer.Typer, faces_cli: typer.Typer) -> None:
    cli.command("import-faces")(import_faces)
    faces_cli.command("dedup")(faces_dedup)
    faces_cli.command("index-rebuild")(faces_index_rebuild)
