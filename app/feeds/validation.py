"""Row validation of a feed in DuckDB: the same ID rules as app/national_id.py, set-based."""

from __future__ import annotations

from datetime import date

import duckdb

from app.feeds.schemas import FEED_SPECS
from models.records import FeedType

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"


def clean_id_sql(column: str) -> str:
    """Upper case, without spaces, hyphens or dots: '11010519491231002x ' -> '...002X'."""
    return f"nullif(upper(regexp_replace(coalesce({column}, ''), '[\\s\\-\\.]', '', 'g')), '')"


def check_character_sql(nid: str) -> str:
    weighted = " + ".join(
        f"(ascii(substr({nid}, {i + 1}, 1)) - 48) * {w}" for i, w in enumerate(_WEIGHTS)
    )
    return f"substr('{_CHECK_CHARS}', (({weighted}) % 11)::INTEGER + 1, 1)"


def parse_date_sql(column: str) -> str:
    text = f"trim({column})"
    return (
        f"coalesce(try_strptime({text}, '%Y-%m-%d'), try_strptime({text}, '%Y%m%d'), "
        f"try_strptime({text}, '%Y/%m/%d'))::DATE"
    )


def validate(
    con: duckdb.DuckDBPyConnection,
    *,
    raw_table: str,
    out_table: str,
    feed_type: FeedType,
    default_source: str,
    today: date,
) -> None:
    """`raw_table` has VARCHAR columns national_id, name, date_of_birth, source_authority,
    event_date, facility and row_number; `out_table` gets the parsed values and a `problem`
    (NULL for a valid row) with its message."""
    spec = FEED_SPECS[feed_type]
    nid = "nid"
    born_in_id = f"try_strptime(substr({nid}, 7, 8), '%Y%m%d')::DATE"
    facility_missing = "facility IS NULL" if spec.facility_required else "false"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {out_table} AS
        WITH parsed AS (
            SELECT row_number,
                   nullif(trim(national_id), '') AS raw_national_id,
                   {clean_id_sql("national_id")} AS nid,
                   nullif(regexp_replace(trim(coalesce(name, '')), '\\s+', ' ', 'g'), '') AS name,
                   nullif(trim(date_of_birth), '') AS dob_text,
                   {parse_date_sql("date_of_birth")} AS date_of_birth,
                   nullif(trim(event_date), '') AS date_text,
                   {parse_date_sql("event_date")} AS event_date,
                   nullif(trim(facility), '') AS facility,
                   coalesce(nullif(trim(source_authority), ''), $source) AS source_authority
            FROM {raw_table}
        ), checked AS (
            SELECT *,
                CASE
                    WHEN date_text IS NULL THEN 'missing_date'
                    WHEN event_date IS NULL THEN 'bad_date'
                    WHEN event_date > $today THEN 'future_date'
                    WHEN dob_text IS NOT NULL AND date_of_birth IS NULL THEN 'bad_date_of_birth'
                    WHEN {facility_missing} THEN 'missing_facility'
                    WHEN {nid} IS NULL AND (name IS NULL OR date_of_birth IS NULL)
                        THEN 'missing_identity'
                    WHEN {nid} IS NULL THEN NULL
                    WHEN NOT regexp_full_match({nid}, '[0-9]{{17}}[0-9X]') THEN 'bad_id_format'
                    WHEN {born_in_id} IS NULL OR year({born_in_id}) < 1880
                        OR {born_in_id} > $today THEN 'bad_id_birth_date'
                    WHEN substr({nid}, 18, 1) <> {check_character_sql(nid)}
                        THEN 'bad_check_character'
                END AS problem
            FROM parsed
        )
        SELECT *,
            CASE problem
                WHEN 'missing_date' THEN 'the {spec.date_column} is empty'
                WHEN 'bad_date' THEN 'the {spec.date_column} ' || date_text
                    || ' is not a date (YYYY-MM-DD)'
                WHEN 'future_date' THEN 'the {spec.date_column} ' || date_text
                    || ' is in the future'
                WHEN 'bad_date_of_birth' THEN 'date_of_birth ' || dob_text || ' is not a date'
                WHEN 'missing_facility' THEN 'the {spec.facility_column} is empty'
                WHEN 'missing_identity' THEN
                    'the row needs a national_id, or a name and date_of_birth'
                WHEN 'bad_id_format' THEN
                    'a resident ID number has 18 characters: 17 digits and a final digit or X'
                WHEN 'bad_id_birth_date' THEN 'characters 7-14 of the ID are not a real birth date'
                WHEN 'bad_check_character' THEN 'the check character is wrong (expected '
                    || {check_character_sql(nid)} || '); the number was mistyped'
            END AS message,
            ({nid} IS NOT NULL AND raw_national_id IS DISTINCT FROM {nid}) AS id_normalised
        FROM checked
        """,
        {"source": default_source, "today": today},
    )
