"""Importing feed batches (CSV, JSON Lines, Parquet) and pushed records: validate, quarantine,
keep the source, and make a re-import of the same content a no-op."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.service import Actor
from app.config import Settings
from app.feeds import store
from app.feeds.errors import BatchAlreadyImported, FeedBatchNotFound, InvalidFeed
from app.feeds.schemas import FEED_SPECS, FeedReport, RecordPush, RowProblem, columns_of
from app.feeds.validation import (
    AWAITING_CONFIRMATION,
    IN_SCOPE_TABLE,
    OUT_OF_SCOPE,
    RECENTLY_CERTIFIED_TABLE,
    Gate,
    gated_sql,
    message_sql,
    name_sql,
    raw_id_sql,
    validate,
    validated_sql,
)
from app.kit import scope
from app.kit.pages import Page, paginate
from app.matching import bulk
from app.matching import service as matching
from models.certification import Certification, CertificationMethod
from models.matching import RunKind
from models.pensioner import Pensioner
from models.records import (
    FeedBatch,
    FeedFormat,
    FeedRecord,
    FeedType,
    HeldDeathRecord,
    HoldReason,
    QuarantinedRecord,
)
from models.staff import StaffUser

MAX_EXAMPLES = 50
# A death record about someone who showed their face (selfie or video call) this recently
# waits for a second staff member: a live person outweighs one record.
RECENT_CERTIFICATION_DAYS = 90
FACE_OR_CALL = (CertificationMethod.remote_self_service, CertificationMethod.video_call)
_LOOKUP_CHUNK = 500
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


def _existing(
    session: Session, sha256: str, feed_type: FeedType, region_scope: str
) -> FeedBatch | None:
    batch = session.exec(select(FeedBatch).where(FeedBatch.content_sha256 == sha256)).first()
    if batch is not None and batch.region_scope != region_scope:
        # Sent before by someone of another scope: it applied only within that scope, and its
        # report may not be this sender's to read.
        raise BatchAlreadyImported(
            "This content was imported already by a sender with another region scope; "
            "it cannot be imported again as it is."
        )
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
    con: duckdb.DuckDBPyConnection,
    path: Path,
    fmt: FeedFormat,
    feed_type: FeedType,
    *,
    fixed_source: bool = False,
) -> list[str]:
    """View `raw` of the file (VARCHAR columns and row_number, in file order); returns the
    ignored columns. A Parquet file is read where it lies; CSV and JSON Lines are loaded once
    (their readers have no row number)."""
    source = str(path).replace("'", "''")
    if fmt is FeedFormat.parquet:
        reader = f"read_parquet('{source}', file_row_number=true)"
        row_number = "file_row_number + 1"
    else:
        reader = {
            FeedFormat.csv: f"read_csv('{source}', all_varchar=true, header=true)",
            FeedFormat.jsonl: f"read_json('{source}', format='newline_delimited')",
        }[fmt]
        row_number = "rowid + 1"
    try:
        if fmt is FeedFormat.parquet:
            con.execute(f"CREATE TEMP VIEW file AS SELECT * FROM {reader}")
        else:
            con.execute(f"CREATE TEMP TABLE file AS SELECT * FROM {reader}")
        present = [str(r[0]) for r in con.execute("DESCRIBE file").fetchall()]
    except duckdb.Error as exc:
        first_line = str(exc).strip().splitlines()[0][:300]
        raise InvalidFeed(f"The {fmt.value} file cannot be read: {first_line}") from exc
    if fmt is FeedFormat.parquet:
        present.remove("file_row_number")
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
        f"CREATE TEMP VIEW raw AS SELECT {row_number} AS row_number, "
        + ", ".join(pick(c) for c in _RAW_COLUMNS)
        + " FROM file"
    )
    if fixed_source:  # the feed key names the source, not the rows
        wanted.remove("source_authority")
    return sorted(c for k, c in lower.items() if k not in wanted)


def _outputs(default_source: str, feed_type: FeedType) -> str:
    """What is kept of each validated row: for a valid row what matching reads (the kept
    source file has the rest, found by row number); for a quarantined row what staff need to
    correct it. One column set for both, so one pass can write both files. The per-row work
    for the few rows that need it sits inside CASEs, so the other rows never pay for it."""
    source = "'" + default_source.replace("'", "''") + "'"
    identity = "problem IS NOT NULL OR nid IS NULL"
    return f"""
        row_number, nid AS national_id, event_date,
        nullif(source_authority, {source}) AS source_authority,
        CASE WHEN {identity} THEN left({name_sql("raw_name")}, 100) END AS name,
        CASE WHEN {identity} THEN date_of_birth END AS date_of_birth,
        id_normalised, problem, left({message_sql(feed_type)}, 300) AS message,
        CASE WHEN problem IS NOT NULL THEN to_json(struct_pack(
            national_id := {raw_id_sql("raw_id")}, name := {name_sql("raw_name")},
            date_of_birth := dob_text, event_date := date_text,
            facility := {raw_id_sql("raw_facility")},
            source_authority := source_authority))::VARCHAR END AS raw"""


def _write_outputs(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    batch: FeedBatch,
    records: Path,
    validated: str,
) -> None:
    """One streaming pass over the validated rows: valid ones to `records`, quarantined ones
    to a scratch file; then views `valid` and `bad` over the two."""
    split = settings.resolved_feeds_dir / "tmp" / f"split-{batch.id.hex}"
    outputs = _outputs(batch.source_authority, batch.feed_type)
    shutil.rmtree(split, ignore_errors=True)
    try:
        _split(con, split, outputs, validated, records)
    finally:
        shutil.rmtree(split, ignore_errors=True)


def _split(
    con: duckdb.DuckDBPyConnection, split: Path, outputs: str, validated: str, records: Path
) -> None:
    con.execute(
        f"COPY (SELECT problem IS NULL AS valid, {outputs} FROM ({validated})) "
        f"TO '{split}' (FORMAT parquet, PARTITION_BY (valid))"
    )
    good = sorted(split.glob("valid=true/*.parquet"))
    bad = sorted(split.glob("valid=false/*.parquet"))
    if len(good) == 1:
        os.replace(good[0], records)
    else:  # no valid row (or, unexpectedly, several files): write the one file from them
        files = ", ".join(f"'{f}'" for f in good)
        query = (
            f"SELECT * FROM read_parquet([{files}], hive_partitioning=false)"
            if good
            else f"SELECT {outputs} FROM ({validated}) WHERE false"
        )
        con.execute(f"COPY ({query}) TO '{records}' (FORMAT parquet)")
    con.execute(f"CREATE TEMP VIEW valid AS SELECT * FROM read_parquet('{records}')")
    if bad:
        files = ", ".join(f"'{f}'" for f in bad)
        con.execute(
            "CREATE TEMP TABLE bad AS SELECT * FROM "
            f"read_parquet([{files}], hive_partitioning=false)"
        )
    else:
        con.execute(f"CREATE TEMP TABLE bad AS SELECT {outputs} FROM ({validated}) LIMIT 0")


def _summarise(
    con: duckdb.DuckDBPyConnection,
    batch: FeedBatch,
    *,
    ignored: list[str],
) -> dict[str, Any]:
    accepted, normalised, without_id = con.execute(
        "SELECT count(*), count(*) FILTER (id_normalised), count(*) FILTER (national_id IS NULL) "
        "FROM valid"
    ).fetchone() or (0, 0, 0)
    problems = dict(
        con.execute(
            "SELECT problem, count(*) FROM bad GROUP BY problem ORDER BY problem"
        ).fetchall()
    )
    held = int(problems.pop(AWAITING_CONFIRMATION, 0))
    examples = [
        RowProblem(row=r, national_id=n, problem=p, message=m)
        for r, n, p, m in con.execute(
            "SELECT row_number, json_extract_string(raw, '$.national_id'), problem, message "
            f"FROM bad WHERE problem <> '{AWAITING_CONFIRMATION}' "
            f"ORDER BY row_number LIMIT {MAX_EXAMPLES}"
        ).fetchall()
    ]
    quarantined = sum(int(n) for n in problems.values())
    report = FeedReport(
        batch_id=batch.id,
        feed_type=batch.feed_type,
        format=batch.format,
        source_authority=batch.source_authority,
        content_sha256=batch.content_sha256,
        duplicate=False,
        rows=int(accepted) + quarantined + held,
        accepted=int(accepted),
        quarantined=quarantined,
        ids_normalised=int(normalised),
        without_id=int(without_id),
        problems={str(k): int(n) for k, n in problems.items()},
        awaiting_confirmation=held,
        examples=examples,
        ignored_columns=ignored,
        created_at=batch.created_at,
    )
    return report.model_dump(mode="json", exclude={"duplicate", "matching"})


def _quarantine(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    batch: FeedBatch,
    gate: Gate,
) -> None:
    """The rows of `bad` into quarantined_record, in bulk (a big file may have many).

    The name and date of birth go in their columns only where they may suggest a candidate:
    not for an out-of-scope row (a pensioner of another region), nor for any row of a death
    batch a person sent (a candidate that person could confirm would bypass the second staff
    member). `raw` keeps them all the same."""
    named = f"problem <> '{OUT_OF_SCOPE}'"
    if gate.person and batch.feed_type.is_death:
        named = "false"
    bulk.insert_rows(
        session,
        con,
        scratch=settings.resolved_feeds_dir / "tmp",
        table="quarantined_record",
        columns=[
            "batch_id",
            "row_number",
            "feed_type",
            "problem",
            "message",
            "raw_national_id",
            "name",
            "date_of_birth",
            "event_date",
            "raw",
        ],
        query=(
            f"SELECT '{batch.id.hex}', row_number, "
            f"'{batch.feed_type.value}', problem, coalesce(message, ''), "
            "left(nullif(json_extract_string(raw, '$.national_id'), ''), 64), "
            f"CASE WHEN {named} THEN name END, "
            f"CASE WHEN {named} THEN strftime(date_of_birth, '%Y-%m-%d') END, "
            "strftime(event_date, '%Y-%m-%d'), raw "
            f"FROM bad WHERE problem <> '{AWAITING_CONFIRMATION}' ORDER BY row_number"
        ),
    )


def _national_ids(
    session: Session, ids: list[str], *conditions: ColumnElement[bool], joined: bool = False
) -> set[str]:
    """Those of `ids` that are pensioners' IDs meeting the conditions (in chunks of bound
    parameters); `joined`: the conditions are on a pensioner's certifications."""
    found: set[str] = set()
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        query = select(Pensioner.national_id).where(
            col(Pensioner.national_id).in_(ids[start : start + _LOOKUP_CHUNK]), *conditions
        )
        if joined:
            query = query.join(Certification, col(Certification.pensioner_id) == Pensioner.id)
        found.update(session.exec(query.distinct()).all())
    return found


