"""A reproducible synthetic register and feeds of any size, generated inside DuckDB."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
from sqlmodel import Session

from app.config import Settings
from app.feeds import store
from app.feeds.schemas import FEED_SPECS
from app.feeds.validation import check_character_sql
from app.matching import bulk
from models.records import FeedType

REGIONS = 50  # 110101 .. 110150
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = [
    "秀英",
    "桂英",
    "建国",
    "淑珍",
    "玉兰",
    "国华",
    "志强",
    "丽华",
    "德明",
    "秀兰",
    "春梅",
    "文华",
    "明",
    "伟",
    "芳",
    "军",
    "敏",
    "静",
    "强",
    "磊",
]


def _list(values: list[str] | str) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def generate(
    out: Path,
    *,
    recipients: int,
    activity: int,
    deaths: int,
    as_of: date,
    seed: int,
    settings: Settings,
) -> dict[str, Path]:
    """register.parquet, activity_<type>.parquet and deaths.parquet under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    con = store.open_duckdb(settings)
    day = f"DATE '{as_of.isoformat()}'"
    # hash(i, seed) is deterministic for a DuckDB version: the same seed gives the same data.
    h = f"hash(i, {seed})"
    r = REGIONS
    first17 = (
        f"(110100 + 1 + i % {r})::VARCHAR || strftime(DATE '1930-01-01' + "
        f"((i // {r}) % 9000)::INTEGER, '%Y%m%d') || "
        f"lpad(((i // {r} // 9000) % 1000)::VARCHAR, 3, '0')"
    )
    con.execute(
        f"""
        CREATE TABLE register AS
        SELECT i, f17 || {check_character_sql("f17")} AS national_id,
               {_list(list(SURNAMES))}[1 + ({h} % {len(SURNAMES)})::INTEGER]
                 || {_list(GIVEN)}[1 + (({h} >> 8) % {len(GIVEN)})::INTEGER] AS name,
               strptime(substr(f17, 7, 8), '%Y%m%d')::DATE AS date_of_birth,
               substr(f17, 1, 6) AS region_code,
               (({h} >> 16) % 100) < 5 AS mobility_limited,
               200000 + (({h} >> 24) % 300000)::BIGINT AS monthly_amount_fen,
               ({day} - 365 + (({h} >> 32) % 730)::INTEGER) AS certified_until
        FROM (SELECT i, {first17} AS f17 FROM range({recipients}) t(i))
        """
    )
    # A valid ID of someone outside the register: province 9x does not occur in it.
    f17 = "('9' || substr(national_id, 2, 16))"
    other = f"({f17} || {check_character_sql(f17)})"
    files: dict[str, Path] = {}
    path = out / "register.parquet"
    con.execute(f"COPY register TO '{path}' (FORMAT parquet)")
    files["register"] = path
    # Activity: 85% of records concern people in the register, the rest others; a few IDs are
    # written in lower case or with spaces, and 0.1% are mistyped (quarantined, with a name).
    types = [
        "hospital_visit",
        "insurance_claim",
        "air_travel",
        "rail_travel",
        "card_use",
        "benefit_payment",
    ]
    weights = [10, 15, 5, 10, 40, 20]
    bounds, acc = [], 0
    for w in weights:
        acc += w
        bounds.append(acc)
    case = " ".join(f"WHEN t < {b} THEN '{name}'" for name, b in zip(types, bounds, strict=True))
    con.execute(
        f"""
        CREATE TABLE activity AS
        WITH a AS (
            SELECT i, hash(i, {seed} + 1) AS k FROM range({activity}) t(i)
        ), picked AS (
            SELECT a.i, a.k, CASE {case} END AS feed_type,
                   r.national_id, r.name, r.date_of_birth
            FROM (SELECT *, (k % 100) AS t, ((k >> 8) % {max(recipients, 1)}) AS who FROM a) a
            JOIN register r ON r.i = a.who
        )
        SELECT feed_type,
            CASE WHEN (k >> 20) % 100 >= 85
                     THEN {other}  -- someone not in the register
                 WHEN (k >> 20) % 1000 = 0
                     THEN substr(national_id, 1, 17) || CASE WHEN substr(national_id, 18) = '0'
                          THEN '1' ELSE '0' END         -- mistyped check character
                 WHEN (k >> 20) % 100 = 1 THEN lower(substr(national_id, 1, 6) || ' '
                          || substr(national_id, 7))
                 ELSE national_id END AS national_id,
            name, strftime(date_of_birth, '%Y-%m-%d') AS date_of_birth,
            strftime({day} - ((k >> 32) % 365)::INTEGER, '%Y-%m-%d') AS event_date,
            'F' || ((k >> 40) % 5000)::VARCHAR AS facility
        FROM picked
        """
    )
    for name in types:
        spec = FEED_SPECS[FeedType(name)]
        facility = f", facility AS {spec.facility_column}" if spec.facility_column else ""
        path = out / f"activity_{name}.parquet"
        con.execute(
            f"COPY (SELECT national_id, name, date_of_birth, event_date AS {spec.date_column}"
            f"{facility} FROM activity WHERE feed_type = '{name}') TO '{path}' (FORMAT parquet)"
        )
        files[name] = path
    con.execute("DROP TABLE activity")
    other_r = other.replace("national_id", "r.national_id")
    # Deaths: 10% of them are recipients (died in the last 300 days), the rest other people.
    con.execute(
        f"""
        CREATE TABLE deaths AS
        WITH d AS (SELECT i, hash(i, {seed} + 2) AS k FROM range({deaths}) t(i))
        SELECT CASE WHEN k % 10 = 0 THEN r.national_id ELSE {other_r} END AS national_id,
               r.name, strftime(r.date_of_birth, '%Y-%m-%d') AS date_of_birth,
               strftime({day} - ((k >> 8) % 300)::INTEGER, '%Y-%m-%d') AS date_of_death,
               CASE WHEN (k >> 20) % 50 = 0 THEN 'village_committee' ELSE 'public_security'
               END AS source_authority
        FROM d JOIN register r ON r.i = (k >> 24) % {max(recipients, 1)}
        """
    )
    path = out / "deaths.parquet"
    con.execute(f"COPY deaths TO '{path}' (FORMAT parquet)")
    files["death"] = path
    con.close()
    return files


