"""The matching rules as DuckDB SQL over the register and the feeds' records.

Inputs (DuckDB tables): register, open_susp, open_tasks, regions, known_candidates, recs
(records with an ID or name-only), quarantine_named, rules. Outputs: deaths, to_certify,
new_tasks, candidates. Pure decisions: nothing here writes to the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from app.config import Settings
from models.records import FeedType

DEATH_TYPES = (FeedType.death.value, FeedType.cremation.value)


@dataclass(frozen=True)
class RunParams:
    as_of: date
    new_suspension_from: date
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


def decide(con: duckdb.DuckDBPyConnection, p: RunParams) -> None:
    as_of = f"DATE '{p.as_of.isoformat()}'"
    trusted = _in_list(p.trusted_sources)
    deaths_in = _in_list(DEATH_TYPES)
    # --- deaths matched by ID ------------------------------------------------------------
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE death_hits AS
        SELECT r.id AS pensioner_id, d.event_date, d.source_authority, d.feed_type,
               d.batch_id || ':' || d.row_number AS record_key,
               d.source_authority IN ({trusted}) AS trusted
        FROM register r JOIN recs d ON d.national_id = r.national_id
        WHERE d.feed_type IN ({deaths_in}) AND d.event_date <= {as_of}
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE deaths AS
        WITH trusted_deaths AS (
            SELECT pensioner_id, min(event_date) AS date_of_death,
                   list(struct_pack(record := record_key, feed := feed_type,
                                    source := source_authority,
                                    date := strftime(event_date, '%Y-%m-%d'))
                        ORDER BY event_date, record_key) AS records
            FROM death_hits WHERE trusted GROUP BY pensioner_id
        ), later AS (
            SELECT t.pensioner_id, count(*) AS n
            FROM trusted_deaths t JOIN register r ON r.id = t.pensioner_id
            JOIN recs e ON e.national_id = r.national_id
            WHERE e.feed_type NOT IN ({deaths_in}) AND e.event_date > t.date_of_death
            GROUP BY t.pensioner_id
        )
        SELECT t.*, r.region_code, r.monthly_amount_fen,
               s.id AS suspension_id, s.reason AS open_reason,
               coalesce(s.suspended_from, DATE '{p.new_suspension_from.isoformat()}')
                   AS stopped_from,
               coalesce(l.n, 0) AS activity_after_death
        FROM trusted_deaths t JOIN register r ON r.id = t.pensioner_id
        LEFT JOIN open_susp s ON s.pensioner_id = t.pensioner_id
        LEFT JOIN later l ON l.pensioner_id = t.pensioner_id
        WHERE s.reason IS DISTINCT FROM 'death'
        """
    )
    # Every payment after the death that went out before the payment was stopped.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE claims AS
        WITH months AS (
            SELECT d.pensioner_id, d.date_of_death, d.monthly_amount_fen, d.stopped_from,
                   unnest(generate_series(date_trunc('month', d.date_of_death),
                                          date_trunc('month', d.stopped_from),
                                          INTERVAL 1 MONTH))::DATE AS month
            FROM deaths d
        ), paid AS (
            SELECT *, least(month + ({p.payment_day} - 1),
                            last_day(month))::DATE AS pay_date
            FROM months
        )
        SELECT pensioner_id, count(*) AS payments, min(pay_date) AS first_payment_date,
               max(pay_date) AS last_payment_date,
               count(*) * any_value(monthly_amount_fen) AS amount_fen
        FROM paid d
        WHERE pay_date > date_of_death AND pay_date <= {as_of}
          AND month < date_trunc('month', stopped_from)
        GROUP BY pensioner_id
        """
    )
    # --- evidence of life ----------------------------------------------------------------
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE evidence AS
        SELECT r.id AS pensioner_id,
               count(*) FILTER (WHERE ru.tier = 'strong') AS strong,
               count(DISTINCT e.event_date) FILTER (WHERE ru.tier = 'weak') AS weak_days,
               max(e.event_date) AS last_seen,
               list(struct_pack(record := e.batch_id || ':' || e.row_number,
                                feed := e.feed_type, tier := ru.tier,
                                date := strftime(e.event_date, '%Y-%m-%d'))
                    ORDER BY ru.tier, e.event_date DESC, e.batch_id, e.row_number)[1:5]
                   AS records
        FROM register r JOIN recs e ON e.national_id = r.national_id
        JOIN rules ru ON ru.feed_type = e.feed_type
        WHERE e.event_date > {as_of} - ru.days AND e.event_date <= {as_of}
        GROUP BY r.id
        HAVING count(*) FILTER (WHERE ru.tier = 'strong') >= 1
            OR count(DISTINCT e.event_date) FILTER (WHERE ru.tier = 'weak') >= {p.weak_days}
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE to_certify AS
        SELECT r.id AS pensioner_id, r.region_code, r.monthly_amount_fen, r.certified_until,
               ({as_of} + to_months(coalesce(g.period, {p.default_period_months})))::DATE
                   AS valid_until,
               e.strong, e.weak_days, e.last_seen, e.records,
               s.id AS suspension_id, s.suspended_from
        FROM register r JOIN evidence e ON e.pensioner_id = r.id
        LEFT JOIN regions g ON g.code = r.region_code
        LEFT JOIN deaths d ON d.pensioner_id = r.id
        LEFT JOIN open_susp s ON s.pensioner_id = r.id
        WHERE d.pensioner_id IS NULL
          AND (s.pensioner_id IS NULL OR s.reason = 'certification_overdue')
          AND (r.certified_until IS NULL
               OR r.certified_until <= DATE '{p.recertify_until.isoformat()}')
        """
    )
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
                LEFT JOIN deaths d ON d.pensioner_id = r.id
                LEFT JOIN to_certify c ON c.pensioner_id = r.id
                LEFT JOIN open_susp s ON s.pensioner_id = r.id
                LEFT JOIN tasks t ON t.pensioner_id = r.id
                WHERE d.pensioner_id IS NULL AND c.pensioner_id IS NULL
                  AND (s.pensioner_id IS NULL OR s.reason = 'certification_overdue')
                  AND (r.certified_until IS NULL OR r.certified_until < {as_of})
            ), decided AS (
                SELECT id AS pensioner_id, region_code, prompt_since, visits,
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
            """
        )
    else:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE new_tasks (pensioner_id VARCHAR, region_code VARCHAR, "
            "prompt_since DATE, visits BIGINT, kind VARCHAR, reason VARCHAR)"
        )
    # --- candidates: name and date of birth only, or a death from an untrusted source ----
    only = (
        f"AND batch_id IN ({_in_list(p.candidate_batches)})"
        if p.candidate_batches is not None
        else ""
    )
    only_hits = only.replace("batch_id", "split_part(h.record_key, ':', 1)")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE candidates AS
        WITH named AS (
            SELECT batch_id || ':' || row_number AS record_key, feed_type, name,
                   date_of_birth, event_date, source_authority
            FROM recs
            WHERE national_id IS NULL AND name IS NOT NULL AND date_of_birth IS NOT NULL
              AND event_date <= {as_of} {only}
            UNION ALL
            SELECT record_key, feed_type, name, date_of_birth, event_date, source_authority
            FROM quarantine_named WHERE event_date <= {as_of} {only}
        ), pairs AS (
            SELECT n.*, r.id AS pensioner_id, r.region_code, r.certified_until,
                   CASE WHEN {_norm("n.name")} = {_norm("r.name")} THEN 1.0
                        ELSE jaro_winkler_similarity({_norm("n.name")}, {_norm("r.name")})
                   END AS score
            FROM named n JOIN register r ON r.date_of_birth = n.date_of_birth
        ), by_name AS (
            SELECT p.pensioner_id, p.region_code, p.record_key, p.feed_type, p.event_date,
                   p.name AS record_name, p.date_of_birth AS record_dob, p.score,
                   p.source_authority,
                   CASE WHEN p.feed_type IN ({deaths_in}) THEN 'death_by_name'
                        ELSE 'activity_by_name' END AS kind
            FROM pairs p
            LEFT JOIN rules ru ON ru.feed_type = p.feed_type
            LEFT JOIN to_certify c ON c.pensioner_id = p.pensioner_id
            LEFT JOIN open_susp s ON s.pensioner_id = p.pensioner_id
            WHERE p.score >= {p.name_threshold}
              AND s.reason IS DISTINCT FROM 'death'
              AND (p.feed_type IN ({deaths_in})
                   OR (ru.days IS NOT NULL AND p.event_date > {as_of} - ru.days
                       AND c.pensioner_id IS NULL
                       AND (p.certified_until IS NULL
                            OR p.certified_until <= DATE '{p.recertify_until.isoformat()}')))
        ), untrusted AS (
            SELECT h.pensioner_id, r.region_code, h.record_key, h.feed_type, h.event_date,
                   NULL AS record_name, NULL::DATE AS record_dob, 1.0 AS score,
                   h.source_authority, 'death_untrusted' AS kind
            FROM death_hits h JOIN register r ON r.id = h.pensioner_id
            LEFT JOIN deaths d ON d.pensioner_id = h.pensioner_id
            LEFT JOIN open_susp s ON s.pensioner_id = h.pensioner_id
            WHERE NOT h.trusted AND d.pensioner_id IS NULL
              AND s.reason IS DISTINCT FROM 'death' {only_hits}
        )
        SELECT c.* FROM (SELECT * FROM by_name UNION ALL SELECT * FROM untrusted) c
        ANTI JOIN known_candidates k
            ON k.record_key = c.record_key AND k.pensioner_id = c.pensioner_id
        """
    )