def _id_table(con: duckdb.DuckDBPyConnection, table: str, ids: Iterable[str]) -> None:
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} (national_id VARCHAR)")
    rows = [(i,) for i in sorted(ids)]
    if rows:
        con.executemany(f"INSERT INTO {table} VALUES (?)", rows)


def _gate(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    query: str,
    *,
    feed_type: FeedType,
    gate: Gate,
    today: date,
) -> tuple[str, set[str]]:
    """The validated query with the gate's problems (validation.gated_sql), and the IDs of
    pensioners who certified by face or call lately (death feeds only)."""
    if not gate.region_scope and not feed_type.is_death:
        return query, set()
    ids = [
        str(r[0])
        for r in con.execute(
            f"SELECT DISTINCT nid FROM ({query}) WHERE problem IS NULL AND nid IS NOT NULL"
        ).fetchall()
    ]
    in_scope: set[str] = set()
    if gate.region_scope:
        in_scope = _national_ids(
            session, ids, col(Pensioner.region_code).startswith(gate.region_scope)
        )
    recent: set[str] = set()
    if feed_type.is_death:
        since = datetime.combine(today - timedelta(days=RECENT_CERTIFICATION_DAYS), time(), UTC)
        recent = _national_ids(
            session,
            ids,
            col(Certification.method).in_(FACE_OR_CALL),
            col(Certification.certified_at) >= since,
            joined=True,
        )
    _id_table(con, IN_SCOPE_TABLE, in_scope)
    _id_table(con, RECENTLY_CERTIFIED_TABLE, recent)
    return gated_sql(query, feed_type=feed_type, gate=gate), recent


