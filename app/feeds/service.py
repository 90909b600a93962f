"""Importing feed batches (CSV, JSON Lines, Parquet) and pushed records: validate, quarantine,
keep the source, and make a re-import of the same content a no-op."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from app.audit import service as audit
from app.audit.service import Actor
from app.config import Settings
from app.errors import BatchAlreadyImported, FeedBatchNotFound, InvalidFeed
from app.feeds import store
from app.feeds.schemas import FEED_SPECS, FeedReport, RecordPush, RowProblem, columns_of
from app.feeds.validation import validate
from models.records import FeedBatch, FeedFormat, FeedRecord, FeedType, QuarantinedRecord

MAX_EXAMPLES = 50
_SUFFIXES = {
    ".csv": FeedFormat.csv,
    ".jsonl": FeedFormat.jsonl,
    ".ndjson": FeedFormat.jsonl,
    ".parquet": FeedFormat.parquet,
}
_RAW_COLUMNS = (
    "national_id",
    "name",
    "date_of_birth",
    "source_authority",
    "event_date",
    "facility",
)


def format_of(file_name: str | None, declared: FeedFormat | None) -> FeedFormat:
    if declared is not None:
        return declared
    suffix = Path(file_name or "").suffix.lower()
    if suffix not in _SUFFIXES:
        raise InvalidFeed(
            f"Cannot tell the format of {file_name!r}: name the file .csv, .jsonl or .parquet, "
            "or give format=csv|jsonl|parquet."
        )
    return _SUFFIXES[suffix]


def _existing(session: Session, sha256: str, feed_type: FeedType) -> FeedBatch | None:
    batch = session.exec(select(FeedBatch).where(FeedBatch.content_sha256 == sha256)).first()
    if batch is not None and batch.feed_type is not feed_type:
        raise BatchAlreadyImported(
            f"This content was imported on {batch.created_at:%Y-%m-%d} as a "
            f"{batch.feed_type.value} feed (batch {batch.id}); it cannot also be "
            f"{feed_type.value}.",
            batch_id=str(batch.id),
        )
    return batch


def report_of(batch: FeedBatch, *, duplicate: bool) -> FeedReport:
    return FeedReport.model_validate({**batch.report, "duplicate": duplicate})


def _read_raw(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: FeedFormat, feed_type: FeedType
) -> list[str]:
    """Load the file into table `raw` (VARCHAR columns, in file order); returns ignored columns."""
    source = str(path).replace("'", "''")
    reader = {
        FeedFormat.csv: f"read_csv('{source}', all_varchar=true, header=true)",
        FeedFormat.jsonl: f"read_json('{source}', format='newline_delimited')",
        FeedFormat.parquet: f"read_parquet('{source}')",
    }[fmt]
    try:
        con.execute(f"CREATE TEMP TABLE file AS SELECT * FROM {reader}")
    except duckdb.Error as exc:
        first_line = str(exc).strip().splitlines()[0][:300]
        raise InvalidFeed(f"The {fmt.value} file cannot be read: {first_line}") from exc
    present = [str(r[0]) for r in con.execute("DESCRIBE file").fetchall()]
    lower = {c.strip().lower(): c for c in present}
    spec = FEED_SPECS[feed_type]
    wanted = columns_of(feed_type)
    if spec.date_column not in lower:
        raise InvalidFeed(
            f"A {feed_type.value} feed needs the column {spec.date_column}; the file has: "
            + ", ".join(present),
            expected_columns=wanted,
        )
    if "national_id" not in lower and not {"name", "date_of_birth"} <= lower.keys():
        raise InvalidFeed(
            "The file needs a national_id column (or name and date_of_birth); it has: "
            + ", ".join(present),
            expected_columns=wanted,
        )
    rename = {"event_date": spec.date_column, "facility": spec.facility_column}

    def pick(target: str) -> str:
        name = rename.get(target, target)
        if name and name in lower:
            return f'CAST("{lower[name]}" AS VARCHAR) AS {target}'
        return f"NULL::VARCHAR AS {target}"

    con.execute(
        "CREATE TEMP TABLE raw AS SELECT rowid + 1 AS row_number, "
        + ", ".join(pick(c) for c in _RAW_COLUMNS)
        + " FROM file"
    )
    con.execute("DROP TABLE file")
    return sorted(c for k, c in lower.items() if k not in wanted)


def _summarise(
    con: duckdb.DuckDBPyConnection,
    batch: FeedBatch,
    *,
    ignored: list[str],
) -> dict[str, Any]:
    rows, accepted, normalised, without_id = con.execute(
        "SELECT count(*), count(*) FILTER (problem IS NULL), "
        "count(*) FILTER (problem IS NULL AND id_normalised), "
        "count(*) FILTER (problem IS NULL AND nid IS NULL) FROM v"
    ).fetchone() or (0, 0, 0, 0)
    problems = dict(
        con.execute(
            "SELECT problem, count(*) FROM v WHERE problem IS NOT NULL GROUP BY problem "
            "ORDER BY problem"
        ).fetchall()
    )
    examples = [
        RowProblem(row=r, national_id=n, problem=p, message=m)
        for r, n, p, m in con.execute(
            "SELECT row_number, raw_national_id, problem, message FROM v "
            f"WHERE problem IS NOT NULL ORDER BY row_number LIMIT {MAX_EXAMPLES}"
        ).fetchall()
    ]
    report = FeedReport(
        batch_id=batch.id,
        feed_type=batch.feed_type,
        format=batch.format,
        source_authority=batch.source_authority,
        content_sha256=batch.content_sha256,
        duplicate=False,
        rows=int(rows),
        accepted=int(accepted),
        quarantined=int(rows) - int(accepted),
        ids_normalised=int(normalised),
        without_id=int(without_id),
        problems={str(k): int(n) for k, n in problems.items()},
        examples=examples,
        ignored_columns=ignored,
        created_at=batch.created_at,
    )
    return report.model_dump(mode="json", exclude={"duplicate", "matching"})


def _quarantine(session: Session, con: duckdb.DuckDBPyConnection, batch: FeedBatch) -> None:
    cursor = con.execute(
        "SELECT row_number, problem, message, raw_national_id, name, date_of_birth, event_date, "
        "to_json(struct_pack(national_id := raw_national_id, name := name, "
        "date_of_birth := dob_text, event_date := date_text, facility := facility, "
        "source_authority := source_authority))::VARCHAR "
        "FROM v WHERE problem IS NOT NULL ORDER BY row_number"
    )
    table = QuarantinedRecord.__table__  # type: ignore[attr-defined]
    while rows := cursor.fetchmany(10_000):
        session.execute(
            sa.insert(table),
            [
                {
                    "batch_id": batch.id,
                    "row_number": r[0],
                    "feed_type": batch.feed_type,
                    "problem": r[1],
                    "message": (r[2] or "")[:300],
                    "raw_national_id": (r[3] or None) and r[3][:64],
                    "name": (r[4] or None) and r[4][:100],
                    "date_of_birth": r[5],
                    "event_date": r[6],
                    "raw": json.loads(r[7]),
                }
                for r in rows
            ],
        )


def import_file(
    *,
    session: Session,
    settings: Settings,
    actor: Actor,
    feed_type: FeedType,
    source_authority: str,
    path: Path | None = None,
    content: bytes | None = None,
    file_name: str | None = None,
    fmt: FeedFormat | None = None,
    today: date | None = None,
) -> FeedReport:
    """Validate and store a batch; the same content again returns the first report unchanged."""
    fmt = format_of(file_name or (path.name if path else None), fmt)
    if fmt is FeedFormat.api:
        raise InvalidFeed("format=api is for pushed records; a file is csv, jsonl or parquet.")
    if content is not None:
        if not content.strip():
            raise InvalidFeed("The file is empty.")
        sha256 = hashlib.sha256(content).hexdigest()
    elif path is not None:
        sha256 = store.sha256_of(path)
    else:
        raise InvalidFeed("No file was sent.")
    existing = _existing(session, sha256, feed_type)
    if existing is not None:
        return report_of(existing, duplicate=True)
    suffix = f".{fmt.value}"
    kept = (
        store.keep_source_bytes(settings, sha256, suffix, content)
        if content is not None
        else store.keep_source_file(settings, sha256, path)  # type: ignore[arg-type]
    )
    batch = FeedBatch(
        feed_type=feed_type,
        format=fmt,
        source_authority=source_authority,
        file_name=(file_name or (path.name if path else None) or "")[:255] or None,
        content_sha256=sha256,
        source_path=store.relative(settings, kept),
        imported_by_type=actor.type,
        imported_by_id=actor.id,
    )
    con = store.open_duckdb(settings)
    try:
        ignored = _read_raw(con, kept, fmt, feed_type)
        validate(
            con,
            raw_table="raw",
            out_table="v",
            feed_type=feed_type,
            default_source=source_authority,
            today=today or date.today(),
        )
        out = store.records_path(settings, feed_type, batch.id)
        con.execute(
            f"COPY (SELECT '{batch.id.hex}' AS batch_id, row_number, "
            f"'{feed_type.value}' AS feed_type, nid AS national_id, name, date_of_birth, "
            "event_date, facility, source_authority FROM v WHERE problem IS NULL "
            f"ORDER BY national_id) TO '{out}' (FORMAT parquet, COMPRESSION zstd)"
        )
        batch.records_path = store.relative(settings, out)
        batch.report = _summarise(con, batch, ignored=ignored)
        batch.rows = batch.report["rows"]
        batch.accepted = batch.report["accepted"]
        batch.quarantined = batch.report["quarantined"]
        session.add(batch)
        session.flush()
        _quarantine(session, con, batch)
    finally:
        con.close()
    _audit(session, actor, batch)
    return report_of(batch, duplicate=False)


def _audit(session: Session, actor: Actor, batch: FeedBatch) -> None:
    audit.record(
        session=session,
        actor=actor,
        action="feed.import",
        entity_type="feed_batch",
        entity_id=batch.id,
        after={
            "feed_type": batch.feed_type.value,
            "format": batch.format.value,
            "source_authority": batch.source_authority,
            "content_sha256": batch.content_sha256,
            "rows": batch.rows,
            "accepted": batch.accepted,
            "quarantined": batch.quarantined,
        },
    )


def push_records(
    *,
    session: Session,
    settings: Settings,
    actor: Actor,
    feed_type: FeedType,
    body: RecordPush,
    today: date | None = None,
) -> tuple[FeedReport, FeedBatch]:
    """Records pushed through the API: validated like a file, stored in the database."""
    canonical = json.dumps(
        {"feed_type": feed_type.value, **body.model_dump(mode="json", exclude={"match"})},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    sha256 = hashlib.sha256(canonical.encode()).hexdigest()
    existing = _existing(session, sha256, feed_type)
    if existing is not None:
        return report_of(existing, duplicate=True), existing
    batch = FeedBatch(
        feed_type=feed_type,
        format=FeedFormat.api,
        source_authority=body.source_authority,
        content_sha256=sha256,
        imported_by_type=actor.type,
        imported_by_id=actor.id,
    )
    con = store.open_duckdb(settings)
    try:
        con.execute(
            "CREATE TEMP TABLE raw (row_number BIGINT, national_id VARCHAR, name VARCHAR, "
            "date_of_birth VARCHAR, source_authority VARCHAR, event_date VARCHAR, "
            "facility VARCHAR)"
        )
        con.executemany(
            "INSERT INTO raw VALUES (?, ?, ?, ?, NULL, ?, ?)",
            [
                (i, r.national_id, r.name, r.date_of_birth, r.event_date, r.facility)
                for i, r in enumerate(body.records, start=1)
            ],
        )
        validate(
            con,
            raw_table="raw",
            out_table="v",
            feed_type=feed_type,
            default_source=body.source_authority,
            today=today or date.today(),
        )
        batch.report = _summarise(con, batch, ignored=[])
        batch.rows = batch.report["rows"]
        batch.accepted = batch.report["accepted"]
        batch.quarantined = batch.report["quarantined"]
        session.add(batch)
        session.flush()
        valid = con.execute(
            "SELECT row_number, nid, name, date_of_birth, event_date, facility, source_authority "
            "FROM v WHERE problem IS NULL ORDER BY row_number"
        ).fetchall()
        session.add_all(
            FeedRecord(
                batch_id=batch.id,
                row_number=r[0],
                feed_type=feed_type,
                national_id=r[1],
                name=r[2],
                date_of_birth=r[3],
                event_date=r[4],
                facility=r[5],
                source_authority=r[6],
            )
            for r in valid
        )
        _quarantine(session, con, batch)
        session.flush()
    finally:
        con.close()
    _audit(session, actor, batch)
    return report_of(batch, duplicate=False), batch


def get_batch(*, session: Session, batch_id: uuid.UUID) -> FeedBatch:
    batch = session.get(FeedBatch, batch_id)
    if batch is None:
        raise FeedBatchNotFound()
    return batch


def list_batches(
    *, session: Session, feed_type: FeedType | None, limit: int, offset: int
) -> tuple[list[FeedBatch], int]:
    conditions = [FeedBatch.feed_type == feed_type] if feed_type else []
    total = session.exec(select(func.count()).select_from(FeedBatch).where(*conditions)).one()
    rows = session.exec(
        select(FeedBatch)
        .where(*conditions)
        .order_by(col(FeedBatch.created_at).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total)


def quarantined(
    *, session: Session, batch_id: uuid.UUID, limit: int, offset: int
) -> list[QuarantinedRecord]:
    return list(
        session.exec(
            select(QuarantinedRecord)
            .where(QuarantinedRecord.batch_id == batch_id)
            .order_by(col(QuarantinedRecord.row_number))
            .limit(limit)
            .offset(offset)
        ).all()
    )
