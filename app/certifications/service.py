"""Recording a certification by any method, one pensioner at a time (`certify`) or a DuckDB
table of them at once (`certify_many`, the matching run), and a pensioner's certification
status."""

from __future__ import annotations

import calendar
import enum
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from app.audit.service import Actor
from app.kit import audited
from app.matching.bulk import Writer, literal
from app.payments import service as payments
from models.certification import Certification, CertificationMethod, SuspensionReason
from models.pensioner import Pensioner
from models.region import Region

RECORD = "certification.record"
# certify_many's audit: a listing naming every certification (see audit.record_listing).
RECORD_MANY = "certification.record_many"


class CertificationStatus(enum.StrEnum):
    certified = "certified"
    due_soon = "due_soon"
    overdue = "overdue"
    never_certified = "never_certified"


def add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def valid_until_sql(day: str, months: str) -> str:
    """add_months as DuckDB SQL (which also keeps the day, or the month's last one)."""
    return f"({day} + to_months({months}))::DATE"


def resume_reason(method: CertificationMethod) -> str:
    return f"certified by {method.value}"


def period_months(*, session: Session, pensioner: Pensioner, default: int) -> int:
    region = session.get(Region, pensioner.region_code)
    return (region.certification_period_months if region else None) or default


def status(pensioner: Pensioner, *, today: date, due_soon_days: int = 30) -> CertificationStatus:
    if pensioner.certified_until is None:
        return CertificationStatus.never_certified
    if pensioner.certified_until < today:
        return CertificationStatus.overdue
    if pensioner.certified_until <= today + timedelta(days=due_soon_days):
        return CertificationStatus.due_soon
    return CertificationStatus.certified


def certify(
    *,
    session: Session,
    pensioner: Pensioner,
    method: CertificationMethod,
    evidence: dict[str, Any],
    actor: Actor,
    default_period_months: int,
    certified_at: datetime | None = None,
    operated_by: str | None = None,
    valid_from: date | None = None,
) -> Certification:
    """Record that the pensioner is alive and entitled; valid for the region's period from
    `valid_from` (by default the day certified).

    A payment suspended only because certification was overdue resumes, with back-pay.
    """
    when = certified_at or datetime.now(UTC)
    start = valid_from or when.date()
    months = period_months(session=session, pensioner=pensioner, default=default_period_months)
    certification = Certification(
        pensioner_id=pensioner.id,
        method=method,
        certified_at=when,
        valid_until=add_months(start, months),
        evidence=evidence,
        decided_by_type=actor.type,
        decided_by_id=actor.id,
        operated_by=operated_by,
    )
    before = pensioner.certified_until
    if pensioner.certified_until is None or certification.valid_until > pensioner.certified_until:
        pensioner.certified_until = certification.valid_until
    audited.write(
        session=session,
        actor=actor,
        rows=[certification, pensioner],
        action=RECORD,
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        before={"certified_until": before.isoformat() if before else None},
        after={
            "certification_id": str(certification.id),
            "method": method.value,
            "certified_until": pensioner.certified_until.isoformat()
            if pensioner.certified_until
            else None,
            "operated_by": operated_by,
            "evidence": evidence,
        },
    )
    suspension = payments.open_suspension(session=session, pensioner=pensioner)
    if suspension is not None and suspension.reason is SuspensionReason.certification_overdue:
        payments.resume(
            session=session,
            pensioner=pensioner,
            resumed_on=start,
            reason=resume_reason(method),
            actor=actor,
        )
    return certification


def certify_many(
    w: Writer,
    *,
    rows: str,
    method: CertificationMethod,
    actor: Actor,
    valid_from: date,
    run_id: uuid.UUID,
) -> tuple[int, int]:
    """`certify` for every row of the DuckDB table or view `rows`, with the same rows:
    columns pensioner_id, rn, pos (the order of the new ids), region_code, certified_until
    (the pensioner's, before), valid_until (valid_until_sql from `valid_from` and the region's
    period), evidence (JSON text), monthly_amount_fen, and suspension_id, open_reason,
    suspended_from of the open suspension if any. An open suspension for overdue
    certification resumes (payments.resume_many). Returns (certified, resumed).

    The audit: instead of a `certification.record` event per pensioner (millions in a run),
    a listing of `certification.record_many` events of the run naming, for every pensioner,
    the certification and certified_until before and after (evidence: in the row)."""
    certification_id = w.new_id("pos")
    certified = w.insert(
        "certification",
        ["id", "pensioner_id", "valid_until", "evidence"],
        f"SELECT {certification_id}, pensioner_id, strftime(valid_until, '%Y-%m-%d'), "
        f"evidence FROM {rows} ORDER BY pos",
        constants={
            "method": literal(method.value),
            "certified_at": f"'{w.now}'",
            **w.made_by(actor, by="decided_by"),
        },
    )
    later = "(certified_until IS NULL OR certified_until < valid_until)"
    # Certified until: one UPDATE per date (a handful: one per region period) and chunk.
    for (until,) in w.con.execute(
        f"SELECT DISTINCT strftime(valid_until, '%Y-%m-%d') FROM {rows} ORDER BY 1"
    ).fetchall():
        w.set_pensioners(
            f"certified_until = '{until}'",
            rows,
            f"strftime(valid_until, '%Y-%m-%d') = '{until}' AND {later}",
        )
    resumed = payments.resume_many(
        w,
        rows=f"(SELECT * FROM {rows} WHERE suspension_id IS NOT NULL "
        f"AND open_reason = '{SuspensionReason.certification_overdue.value}')",
        resumed_on=valid_from,
        reason=resume_reason(method),
        actor=actor,
    )
    w.record_listing(
        actor,
        RECORD_MANY,
        run_id,
        {
            "pensioner_id": "pensioner_id",
            "region_code": "region_code",
            "certification_id": certification_id,
            "before": "strftime(certified_until, '%Y-%m-%d')",
            "after": f"strftime(CASE WHEN {later} THEN valid_until ELSE certified_until END, "
            "'%Y-%m-%d')",
        },
        rows=rows,
        position="pos",
        total=certified,
        after={"method": method.value, "valid_from": valid_from.isoformat()},
    )
    return certified, resumed


def history(*, session: Session, pensioner_id: uuid.UUID, limit: int) -> list[Certification]:
    """A pensioner's certifications, newest first."""
    return list(
        session.exec(
            select(Certification)
            .where(Certification.pensioner_id == pensioner_id)
            .order_by(col(Certification.certified_at).desc())
            .limit(limit)
        ).all()
    )
