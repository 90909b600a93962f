"""The scale paths of a run and an import: one transaction, the fast validation rules giving
the same answers as the general ones, the evidence kept, the records file, the SQLite tuning."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
import pytest
from sqlmodel import Session, select

from app import national_id
from app.audit import service as audit
from app.audit.service import SYSTEM
from app.config import Settings
from app.feeds.schemas import FeedReport
from app.feeds.validation import (
    _date_sql,
    born_ok_sql,
    check_character_sql,
    fast_check_character_sql,
)
from app.feeds.validation import parse_date_sql as general_date_sql
from app.matching import bulk
from app.matching import service as matching
from models.certification import Certification, PaymentSuspension
from models.matching import MatchingRun, RunKind
from models.overpayment import OverpaymentClaim
from models.pensioner import BenefitStatus, Pensioner
from models.records import FeedBatch
from models.verification import VerificationTask
from tests.app.datamatch.conftest import AS_OF
from tests.conftest import Factory

Import = Callable[..., FeedReport]
Match = Callable[..., MatchingRun]


def _pensioner(factory: Factory, **fields: object) -> Pensioner:
    p = factory.pensioner(**{"certified_until": date(2026, 10, 1), **fields})
    assert isinstance(p, Pensioner)
    return p


def test_a_run_that_fails_while_writing_leaves_nothing_behind(
    db: Session,
    settings: Settings,
    factory: Factory,
    import_csv: Import,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alive = _pensioner(factory)
    dead = _pensioner(factory)
    overdue = _pensioner(factory)
    import_csv(
        "hospital_visit", f"national_id,visit_date,facility\n{alive.national_id},2026-11-02,H\n"
    )
    import_csv("death", f"national_id,date_of_death\n{dead.national_id},2026-08-20\n")

    def fail(**_: object) -> int:  # the deaths' audit, after most rows are written
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "record_many", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        matching.run(session=db, settings=settings, actor=SYSTEM, kind=RunKind.monthly, as_of=AS_OF)
    db.rollback()
    db.expire_all()
    # Certifications, updates, suspensions, claims and tasks had all been written: all gone.
    assert db.exec(select(Certification)).all() == []
    assert db.exec(select(PaymentSuspension)).all() == []
    assert db.exec(select(OverpaymentClaim)).all() == []
    assert db.exec(select(VerificationTask)).all() == []
    assert db.exec(select(MatchingRun)).all() == []
    for p in (alive, dead, overdue):
        stored = db.get(Pensioner, p.id)
        assert stored is not None
        assert stored.certified_until == date(2026, 10, 1)
        assert stored.benefit_status is BenefitStatus.active
    # The same run again, without the failure, does it all once.
    monkeypatch.undo()
    run = matching.run(
        session=db, settings=settings, actor=SYSTEM, kind=RunKind.monthly, as_of=AS_OF
    )
    db.commit()
    assert (run.counts["certified"], run.counts["deaths"], run.counts["tasks"]) == (1, 1, 1)


def test_evidence_keeps_three_records_strong_first_and_newest_first(
    db: Session, factory: Factory, import_csv: Import, match: Match
) -> None:
    p = _pensioner(factory)
    import_csv(
        "card_use",
        "national_id,transaction_date\n"
        + "".join(f"{p.national_id},2026-11-{day:02d}\n" for day in (3, 9, 5, 20, 7, 1)),
        source="hrss",
    )
    import_csv("air_travel", f"national_id,travel_date\n{p.national_id},2026-10-01\n", "caac")
    match()
    (cert,) = db.exec(select(Certification).where(Certification.pensioner_id == p.id)).all()
    assert (cert.evidence["rule"], cert.evidence["strong"], cert.evidence["weak_days"]) == (
        "strong",
        1,
        6,
    )
    assert cert.evidence["last_seen"] == "2026-11-20"
    records = cert.evidence["records"]
    assert [(r["tier"], r["date"]) for r in records] == [
        ("strong", "2026-10-01"),
        ("weak", "2026-11-20"),
        ("weak", "2026-11-09"),
    ]
    batches = {b.id.hex: b for b in db.exec(select(FeedBatch)).all()}
    batch, row = records[1]["record"].split(":")
    assert batches[batch].feed_type.value == records[1]["feed"] == "card_use"
    assert row == "4"  # the 2026-11-20 line of the file
    # Certification ids are time-ordered UUIDs (version 7), in the order of the rows.
    assert cert.id.version == 7


def test_records_file_keeps_what_matching_needs(
    db: Session, settings: Settings, factory: Factory, import_csv: Import
) -> None:
    p = _pensioner(factory)
    report = import_csv(
        "hospital_visit",
        "national_id,visit_date,facility,name,date_of_birth\n"
        f"{p.national_id},2026-11-02,H,{p.name},1950-03-01\n"
        ",2026-11-03,H,李四,1950-01-01\n",
        source="health_commission",
    )
    batch = db.get(FeedBatch, report.batch_id)
    assert batch is not None and batch.records_path is not None
    rows = duckdb.sql(
        "SELECT row_number, national_id, name, date_of_birth, event_date, source_authority "
        f"FROM '{settings.resolved_feeds_dir / batch.records_path}' ORDER BY row_number"
    ).fetchall()
    # With an ID: the key and the date (the rest stays in the kept source file, by row
    # number); without one: the name and date of birth a candidate is found by. The
    # batch's own source authority is not repeated on every row.
    assert rows == [
        (1, p.national_id, None, None, date(2026, 11, 2), None),
        (2, None, "李四", date(1950, 1, 1), date(2026, 11, 3), None),
    ]


def test_fast_check_character_is_the_same_as_the_general_rule() -> None:
    rng = random.Random(7)
    ids = [national_id.make("110105", date(1950, 3, 1), n) for n in range(1, 400)]
    ids += ["".join(rng.choice("0123456789") for _ in range(17)) + "0" for _ in range(2000)]
    con = duckdb.connect()
    con.execute("CREATE TABLE ids (nid VARCHAR)")
    con.executemany("INSERT INTO ids VALUES (?)", [(i,) for i in ids])
    differ = con.execute(
        f"SELECT count(*) FROM ids WHERE {check_character_sql('nid')} <> "
        f"{fast_check_character_sql('substr(nid, 1, 17)::BIGINT')}"
    ).fetchone()
    assert differ == (0,)
    valid = con.execute(
        "SELECT count(*) FROM ids WHERE substr(nid, 18, 1) = "
        f"{fast_check_character_sql('substr(nid, 1, 17)::BIGINT')}"
    ).fetchone()
    assert valid is not None and valid[0] >= 399  # every ID national_id.make built


def test_fast_date_path_is_the_same_as_the_general_rule() -> None:
    texts = [
        f"{y}-{m:02d}-{d:02d}"
        for y in (1899, 1900, 2000, 2023, 2024, 2026)
        for m in range(0, 20)
        for d in range(0, 40)
    ]
    texts += ["2026-1-5", "20261105", "2026/11/05", "-026-11-05", "2026-11-05 ", "", "x"]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (x VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [(t,) for t in texts])
    differ = con.execute(
        f"SELECT x FROM t WHERE ({_date_sql('x')}) IS DISTINCT FROM ({general_date_sql('x')})"
    ).fetchall()
    assert differ == []


def test_birth_date_in_the_id_by_arithmetic_is_the_same_as_parsing_it() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT y * 10000 + m * 100 + d AS ymd FROM range(1870, 2031) a(y), "
        "range(0, 14) b(m), range(0, 33) c(d)"
    )
    parsed = "try_strptime(lpad(ymd::VARCHAR, 8, '0'), '%Y%m%d')::DATE"
    general = (
        f"coalesce({parsed} IS NOT NULL AND year({parsed}) >= 1880 "
        f"AND {parsed} <= DATE '{AS_OF.isoformat()}', false)"
    )
    differ = con.execute(
        f"SELECT ymd FROM t WHERE {born_ok_sql('ymd', AS_OF)} <> {general}"
    ).fetchall()
    assert differ == []


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # a SQLite connection setting
def test_sqlite_cache_is_restored_after_a_bulk_run(db: Session) -> None:
    raw = db.connection().connection.driver_connection
    before = raw.execute("PRAGMA cache_size").fetchone()
    with bulk.tuned_for_bulk(db, cache_mib=64):
        assert raw.execute("PRAGMA cache_size").fetchone() == (-64 * 1024,)
    assert raw.execute("PRAGMA cache_size").fetchone() == before
    db.rollback()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # SQLite's rowid path
def test_sqlite_register_load_in_parts_keeps_every_row_once(
    db: Session, settings: Settings, tmp_path: Path
) -> None:
    raw = db.connection().connection.driver_connection
    raw.execute("CREATE TEMP TABLE people (name TEXT, age INTEGER, gone INTEGER)")
    rows = [(f'Name "{i}", the {i}th', i % 97, int(i % 10 == 0)) for i in range(2_345)]
    raw.executemany("INSERT INTO people VALUES (?, ?, ?)", rows)
    raw.execute("DELETE FROM people WHERE rowid % 7 = 0")  # gaps in the rowids
    con = duckdb.connect()
    count = bulk.load_sqlite_lines(
        db,
        con,
        table="reg",
        source="people",
        line="printf('%d,\"%s\",%d', rowid, replace(name, '\"', '\"\"'), age)",
        where="gone = 0",
        columns=[("name", "VARCHAR"), ("age", "INTEGER")],
        scratch=tmp_path / "scratch",
        keyed="rn",
        step=50,
        part_rows=300,  # eight parts, parsed while the next is made
    )
    expected = raw.execute("SELECT rowid, name, age FROM people WHERE gone = 0").fetchall()
    assert count == len(expected) > 1_500
    assert sorted(con.execute("SELECT rn, name, age FROM reg").fetchall()) == sorted(expected)
    assert list((tmp_path / "scratch").iterdir()) == []  # the parts are deleted
    db.rollback()
