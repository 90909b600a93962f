"""A matching run: load the register and the records into DuckDB (load.py), decide
(engine.py), and write the outcomes through the domains' state changes (write.py):
certifications, death suspensions with their claims, resumptions, tasks, candidates."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session, col, select

from app.audit.service import Actor
from app.config import Settings
from app.errors import OutOfScope
from app.feeds import store
from app.kit import audited, scope
from app.kit.pages import Page, paginate
from app.matching import bulk, engine, load, write
from app.matching.errors import MatchingRunNotFound
from models.matching import MatchingRun, RunKind
from models.staff import StaffUser

_SCOPE = re.compile(r"^\d{0,6}$")


def _params(
    settings: Settings, as_of: date, make_tasks: bool, batches: tuple[str, ...] | None
) -> engine.RunParams:
    return engine.RunParams(
        as_of=as_of,
        payment_day=settings.payment_day,
        trusted_sources=tuple(settings.trusted_death_sources),
        weak_days=settings.weak_evidence_days,
        recertify_until=as_of + timedelta(days=settings.recertify_within_days),
        name_threshold=settings.name_match_threshold,
        default_period_months=settings.certification_period_months,
        make_tasks=make_tasks,
        candidate_batches=batches,
    )


class _Clock:
    """Wall time per step, kept in the run's timings."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self.mark = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(self.timings.get(name, 0.0) + now - self.mark, 3)
        self.mark = now


def run(
    *,
    session: Session,
    settings: Settings,
    actor: Actor,
    kind: RunKind,
    as_of: date | None = None,
    region_scope: str = "",
    batch_ids: list[uuid.UUID] | None = None,
    one_by_one: bool = False,
) -> MatchingRun:
    """Decide for every recipient in scope (or, incrementally, those the batches concern).

    All writes happen in the session's transaction: the caller's commit makes the whole run
    visible at once, a failure anywhere leaves the database as it was (see bulk.py).
    `one_by_one` applies the decisions with the single forms of the state changes (see
    write.py): the same outcome, for tests and tiny runs."""
    if not _SCOPE.match(region_scope):
        raise OutOfScope("A region scope is a prefix of a 6-digit region code.")
    as_of = as_of or date.today()
    started = time.perf_counter()
    matching_run = MatchingRun(
        kind=kind,
        as_of=as_of,
        region_scope=region_scope,
        started_by_type=actor.type,
        started_by_id=actor.id,
    )
    session.add(matching_run)
    session.flush()
    timings: dict[str, float] = {}
    clock = _Clock(timings)
    con = store.open_duckdb(settings)
    try:
        with bulk.tuned_for_bulk(session):
            counts = load.load(
                session,
                con,
                settings,
                as_of=as_of,
                scope=region_scope,
                batch_ids=batch_ids,
                lap=clock.lap,
            )
            timings["load_s"] = round(time.perf_counter() - started, 3)
            engine.load_rules(con, settings)
            params = _params(
                settings,
                as_of,
                make_tasks=kind is not RunKind.incremental,
                batches=tuple(b.hex for b in batch_ids) if batch_ids is not None else None,
            )
            mark = time.perf_counter()
            engine.decide(con, params, timings)
            timings["decide_s"] = round(time.perf_counter() - mark, 3)
            clock.mark = time.perf_counter()
            mark = time.perf_counter()
            counts.update(
                write.write(
                    session,
                    con,
                    settings,
                    run_id=matching_run.id,
                    params=params,
                    lap=clock.lap,
                    one_by_one=one_by_one,
                )
            )
            timings["write_s"] = round(time.perf_counter() - mark, 3)
    finally:
        con.close()
    session.expire_all()
    matching_run = session.get(MatchingRun, matching_run.id) or matching_run
    timings["total_s"] = round(time.perf_counter() - started, 3)
    matching_run.counts = counts
    matching_run.timings = timings
    matching_run.finished_at = datetime.now(UTC)
    audited.write(
        session=session,
        actor=actor,
        rows=[matching_run],
        action="matching.run",
        entity_type="matching_run",
        entity_id=matching_run.id,
        after={
            "kind": kind.value,
            "as_of": as_of.isoformat(),
            "region_scope": region_scope,
            **counts,
        },
    )
    return matching_run


def requested_scope(*, staff: StaffUser, region_scope: str | None) -> str:
    """The scope of a run a staff member starts: their own by default, or one within it."""
    wanted = staff.region_scope if region_scope is None else region_scope
    if not staff.covers_region(wanted):
        raise OutOfScope(f"Region scope {wanted or '(national)'} is outside yours.")
    return wanted


def get_run(*, session: Session, staff: StaffUser, run_id: uuid.UUID) -> MatchingRun:
    found = session.get(MatchingRun, run_id)
    if found is None or not staff.covers_region(found.region_scope):
        raise MatchingRunNotFound()
    return found


def list_runs(*, session: Session, staff: StaffUser, limit: int, offset: int) -> Page[MatchingRun]:
    query = scope.within(select(MatchingRun), MatchingRun.region_scope, staff)
    query = query.order_by(col(MatchingRun.started_at).desc())
    return paginate(session=session, query=query, limit=limit, offset=offset)
