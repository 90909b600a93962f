"""Bulk enrolment of the register's photo archive (`lifecert import-faces`, POST /faces/imports).

A source is a folder of photos named by national ID (`110105194901011234.jpg`), a CSV file
`national_id,file` (paths relative to the CSV's folder, never outside it) or a ZIP of photos
named by national ID. Each photo is processed once: an import item keyed by the photo's
content hash and the national ID records its outcome, so a rerun after an interruption
skips what was done. Photos are decoded, gated, detected and embedded in a process pool
(one dlib model per worker, loaded once); the parent writes: the face, its template, the 1:N
index search (a face closer to another person's than the duplicate threshold is stored
waiting, with a duplicate case, never enrolled silently), and one audit event per batch of
`face_import_batch_size` photos, committed together with its files (a batch that fails
leaves neither rows nor files).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import resource
import time
import uuid
import zipfile
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from app import media
from app.audit import service as audit
from app.audit.service import Actor
from app.config import Settings
from app.errors import UnprocessableEntity
from app.faces import duplicates
from app.faces.index import Neighbour, RegisterIndex, log_change, register_index
from biometrics import DlibFaceEngine, FaceEngine, ImageError, QualityPolicy, analyze_photo
from biometrics.decode import DecodeLimits
from models.base import utcnow
from models.face import EnrolledFace, FaceSource
from models.face_dedup import FaceImportBatch, FaceImportItem, ImportStatus
from models.pensioner import Pensioner

_EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "heif": "heic"}
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"}

# Why a photo was not enrolled (the report's `reason` column).
REASONS = (
    "no_face",
    "multiple_faces",
    "face_too_small",
    "poor_quality",
    "unreadable",
    "too_large",
    "unknown_id",
    "already_enrolled",
    "duplicate_of_another_id",
    "unsafe_name",
    "zip_bomb",
)


class ArchiveRefused(UnprocessableEntity):
    code = "ArchiveRefused"
    message = "The archive cannot be imported."


@dataclass(frozen=True)
class SourceItem:
    national_id: str
    name: str
    read: Callable[[], bytes] | None  # None: refused before reading (see `refusal`)
    refusal: tuple[str, str] | None = None


def _bounded(read: Callable[[int], bytes], limit: int) -> bytes | None:
    data = read(limit + 1)
    return None if len(data) > limit else data


def _national_id(name: str) -> str:
    return PurePosixPath(name).stem.strip().upper()


def _unsafe(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return (
        path.is_absolute()
        or ".." in path.parts
        or (len(name) > 1 and name[1] == ":")  # a Windows drive
        or "\x00" in name
    )


def open_source(source: Path, *, settings: Settings) -> list[SourceItem]:
    """The photos of a folder, CSV or ZIP, with what is refused before reading any photo.

    Raises ArchiveRefused for a ZIP whose declared total size exceeds the cap (a bomb is not
    unpacked at all) or that is not a ZIP; members each too compressed are refused one by one.
    """
    limit = settings.max_photo_bytes
    if source.is_dir():
        return [
            SourceItem(_national_id(p.name), p.name, _reader(p, limit))
            for p in sorted(source.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() != ".csv"
        ]
    if source.suffix.lower() == ".csv":
        return _csv_items(source, limit=limit)
    return _zip_items(source, settings=settings)


def _reader(path: Path, limit: int) -> Callable[[], bytes]:
    def read() -> bytes:
        with path.open("rb") as handle:
            data = _bounded(handle.read, limit)
        if data is None:
            raise _TooLarge()
        return data

    return read


class _TooLarge(Exception):
    pass


def _csv_items(source: Path, *, limit: int) -> list[SourceItem]:
    root = source.parent.resolve()
    items = []
    with source.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            national_id = (row.get("national_id") or "").strip().upper()
            name = (row.get("file") or "").strip()
            target = (root / name).resolve()
            if _unsafe(name) or not target.is_relative_to(root):
                items.append(
                    SourceItem(national_id, name, None, ("unsafe_name", "outside the folder"))
                )
            elif not target.is_file():
                items.append(SourceItem(national_id, name, None, ("unreadable", "no such file")))
            else:
                items.append(SourceItem(national_id, name, _reader(target, limit)))
    return items


def _zip_items(source: Path, *, settings: Settings) -> list[SourceItem]:
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveRefused(f"Not a ZIP archive: {exc}") from None
    members = [i for i in archive.infolist() if not i.is_dir()]
    declared = sum(i.file_size for i in members)
    if declared > settings.face_import_max_archive_bytes:
        raise ArchiveRefused(
            f"The archive unpacks to {declared} bytes, over the limit of "
            f"{settings.face_import_max_archive_bytes}; nothing was imported.",
            declared_bytes=declared,
        )
    items = []
    for info in members:
        name = info.filename
        base = PurePosixPath(name.replace("\\", "/")).name
        national_id = _national_id(base)
        if _unsafe(name):
            items.append(SourceItem(national_id, name, None, ("unsafe_name", "path traversal")))
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > settings.face_import_max_ratio:
            detail = f"compression ratio {ratio:.0f} over {settings.face_import_max_ratio:.0f}"
            items.append(SourceItem(national_id, name, None, ("zip_bomb", detail)))
            continue
        if info.file_size > settings.max_photo_bytes:
            items.append(SourceItem(national_id, name, None, ("too_large", "over the photo limit")))
            continue
        items.append(
            SourceItem(national_id, name, _zip_reader(source, name, settings.max_photo_bytes))
        )
    return items


def _zip_reader(source: Path, name: str, limit: int) -> Callable[[], bytes]:
    def read() -> bytes:
        with zipfile.ZipFile(source) as archive, archive.open(name) as member:
            # Declared sizes are not trusted: never read past the photo limit.
            data = _bounded(member.read, limit)
        if data is None:
            raise _TooLarge()
        return data

    return read


# --- the work each pool process does -----------------------------------------------------

_ENGINE: FaceEngine | None = None


def _init_worker(nice: int = 0) -> None:
    global _ENGINE
    if nice:
        os.nice(nice)
    engine = DlibFaceEngine()
    engine.warm_up()
    _ENGINE = engine


@dataclass(frozen=True)
class Analysed:
    outcome: str  # "ok" or a refusal reason
    detail: str | None = None
    embedding: bytes | None = None
    model: tuple[str, str] | None = None
    format: str | None = None
    size: tuple[int, int] | None = None
    quality: dict[str, Any] = field(default_factory=dict)
    rss_mb: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time on the photo (load-independent rate)


def peak_rss_mb() -> float:
    """This process's own peak resident memory, in MiB.

    `getrusage`'s `ru_maxrss` is kept across `execve`, so a spawned worker would report the
    parent's size at the fork (a 1.3 GB test process made a 200 MB worker look like 1.3 GB);
    Linux's `VmHWM` is the peak of the process's own address space since it started."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def analyse(data: bytes, kind: str, max_bytes: int, engine: FaceEngine | None = None) -> Analysed:
    """Decode, gate, detect and embed one photo (in a pool process)."""
    engine = engine or _ENGINE
    if engine is None:
        _init_worker()
        engine = _ENGINE
    assert engine is not None
    policy = (
        QualityPolicy.id_card() if kind == FaceSource.id_card.value else QualityPolicy.enrolment()
    )
    rss = peak_rss_mb()
    started = time.process_time()
    try:
        analysis = analyze_photo(
            data,
            engine=engine,
            limits=DecodeLimits(max_bytes=max_bytes),
            policy=policy,
            embed_despite_findings=False,
        )
    except ImageError as exc:
        return Analysed(
            "unreadable", str(exc), rss_mb=rss, cpu_seconds=time.process_time() - started
        )
    issues = [f.issue.value for f in analysis.quality.findings]
    if issues:
        first = issues[0]
        reason = first if first in REASONS else "poor_quality"
        return Analysed(
            reason, ", ".join(issues), rss_mb=rss, cpu_seconds=time.process_time() - started
        )
    assert analysis.embedding is not None
    return Analysed(
        "ok",
        embedding=np.asarray(analysis.embedding.vector, dtype="<f8").tobytes(),
        model=(analysis.embedding.model_name, analysis.embedding.model_version),
        format=analysis.format,
        size=(analysis.original_width, analysis.original_height),
        quality={"faces": analysis.quality.face_count, "findings": []},
        rss_mb=peak_rss_mb(),
        cpu_seconds=time.process_time() - started,
    )


