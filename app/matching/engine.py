"""The matching rules as DuckDB SQL over the register and the feeds' records.

Inputs (DuckDB tables and views): register (rn: a small row key), open_susp, open_tasks,
regions, known_candidates, batches (bkey, batch_id, feed_type, tier, days), acts (recent
activity records with an ID, usually a view over the batches' Parquet files), death_recs,
named (records without an ID) and quarantine_named. Outputs: deaths, to_certify, new_tasks,
candidates; what follows from them (a death's claim, a resumption's back-pay) is the domain
services' part. Pure decisions: nothing here writes to the database.

Everything inside is keyed by `rn`, an integer, not by the 32-character pensioner id: at ten
million recipients that halves the memory of the joins and aggregates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

import duckdb

from app.certifications.service import valid_until_sql
from app.config import Settings
from models.records import FeedType

DEATH_TYPES = (FeedType.death.value, FeedType.cremation.value)
# Records of a certification's evidence kept in it: enough to show why (one strong record
# or two days of weak ones meets a rule), not every record: at millions of certifications
# each record kept costs about 100 bytes per row to write.
EVIDENCE_RECORDS = 3


@dataclass(frozen=True)
class RunParams:
    as_of: date
    payment_day: int
    trusted_sources: tuple[str, ...]
    weak_days: int
    recertify_until: date
    name_threshold: float
    default_period_months: int
    make_tasks: bool
    candidate_batches: tuple[str, ...] | None  # incremental: only these batches' records


def _in_list(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values) or "NULL"


def _norm(expr: str) -> str:
    return f"lower(regexp_replace(coalesce({expr}, ''), '[\\s·・.\\-]', '', 'g'))"


def load_rules(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE rules (feed_type VARCHAR, tier VARCHAR, days INT)")
    rows = [(k, r.tier.value, r.window_days) for k, r in settings.evidence_rules.items()]
    if rows:
        con.executemany("INSERT INTO rules VALUES (?, ?, ?)", rows)


def decide(
    con: duckdb.DuckDBPyConnection, p: RunParams, timings: dict[str, float] | None = None
) -> None:
    """Fill the output tables; `timings` gets the seconds of each step."""
    mark = [time.perf_counter()]

    def lap(step: str) -> None:
        now = time.perf_counter()
        if timings is not None:
            timings[f"decide_{step}_s"] = round(now - mark[0], 3)
        mark[0] = now

    as_of = f"DATE '{p.as_of.isoformat()}'"
    recertify_until = f"DATE '{p.recertify_until.isoformat()}'"
    trusted = _in_list(p.trusted_sources)
    deaths_in = _in_list(DEATH_TYPES)
    # --- deaths matched by ID ------------------------------------------------------------
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE death_hits AS
        SELECT r.rn, d.event_date, d.source_authority, d.feed_type, d.bkey, d.row_number,
               d.source_authority IN ({trusted}) AS trusted
        FROM register r JOIN death_recs d ON d.national_id = r.national_id
        WHERE d.event_date <= {as_of}
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE deaths AS
        WITH trusted_deaths AS (
            SELECT h.rn, min(h.event_date) AS date_of_death,
                   list(struct_pack(record := b.batch_id || ':' || h.row_number,
                                    feed := h.feed_type, source := h.source_authority,
                                    date := strftime(h.event_date, '%Y-%m-%d'))
                        ORDER BY h.event_date, b.batch_id, h.row_number) AS records
            FROM death_hits h JOIN batches b ON b.bkey = h.bkey
            WHERE h.trusted GROUP BY h.rn
        ), later AS (
            SELECT t.rn, count(*) AS n
            FROM trusted_deaths t JOIN register r ON r.rn = t.rn
            JOIN acts e ON e.national_id = r.national_id
            WHERE e.event_date > t.date_of_death
            GROUP BY t.rn
        )
        SELECT t.*, r.id AS pensioner_id, r.region_code, r.benefit_status,
               r.monthly_amount_fen, s.id AS suspension_id, s.reason AS open_reason,
               s.suspended_from, coalesce(l.n, 0) AS activity_after_death
        FROM trusted_deaths t JOIN register r ON r.rn = t.rn
        LEFT JOIN open_susp s ON s.pensioner_id = r.id
        LEFT JOIN later l ON l.rn = t.rn
        WHERE s.reason IS DISTINCT FROM 'death'
        """
    )
    lap("deaths")
    # --- evidence of life, for those due ---------------------------------------------------
    # Each recent record of a due pensioner as one BIGINT whose order is the order its
    # evidence is shown in (strong first, newest first, then batch and row): tier bit 62, days
    # before as_of (< 1024: windows are at most 730 days) from bit 52, batch key from bit 32,
    # row number below. Counting days and keeping five records then costs integers only.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE hits AS
        SELECT r.rn, e.event_date,
               ((CASE WHEN b.tier = 'weak' THEN 1 ELSE 0 END)::BIGINT << 62)
               | (({as_of} - e.event_date)::BIGINT << 52) | (e.bkey::BIGINT << 32)
               | (e.row_number & 4294967295) AS record
        FROM acts e
        JOIN register r ON r.national_id = e.national_id
        JOIN batches b ON b.bkey = e.bkey
        WHERE b.days IS NOT NULL AND e.event_date > {as_of} - b.days
          AND e.event_date <= {as_of}
          AND (r.certified_until IS NULL OR r.certified_until <= {recertify_until})
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE evidence AS
        WITH days AS (
            SELECT rn, event_date, record >> 62 AS weak, count(*) AS n
            FROM hits GROUP BY rn, event_date, record >> 62
        )
        SELECT rn, coalesce(sum(n) FILTER (WHERE weak = 0), 0) AS strong,
               count(*) FILTER (WHERE weak = 1) AS weak_days, max(event_date) AS last_seen
        FROM days GROUP BY rn
        HAVING coalesce(sum(n) FILTER (WHERE weak = 0), 0) >= 1
            OR count(*) FILTER (WHERE weak = 1) >= {p.weak_days}
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE to_certify AS
        SELECT r.rn, r.id AS pensioner_id, r.region_code, r.monthly_amount_fen,
               r.certified_until,
               {valid_until_sql(as_of, f"coalesce(g.period, {p.default_period_months})")}
                   AS valid_until,
               e.strong, e.weak_days, e.last_seen,
               s.id AS suspension_id, s.reason AS open_reason, s.suspended_from
        FROM register r JOIN evidence e ON e.rn = r.rn
        LEFT JOIN regions g ON g.code = r.region_code
        LEFT JOIN deaths d ON d.rn = r.rn
        LEFT JOIN open_susp s ON s.pensioner_id = r.id
        WHERE d.rn IS NULL
          AND (s.pensioner_id IS NULL OR s.reason = 'certification_overdue')
        ORDER BY r.id
        """
    )
    lap("evidence")
    # The records a certification shows, for those certified only.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE shown AS
        SELECT h.rn, min(h.record, {EVIDENCE_RECORDS}) AS records
        FROM hits h SEMI JOIN to_certify c ON c.rn = h.rn
        GROUP BY h.rn
        """
    )
    lap("shown")
    # --- overdue without evidence: verification tasks ------------------------------------
    if p.make_tasks:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE new_tasks AS
            WITH tasks AS (
                SELECT pensioner_id,
                       min(due_date) FILTER (WHERE kind = 'remote_prompt') AS prompt_since,
                       count(*) FILTER (WHERE kind <> 'remote_prompt') AS visits
                FROM open_tasks GROUP BY pensioner_id
            ), overdue AS (
                SELECT r.*, t.prompt_since, coalesce(t.visits, 0) AS visits
                FROM register r
                LEFT JOIN tasks t ON t.pensioner_id = r.id
                WHERE (r.certified_until IS NULL OR r.certified_until < {as_of})
                  AND r.rn NOT IN (SELECT rn FROM deaths)
                  AND r.rn NOT IN (SELECT rn FROM to_certify)
                  AND r.id NOT IN (SELECT pensioner_id FROM open_susp
                                   WHERE reason <> 'certification_overdue')
            ), decided AS (
                SELECT rn, id AS pensioner_id, region_code, prompt_since, visits,
                    CASE
                        WHEN mobility_limited THEN 'home_visit'
                        WHEN residence = 'overseas' THEN 'remote_prompt'
                        WHEN prompt_since IS NOT NULL
                             AND prompt_since < {as_of}
                            THEN 'community_visit'
                        ELSE 'remote_prompt'
                    END AS kind,
                    CASE WHEN certified_until IS NULL THEN 'never_certified'
                         ELSE 'overdue_no_evidence' END AS reason
                FROM overdue
            )
            SELECT * FROM decided
            WHERE visits = 0 AND NOT (kind = 'remote_prompt' AND prompt_since IS NOT NULL)
            ORDER BY pensioner_id
            """
        )
    else:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE new_tasks (rn INTEGER, pensioner_id VARCHAR, "
            "region_code VARCHAR, prompt_since DATE, visits BIGINT, kind VARCHAR, "
            "reason VARCHAR)"
        )
    lap("tasks")
    # --- candidates: name and date of birth only, or a death from an untrusted source ----
    only = (
        f"AND batch_id IN ({_in_list(p.candidate_batches)})"
        if p.candidate_batches is not None
        else ""
    )
    # Names are normalised once per record and once per register row of a date of birth
    # that occurs, not once per pair; activity outside its rule's window is dropped first.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE named_n AS
        WITH named_all AS (
            SELECT b.batch_id || ':' || n.row_number AS record_key, b.batch_id, b.feed_type,
                   n.name, n.date_of_birth, n.event_date, n.source_authority
            FROM named n JOIN batches b ON b.bkey = n.bkey
            UNION ALL
            SELECT record_key, batch_id, feed_type, name, date_of_birth, event_date,
                   source_authority
            FROM quarantine_named
        )
        SELECT n.*, {_norm("n.name")} AS norm_name, ru.days
        FROM named_all n LEFT JOIN rules ru ON ru.feed_type = n.feed_type
        WHERE n.event_date <= {as_of} AND n.name IS NOT NULL AND n.date_of_birth IS NOT NULL
          AND (n.feed_type IN ({deaths_in})
               OR (ru.days IS NOT NULL AND n.event_date > {as_of} - ru.days)) {only}
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE candidates AS
        WITH reg AS (
            SELECT rn, id, region_code, certified_until, date_of_birth,
                   {_norm("name")} AS norm_name
            FROM register WHERE date_of_birth IN (SELECT date_of_birth FROM named_n)
        ), pairs AS (
            SELECT n.*, r.rn, r.id AS pensioner_id, r.region_code, r.certified_until,
                   CASE WHEN n.norm_name = r.norm_name THEN 1.0
                        ELSE jaro_winkler_similarity(n.norm_name, r.norm_name)
                   END AS score
            FROM named_n n JOIN reg r ON r.date_of_birth = n.date_of_birth
        ), by_name AS (
            SELECT p.pensioner_id, p.region_code, p.record_key, p.feed_type, p.event_date,
                   p.name AS record_name, p.date_of_birth AS record_dob, p.score,
                   p.source_authority,
                   CASE WHEN p.feed_type IN ({deaths_in}) THEN 'death_by_name'
                        ELSE 'activity_by_name' END AS kind
            FROM pairs p
            LEFT JOIN to_certify c ON c.rn = p.rn
            LEFT JOIN open_susp s ON s.pensioner_id = p.pensioner_id
            WHERE p.score >= {p.name_threshold}
              AND s.reason IS DISTINCT FROM 'death'
              AND (p.feed_type IN ({deaths_in})
                   OR (c.rn IS NULL
                       AND (p.certified_until IS NULL
                            OR p.certified_until <= {recertify_until})))
        ), untrusted AS (
            SELECT r.id AS pensioner_id, r.region_code,
                   b.batch_id || ':' || h.row_number AS record_key, h.feed_type, h.event_date,
                   NULL AS record_name, NULL::DATE AS record_dob, 1.0 AS score,
                   h.source_authority, 'death_untrusted' AS kind
            FROM death_hits h JOIN register r ON r.rn = h.rn
            JOIN batches b ON b.bkey = h.bkey
            LEFT JOIN deaths d ON d.rn = h.rn
            LEFT JOIN open_susp s ON s.pensioner_id = r.id
            WHERE NOT h.trusted AND d.rn IS NULL
              AND s.reason IS DISTINCT FROM 'death' {only.replace("batch_id", "b.batch_id")}
        )
        SELECT c.* FROM (SELECT * FROM by_name UNION ALL SELECT * FROM untrusted) c
        ANTI JOIN known_candidates k
            ON k.record_key = c.record_key AND k.pensioner_id = c.pensioner_id
        """
    )
    lap("candidates")