def _hold(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    batch: FeedBatch,
    *,
    gate: Gate,
    recent: set[str],
) -> None:
    """The rows of `bad` awaiting a second staff member into held_death_record."""
    rows = con.execute(
        "SELECT row_number, national_id, name, date_of_birth, event_date, source_authority, "
        "json_extract_string(raw, '$.facility') FROM bad "
        f"WHERE problem = '{AWAITING_CONFIRMATION}' ORDER BY row_number"
    ).fetchall()
    if not rows:
        return
    ids = sorted({str(r[1]) for r in rows if r[1]})
    pensioners: dict[str, uuid.UUID] = {}
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        pensioners.update(
            session.exec(
                select(Pensioner.national_id, Pensioner.id).where(
                    col(Pensioner.national_id).in_(ids[start : start + _LOOKUP_CHUNK])
                )
            ).all()
        )
    for row_number, nid, name, born, day, source, facility in rows:
        reasons = [HoldReason.sent_by_person.value] if gate.person else []
        if nid in recent:
            reasons.append(HoldReason.recently_certified.value)
        session.add(
            HeldDeathRecord(
                batch_id=batch.id,
                row_number=row_number,
                feed_type=batch.feed_type,
                national_id=nid,
                name=name,
                date_of_birth=born,
                event_date=day,
                facility=facility[:200] if facility else None,
                source_authority=source or batch.source_authority,
                pensioner_id=pensioners.get(nid) if nid else None,
                reasons=reasons,
            )
        )
    session.flush()


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
    gate: Gate | None = None,
) -> FeedReport:
    """Validate and store a batch; the same content again returns the first report unchanged.

    The file streams through DuckDB once: the valid rows go to the batch's records file, the
    quarantined ones to quarantined_record, nothing is loaded whole into memory. The gate
    (who sent it) may quarantine valid rows as out of scope, or hold death records for a
    second staff member (held_death_record, which matching never reads). No gate: an
    operator's import (the command line), national and trusted."""
    gate = gate or Gate()
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
    existing = _existing(session, sha256, feed_type, gate.region_scope)
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
        region_scope=gate.region_scope,
    )
    day = today or date.today()
    con = store.open_duckdb(settings)
    try:
        ignored = _read_raw(con, kept, fmt, feed_type, fixed_source=gate.fixed_source)
        validated, recent = _gate(
            session,
            con,
            validated_sql(
                raw_table="raw",
                feed_type=feed_type,
                default_source=source_authority,
                today=day,
                fixed_source=gate.fixed_source,
            ),
            feed_type=feed_type,
            gate=gate,
            today=day,
        )
        out = store.records_path(settings, feed_type, batch.id)
        _write_outputs(con, settings, batch, out, validated)
        batch.records_path = store.relative(settings, out)
        batch.report = _summarise(con, batch, ignored=ignored)
        batch.rows = batch.report["rows"]
        batch.accepted = batch.report["accepted"]
        batch.quarantined = batch.report["quarantined"]
        session.add(batch)
        session.flush()
        _quarantine(session, con, settings, batch, gate)
        _hold(session, con, batch, gate=gate, recent=recent)
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
            "awaiting_confirmation": batch.report.get("awaiting_confirmation", 0),
            "region_scope": batch.region_scope,
        },
    )