# --- the parent: one writer ----------------------------------------------------------------


@dataclass
class Progress:
    total: int
    processed: int = 0
    enrolled: int = 0
    refused: int = 0
    skipped: int = 0
    worker_max_rss_mb: float = 0.0
    analysis_cpu_seconds: float = 0.0  # summed over the photos analysed
    analysed: int = 0
    refusals: list[dict[str, str]] = field(default_factory=list)


def start_batch(
    *, session: Session, source: str, kind: FaceSource, actor: Actor, region_scope: str = ""
) -> FaceImportBatch:
    batch = FaceImportBatch(
        source=source[:255],
        kind=kind.value,
        created_by_type=actor.type,
        created_by_id=actor.id,
        region_scope=region_scope,
    )
    session.add(batch)
    session.flush()
    return batch


def run_import(
    *,
    session: Session,
    settings: Settings,
    batch: FaceImportBatch,
    items: list[SourceItem],
    actor: Actor,
    executor: Executor | None = None,
    engine: FaceEngine | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> Progress:
    """Import `items` into `batch`, committing every `face_import_batch_size` photos.

    With an executor the photos are analysed in its processes (see `pool`); without, in
    this process with `engine` (a job worker, tests).
    """
    kind = FaceSource(batch.kind)
    progress = Progress(total=len(items))
    batch.status, batch.total = ImportStatus.running, len(items)
    session.add(batch)
    session.commit()
    size = settings.face_import_batch_size
    index: RegisterIndex | None = None
    for start in range(0, len(items), size):
        chunk = items[start : start + size]
        written: list[str] = []
        try:
            if index is None:
                model = (DlibFaceEngine.model_name, DlibFaceEngine.model_version)
                if engine is not None:
                    model = (engine.model_name, engine.model_version)
                index = register_index(session, model=model)
            else:
                index.sync(session, verify=False)
            counts = _import_chunk(
                session=session,
                settings=settings,
                batch=batch,
                chunk=chunk,
                kind=kind,
                index=index,
                actor=actor,
                executor=executor,
                engine=engine,
                written=written,
                progress=progress,
            )
            batch.processed = progress.processed
            batch.enrolled, batch.refused = progress.enrolled, progress.refused
            batch.skipped = progress.skipped
            session.add(batch)
            if counts["faces"]:
                audit.record(
                    session=session,
                    actor=actor,
                    action="face.import_batch",
                    entity_type="face_import_batch",
                    entity_id=batch.id,
                    region_code=None,
                    after=counts,
                )
            session.commit()
        except BaseException:
            session.rollback()
            for relative in written:
                media.remove(settings=settings, relative=relative)
            # The in-process index may hold faces that were rolled back: rebuild next time.
            if index is not None:
                index.rebuild(session)
            batch = session.get(FaceImportBatch, batch.id) or batch
            batch.status, batch.error = ImportStatus.failed, "interrupted; run it again"
            session.add(batch)
            session.commit()
            raise
        if on_progress is not None:
            on_progress(progress)
    batch.status, batch.finished_at = ImportStatus.done, utcnow()
    session.add(batch)
    session.commit()
    return progress


def _import_chunk(
    *,
    session: Session,
    settings: Settings,
    batch: FaceImportBatch,
    chunk: list[SourceItem],
    kind: FaceSource,
    index: RegisterIndex,
    actor: Actor,
    executor: Executor | None,
    engine: FaceEngine | None,
    written: list[str],
    progress: Progress,
) -> dict[str, Any]:
    # Read each photo and drop what an earlier run already did (same content, same ID).
    prepared: list[tuple[SourceItem, bytes | None, str, tuple[str, str] | None]] = []
    for item in chunk:
        data: bytes | None = None
        refusal = item.refusal
        if refusal is None and item.read is not None:
            try:
                data = item.read()
            except _TooLarge:
                refusal = ("too_large", f"over {settings.max_photo_bytes} bytes")
            except (OSError, zipfile.BadZipFile, EOFError) as exc:
                refusal = ("unreadable", str(exc)[:200])
        digest = hashlib.sha256(
            data if data is not None else b"unread:" + item.name.encode("utf-8", "replace")
        ).hexdigest()
        prepared.append((item, data, digest, refusal))
    done = {
        (i.photo_sha256, i.national_id)
        for i in session.exec(
            select(FaceImportItem).where(
                col(FaceImportItem.photo_sha256).in_([d for _, _, d, _ in prepared])
            )
        ).all()
    }
    ids = {item.national_id for item, _, _, _ in prepared}
    people = {
        p.national_id: p
        for p in session.exec(select(Pensioner).where(col(Pensioner.national_id).in_(ids))).all()
    }
    on_file = set(
        session.exec(
            select(EnrolledFace.pensioner_id).where(
                col(EnrolledFace.pensioner_id).in_([p.id for p in people.values()]),
                col(EnrolledFace.active) | col(EnrolledFace.pending),
            )
        ).all()
    )
    todo: list[tuple[SourceItem, bytes, str, Pensioner]] = []
    seen_here: set[tuple[str, str]] = set()
    for item, data, digest, refusal in prepared:
        key = (digest, item.national_id)
        if key in done or key in seen_here:
            progress.skipped += 1
            progress.processed += 1
            continue
        seen_here.add(key)
        pensioner = people.get(item.national_id)
        if refusal is None and pensioner is None:
            refusal = ("unknown_id", "no pensioner with this national ID")
        elif refusal is None and pensioner is not None and pensioner.id in on_file:
            refusal = ("already_enrolled", "photos already on file")
        if refusal is not None or data is None or pensioner is None:
            reason, detail = refusal or ("unreadable", "")
            _item(session, batch, item, digest, reason, detail, pensioner, None, progress)
            continue
        todo.append((item, data, digest, pensioner))
    if executor is not None:
        analysed = list(
            executor.map(
                analyse,
                [d for _, d, _, _ in todo],
                [kind.value] * len(todo),
                [settings.max_photo_bytes] * len(todo),
                chunksize=4,
            )
        )
    else:
        analysed = [analyse(d, kind.value, settings.max_photo_bytes, engine) for _, d, _, _ in todo]
    faces: list[str] = []
    for (item, data, digest, pensioner), result in zip(todo, analysed, strict=True):
        progress.worker_max_rss_mb = max(progress.worker_max_rss_mb, result.rss_mb)
        progress.analysis_cpu_seconds += result.cpu_seconds
        progress.analysed += 1
        if result.outcome != "ok" or pensioner.id in on_file:
            reason = result.outcome if result.outcome != "ok" else "already_enrolled"
            _item(session, batch, item, digest, reason, result.detail, pensioner, None, progress)
            continue
        face, neighbours = _store_face(
            session=session,
            settings=settings,
            pensioner=pensioner,
            result=result,
            data=data,
            digest=digest,
            kind=kind,
            actor=actor,
            index=index,
            written=written,
        )
        on_file.add(pensioner.id)
        close = [n for n in neighbours if n.distance < settings.face_duplicate_case_distance]
        if close:
            duplicates.check_new_face(
                session=session,
                settings=settings,
                face=face,
                neighbours=close,
                found_by="import",
                actor=actor,
            )
            other = session.get(Pensioner, close[0].pensioner_id)
            who = other.national_id if other else str(close[0].pensioner_id)
            detail = f"{who} at {close[0].distance:.3f}"
            _item(
                session,
                batch,
                item,
                digest,
                "duplicate_of_another_id",
                detail,
                pensioner,
                face,
                progress,
            )
        else:
            progress.enrolled += 1
            progress.processed += 1
            faces.append(str(face.id))
            session.add(
                FaceImportItem(
                    batch_id=batch.id,
                    photo_sha256=digest,
                    national_id=item.national_id,
                    name=item.name[:255],
                    outcome="enrolled",
                    pensioner_id=pensioner.id,
                    face_id=face.id,
                )
            )
    session.flush()
    return {
        "batch_id": str(batch.id),
        "photos": len(chunk),
        "faces": len(faces),
        "face_ids": faces,
        "refused": progress.refused,
        "kind": kind.value,
    }


def _item(
    session: Session,
    batch: FaceImportBatch,
    item: SourceItem,
    digest: str,
    reason: str,
    detail: str | None,
    pensioner: Pensioner | None,
    face: EnrolledFace | None,
    progress: Progress,
) -> None:
    progress.refused += 1
    progress.processed += 1
    progress.refusals.append(
        {
            "national_id": item.national_id,
            "file": item.name,
            "reason": reason,
            "detail": detail or "",
        }
    )
    session.add(
        FaceImportItem(
            batch_id=batch.id,
            photo_sha256=digest,
            national_id=item.national_id[:32],
            name=item.name[:255],
            outcome=reason,
            detail=(detail or "")[:500] or None,
            pensioner_id=None if pensioner is None else pensioner.id,
            face_id=None if face is None else face.id,
        )
    )


def _store_face(
    *,
    session: Session,
    settings: Settings,
    pensioner: Pensioner,
    result: Analysed,
    data: bytes,
    digest: str,
    kind: FaceSource,
    actor: Actor,
    index: RegisterIndex,
    written: list[str],
) -> tuple[EnrolledFace, list[Neighbour]]:
    """Store one analysed photo: active, or waiting when it lies close to another person."""
    assert result.embedding is not None and result.model is not None and result.size
    vector = np.frombuffer(result.embedding, dtype="<f8")
    neighbours = index.nearest(vector, k=settings.face_dedup_neighbours, exclude=pensioner.id)
    close = any(n.distance < settings.face_duplicate_case_distance for n in neighbours)
    face_id = uuid.uuid4()
    relative = f"faces/{pensioner.id}/{face_id}.{_EXTENSIONS.get(result.format or '', 'img')}"
    face = EnrolledFace(
        id=face_id,
        pensioner_id=pensioner.id,
        source=kind,
        photo_path=relative,
        photo_sha256=digest,
        photo_format=result.format or "",
        photo_width=result.size[0],
        photo_height=result.size[1],
        embedding=result.embedding,
        model_name=result.model[0],
        model_version=result.model[1],
        quality=result.quality,
        active=not close,
        pending=close,
        enrolment_check={
            "waits_for": ["duplicate_case"] if close else [],
            "others": {
                "nearest": [
                    {"pensioner_id": str(n.pensioner_id), "distance": round(n.distance, 4)}
                    for n in neighbours[:3]
                ]
            },
            "import": True,
        },
        added_by_type=actor.type,
        added_by_id=actor.id,
    )
    session.add(face)
    media.store(settings=settings, relative=relative, data=data)
    written.append(relative)
    if face.active:
        session.flush()
        log_change(session, face=face, joined=True)
        index.add_local(face)
    return face, neighbours


def pool(workers: int | None = None, *, nice: int = 0) -> ProcessPoolExecutor:
    """Processes that each load the dlib models once (spawned: no inherited connections)."""
    import multiprocessing

    return ProcessPoolExecutor(
        max_workers=workers or os.cpu_count() or 1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(nice,),
    )


def report_csv(refusals: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["national_id", "file", "reason", "detail"])
    writer.writeheader()
    for row in refusals:
        # A cell a spreadsheet would run as a formula is quoted with a leading apostrophe.
        writer.writerow({k: ("'" + v if v[:1] in "=+-@\t\r" else v) for k, v in row.items()})
    return buffer.getvalue()


def batch_refusals(*, session: Session, batch_id: uuid.UUID) -> list[dict[str, str]]:
    rows = session.exec(
        select(FaceImportItem)
        .where(FaceImportItem.batch_id == batch_id, FaceImportItem.outcome != "enrolled")
        .order_by(col(FaceImportItem.created_at))
    ).all()
    return [
        {
            "national_id": r.national_id,
            "file": r.name,
            "reason": r.outcome,
            "detail": r.detail or "",
        }
        for r in rows
    ]