def load_register(*, session: Session, settings: Settings, folder: Path) -> int:
    """Bulk-load register.parquet (and its regions) into the database."""
    con = store.open_duckdb(settings)
    scratch = settings.resolved_feeds_dir / "tmp"
    pg = bulk.dialect(session) == "postgresql"
    now = datetime.now(UTC)
    stamp = now.isoformat() if pg else now.strftime("%Y-%m-%d %H:%M:%S.%f")
    con.execute(f"CREATE TABLE register AS SELECT * FROM read_parquet('{folder}/register.parquet')")
    con.execute("CREATE TABLE known (code VARCHAR)")
    raw = session.connection()
    existing = [r[0] for r in raw.exec_driver_sql("SELECT code FROM region").fetchall()]
    if existing:
        con.executemany("INSERT INTO known VALUES (?)", [(c,) for c in existing])
    bulk.insert_rows(
        session,
        con,
        scratch=scratch,
        table="region",
        columns=["code", "name"],
        query="SELECT DISTINCT region_code, '合成区 ' || region_code FROM register "
        "WHERE region_code NOT IN (SELECT code FROM known) ORDER BY 1",
    )
    mobility = "mobility_limited" if pg else "mobility_limited::INTEGER"
    with bulk.tuned_for_bulk(session):
        return _insert_register(session, con, scratch=scratch, stamp=stamp, mobility=mobility)


def _insert_register(
    session: Session, con: duckdb.DuckDBPyConnection, *, scratch: Path, stamp: str, mobility: str
) -> int:
    return bulk.insert_rows(
        session,
        con,
        scratch=scratch,
        table="pensioner",
        columns=[
            "id",
            "national_id",
            "name",
            "date_of_birth",
            "sex",
            "phone",
            "region_code",
            "residence",
            "benefit_type",
            "benefit_status",
            "monthly_amount_fen",
            "mobility_limited",
            "preferred_language",
            "certified_until",
            "created_at",
            "updated_at",
        ],
        query=(
            "SELECT replace(gen_random_uuid()::VARCHAR, '-', ''), national_id, name, "
            "strftime(date_of_birth, '%Y-%m-%d'), CASE WHEN substr(national_id, 17, 1)::INTEGER "
            "% 2 = 1 THEN 'M' ELSE 'F' END, '13800000000', region_code, 'local', 'pension', "
            f"'active', monthly_amount_fen, {mobility}, 'zh', "
            f"strftime(certified_until, '%Y-%m-%d'), '{stamp}', '{stamp}' FROM register"
        ),
    )
