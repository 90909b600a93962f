"""Feed import: validation report, quarantine, ID normalisation, idempotence, formats."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
import httpx
import pytest
from sqlmodel import Session, select

from app import national_id
from app.audit.service import SYSTEM
from app.config import Settings
from app.feeds import service as feeds
from app.feeds.errors import BatchAlreadyImported, InvalidFeed
from app.feeds.schemas import FeedReport
from models.records import FeedBatch, FeedType, QuarantinedRecord
from tests.app.datamatch.conftest import AS_OF
from tests.conftest import Factory

NID = national_id.make("110105", date(1949, 12, 31), 2)  # ends in X
BAD = NID[:17] + "0"


def test_report_quarantine_and_normalised_ids(
    db: Session, settings: Settings, import_csv: Callable[..., FeedReport]
) -> None:
    assert NID.endswith("X")
    text = (
        "national_id,visit_date,facility,name,date_of_birth\n"
        f"{NID},2026-11-01,Hospital A,,\n"
        f"{NID.lower()},2026-11-02,Hospital A,,\n"
        f"{NID[:6]} {NID[6:14]} {NID[14:]},2026-11-03,Hospital B,,\n"
        f"{BAD},2026-11-04,Hospital B,王秀英,1949-12-31\n"
        f"{NID},2026-13-01,Hospital B,,\n"
        f"{NID},2026-11-05,,,\n"
        ",2026-11-05,Hospital C,李四,1950-01-01\n"
        f"{NID},2027-01-01,Hospital C,,\n"
    )
    report = import_csv("hospital_visit", text, source="health_commission")
    assert (report.rows, report.accepted, report.quarantined) == (8, 4, 4)
    assert report.ids_normalised == 2
    assert report.without_id == 1
    assert report.problems == {
        "bad_check_character": 1,
        "bad_date": 1,
        "future_date": 1,
        "missing_facility": 1,
    }
    assert report.examples[0].row == 4 and "expected X" in report.examples[0].message
    stored = db.exec(select(QuarantinedRecord).order_by(QuarantinedRecord.row_number)).all()
    assert [q.problem for q in stored] == [
        "bad_check_character",
        "bad_date",
        "missing_facility",
        "future_date",
    ]
    assert stored[0].name == "王秀英" and stored[0].raw["national_id"] == BAD
    batch = db.exec(select(FeedBatch)).one()
    kept = settings.resolved_feeds_dir / batch.source_path  # type: ignore[operator]
    assert kept.read_text() == text  # the source as received
    rows = duckdb.sql(
        f"SELECT national_id FROM '{settings.resolved_feeds_dir / batch.records_path}'"  # type: ignore[operator]
    ).fetchall()
    assert sorted(r[0] or "" for r in rows) == ["", NID, NID, NID]


def test_same_batch_twice_changes_nothing(
    db: Session, import_csv: Callable[..., FeedReport]
) -> None:
    text = f"national_id,date_of_death\n{NID},2026-10-01\n{BAD},2026-10-02\n"
    first = import_csv("death", text)
    again = import_csv("death", text)
    assert again.duplicate and not first.duplicate
    assert again.batch_id == first.batch_id
    assert len(db.exec(select(FeedBatch)).all()) == 1
    assert len(db.exec(select(QuarantinedRecord)).all()) == 1
    with pytest.raises(BatchAlreadyImported):
        import_csv("cremation", text)


def test_missing_columns_are_refused(import_csv: Callable[..., FeedReport]) -> None:
    with pytest.raises(InvalidFeed, match="date_of_death"):
        import_csv("death", f"national_id,died\n{NID},2026-10-01\n")


def test_jsonl_and_parquet(db: Session, settings: Settings, tmp_path: Path) -> None:
    lines = [
        {"national_id": NID, "travel_date": "2026-11-01"},
        {"national_id": BAD, "travel_date": "2026-11-02"},
    ]
    jsonl = tmp_path / "air.jsonl"
    jsonl.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    report = feeds.import_file(
        session=db,
        settings=settings,
        actor=SYSTEM,
        feed_type=FeedType.air_travel,
        source_authority="caac",
        path=jsonl,
        today=AS_OF,
    )
    assert (report.format.value, report.accepted, report.quarantined) == ("jsonl", 1, 1)
    parquet = tmp_path / "rail.parquet"
    duckdb.sql(
        f"COPY (SELECT '{NID.lower()}' AS national_id, DATE '2026-11-03' AS travel_date) "
        f"TO '{parquet}' (FORMAT parquet)"
    )
    report = feeds.import_file(
        session=db,
        settings=settings,
        actor=SYSTEM,
        feed_type=FeedType.rail_travel,
        source_authority="railway",
        path=parquet,
        today=AS_OF,
    )
    db.commit()
    assert (report.format.value, report.accepted, report.ids_normalised) == ("parquet", 1, 1)


async def test_upload_and_push_through_the_api(client: httpx.AsyncClient, factory: Factory) -> None:
    admin = factory.auth(factory.staff("admin"))
    text = f"national_id,transaction_date\n{NID},2026-11-01\n{BAD},2026-11-01\n"
    url = "/api/v1/feeds/card_use/batches?source_authority=hrss"
    first = await client.post(
        url,
        content=text.encode(),
        headers={**admin, "Content-Type": "text/csv"},
        params={"file_name": "cards.csv", "source_authority": "hrss"},
    )
    assert first.status_code == 201, first.text
    assert first.json()["quarantined"] == 1
    again = await client.post(
        url, files={"file": ("cards.csv", text.encode(), "text/csv")}, headers=admin
    )
    assert again.status_code == 200 and again.json()["duplicate"] is True
    batch_id = first.json()["batch_id"]
    quarantine = await client.get(f"/api/v1/feeds/batches/{batch_id}/quarantine", headers=admin)
    assert quarantine.json()[0]["problem"] == "bad_check_character"
    bad = await client.post(
        "/api/v1/feeds/card_use/batches?source_authority=x",
        content=b"x",
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert bad.status_code == 422 and bad.json()["error"] == "InvalidFeed"
    body = {
        "source_authority": "hrss",
        "records": [{"national_id": BAD, "event_date": "2026-11-01"}],
    }
    pushed = await client.post("/api/v1/feeds/card_use/records", json=body, headers=admin)
    assert pushed.status_code == 201 and pushed.json()["quarantined"] == 1
    assert (
        await client.post("/api/v1/feeds/card_use/records", json=body, headers=admin)
    ).status_code == 200
    unknown = await client.post("/api/v1/feeds/weather/records", json=body, headers=admin)
    assert unknown.status_code == 422