def push_records(
    *,
    session: Session,
    settings: Settings,
    actor: Actor,
    feed_type: FeedType,
    body: RecordPush,
    source_authority: str,
    today: date | None = None,
    gate: Gate | None = None,
) -> tuple[FeedReport, FeedBatch]:
    """Records pushed through the API: validated and gated like a file, stored in the
    database. `source_authority` is the sender's (a feed key's), not the body's."""
    gate = gate or Gate()
    canonical = json.dumps(
        {
            "feed_type": feed_type.value,
            **body.model_dump(mode="json", exclude={"match"}),
            "source_authority": source_authority,
            # The same records from another scope are another batch (they apply elsewhere).
            **({"sender_scope": gate.region_scope} if gate.region_scope else {}),
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    sha256 = hashlib.sha256(canonical.encode()).hexdigest()
    existing = _existing(session, sha256, feed_type, gate.region_scope)
    if existing is not None:
        return report_of(existing, duplicate=True), existing
    batch = FeedBatch(
        feed_type=feed_type,
        format=FeedFormat.api,
        source_authority=source_authority,
        content_sha256=sha256,
        imported_by_type=actor.type,
        imported_by_id=actor.id,
        region_scope=gate.region_scope,
    )
    day = today or date.today()
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
        query, recent = _gate(
            session,
            con,
            validated_sql(
                raw_table="raw", feed_type=feed_type, default_source=source_authority, today=day
            ),
            feed_type=feed_type,
            gate=gate,
            today=day,
        )
        validate(con, query=query, out_table="v", feed_type=feed_type)
        outputs = _outputs(source_authority, feed_type)
        con.execute(f"CREATE TEMP VIEW valid AS SELECT {outputs} FROM v WHERE problem IS NULL")
        con.execute(f"CREATE TEMP VIEW bad AS SELECT {outputs} FROM v WHERE problem IS NOT NULL")
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
        _quarantine(session, con, settings, batch, gate)
        _hold(session, con, batch, gate=gate, recent=recent)
        session.flush()
    finally:
        con.close()
    _audit(session, actor, batch)
    return report_of(batch, duplicate=False), batch


def get_batch(*, session: Session, staff: StaffUser, batch_id: uuid.UUID) -> FeedBatch:
    batch = session.get(FeedBatch, batch_id)
    if batch is None or not staff.covers_region(batch.region_scope):
        raise FeedBatchNotFound()
    return batch


def list_batches(
    *,
    session: Session,
    staff: StaffUser,
    feed_type: FeedType | None,
    limit: int,
    offset: int,
) -> Page[FeedBatch]:
    # Batches sent within the reader's scope. An agency's feed is national (scope ""), so only
    # national staff see it: its rows are anyone's.
    query = scope.within(select(FeedBatch), FeedBatch.region_scope, staff)
    if feed_type:
        query = query.where(col(FeedBatch.feed_type) == feed_type)
    query = query.order_by(col(FeedBatch.created_at).desc())
    return paginate(session=session, query=query, limit=limit, offset=offset)


def quarantined(
    *, session: Session, batch: FeedBatch, limit: int, offset: int
) -> list[QuarantinedRecord]:
    """The batch's quarantined rows (the caller loaded the batch in the reader's scope)."""
    return list(
        session.exec(
            select(QuarantinedRecord)
            .where(QuarantinedRecord.batch_id == batch.id)
            .order_by(col(QuarantinedRecord.row_number))
            .limit(limit)
            .offset(offset)
        ).all()
    )


def match_batch(
    *,
    session: Session,
    settings: Settings,
    actor: Actor,
    region_scope: str,
    batch_id: uuid.UUID,
) -> dict[str, object]:
    """An incremental matching run over one batch's records, now (a push or a confirmed held
    death is matched at once against the register)."""
    run = matching.run(
        session=session,
        settings=settings,
        actor=actor,
        kind=RunKind.incremental,
        region_scope=region_scope,
        batch_ids=[batch_id],
    )
    return {"run_id": str(run.id), **run.counts}
