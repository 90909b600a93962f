"""Monthly figures per region: recipients, certifications by method, overdue, suspended,
deaths found, overpayment claimed and recovered."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlmodel import Session, col, func, or_, select

from app import csv_export
from app.certifications.service import add_months
from models.certification import (
    Certification,
    CertificationMethod,
    PaymentSuspension,
    SuspensionReason,
)
from models.overpayment import OverpaymentClaim, RecoveryEvent
from models.pensioner import BenefitStatus, Pensioner
from models.region import Region
from models.staff import StaffUser

VISIT_METHODS = {"community_visit", "home_visit"}


class RegionMonth(BaseModel):
    region_code: str
    region_name: str
    month: str
    recipients: int = 0
    certified_data_comparison: int = 0
    certified_remote_self_service: int = 0
    certified_video_call: int = 0
    certified_visit: int = 0
    certified_other: int = 0
    overdue: int = 0
    suspended: int = 0
    deaths_found: int = 0
    overpayment_claimed_fen: int = 0
    overpayment_recovered_fen: int = 0


def _bounds(month: date) -> tuple[datetime, datetime, date]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    nxt = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return start, datetime(nxt.year, nxt.month, 1, tzinfo=UTC), nxt


def scoped_prefix(*, staff: StaffUser, region_prefix: str | None) -> str | None:
    """The asked-for region prefix narrowed to the staff member's scope; None if outside it."""
    prefix = region_prefix or ""
    if prefix.startswith(staff.region_scope):
        return prefix
    return staff.region_scope if staff.region_scope.startswith(prefix) else None


def monthly(
    *,
    session: Session,
    staff: StaffUser,
    month: date,
    region_prefix: str | None,
    today: date | None = None,
) -> list[RegionMonth]:
    start, end, next_month = _bounds(month)
    today = today or date.today()
    # Overdue as of the end of the month (or today, for the current month).
    cutoff = min(next_month, today)
    prefix = scoped_prefix(staff=staff, region_prefix=region_prefix)
    if prefix is None:
        return []

    def scoped(column: Any) -> Any:
        return col(column).startswith(prefix)

    rows: dict[str, RegionMonth] = {}
    names = dict(session.exec(select(Region.code, Region.name).where(scoped(Region.code))).all())

    def row(code: str) -> RegionMonth:
        if code not in rows:
            rows[code] = RegionMonth(
                region_code=code, region_name=names.get(code, ""), month=f"{month:%Y-%m}"
            )
        return rows[code]

    active = col(Pensioner.benefit_status) != BenefitStatus.terminated
    for code, n in session.exec(
        select(Pensioner.region_code, func.count())
        .where(scoped(Pensioner.region_code), active)
        .group_by(Pensioner.region_code)
    ).all():
        row(code).recipients = n
    for code, n in session.exec(
        select(Pensioner.region_code, func.count())
        .where(
            scoped(Pensioner.region_code),
            Pensioner.benefit_status == BenefitStatus.active,
            or_(
                col(Pensioner.certified_until).is_(None),
                col(Pensioner.certified_until) < cutoff,
            ),
        )
        .group_by(Pensioner.region_code)
    ).all():
        row(code).overdue = n
    for code, n in session.exec(
        select(Pensioner.region_code, func.count())
        .where(scoped(Pensioner.region_code), Pensioner.benefit_status == BenefitStatus.suspended)
        .group_by(Pensioner.region_code)
    ).all():
        row(code).suspended = n
    by_method: dict[str, dict[str, int]] = defaultdict(dict)
    for code, method, n in session.exec(
        select(Pensioner.region_code, Certification.method, func.count())
        .select_from(Certification)
        .join(Pensioner, col(Pensioner.id) == col(Certification.pensioner_id))
        .where(
            scoped(Pensioner.region_code),
            col(Certification.certified_at) >= start,
            col(Certification.certified_at) < end,
        )
        .group_by(Pensioner.region_code, Certification.method)
    ).all():
        by_method[code][str(getattr(method, "value", method))] = n
    for code, methods in by_method.items():
        r = row(code)
        for method, n in methods.items():
            if method in VISIT_METHODS:
                r.certified_visit += n
            elif method in ("data_comparison", "remote_self_service", "video_call"):
                setattr(r, f"certified_{method}", getattr(r, f"certified_{method}") + n)
            else:
                r.certified_other += n
    for code, n in session.exec(
        select(Pensioner.region_code, func.count())
        .select_from(PaymentSuspension)
        .join(Pensioner, col(Pensioner.id) == col(PaymentSuspension.pensioner_id))
        .where(
            scoped(Pensioner.region_code),
            PaymentSuspension.reason == SuspensionReason.death,
            col(PaymentSuspension.created_at) >= start,
            col(PaymentSuspension.created_at) < end,
        )
        .group_by(Pensioner.region_code)
    ).all():
        row(code).deaths_found = n
    for code, total in session.exec(
        select(OverpaymentClaim.region_code, func.sum(OverpaymentClaim.amount_fen))
        .where(
            scoped(OverpaymentClaim.region_code),
            col(OverpaymentClaim.created_at) >= start,
            col(OverpaymentClaim.created_at) < end,
        )
        .group_by(OverpaymentClaim.region_code)
    ).all():
        row(code).overpayment_claimed_fen = int(total or 0)
    for code, total in session.exec(
        select(OverpaymentClaim.region_code, func.sum(RecoveryEvent.amount_fen))
        .select_from(RecoveryEvent)
        .join(OverpaymentClaim, col(OverpaymentClaim.id) == col(RecoveryEvent.claim_id))
        .where(
            scoped(OverpaymentClaim.region_code),
            col(RecoveryEvent.occurred_at) >= start,
            col(RecoveryEvent.occurred_at) < end,
        )
        .group_by(OverpaymentClaim.region_code)
    ).all():
        row(code).overpayment_recovered_fen = int(total or 0)
    return [rows[k] for k in sorted(rows)]


def to_csv(rows: list[RegionMonth]) -> str:
    return csv_export.to_csv(list(RegionMonth.model_fields), (r.model_dump() for r in rows))


class MonthMethods(BaseModel):
    month: str
    by_method: dict[str, int]


class Dashboard(BaseModel):
    region_code: str = Field(description="The region prefix shown ('' for the whole country)")
    as_of: date
    by_status: dict[str, int] = Field(
        description="Recipients by certification status: certified, due_soon, overdue, "
        "never_certified (active benefit), suspended, terminated"
    )
    by_method: dict[str, int] = Field(description="Certifications of the last 12 months by method")
    months: list[MonthMethods] = Field(description="The last 12 months, oldest first")
    remote_attempts: list[RemoteAttemptOutcomes] = Field(
        default_factory=list,
        description="Remote self-certification attempts decided in the last 12 months, per "
        "month, region and age band: how many were certified automatically, sent to review or "
        "refused outright (asked to retry are counted apart)",
    )


class RemoteAttemptOutcomes(BaseModel):
    month: str
    region_code: str
    age_band: str
    decided: int = Field(description="auto_certified + reviewed + refused")
    auto_certified: int
    reviewed: int
    refused: int
    retry: int
    auto_certified_share: float | None
    reviewed_share: float | None
    refused_share: float | None


def remote_attempt_outcomes(
    *, session: Session, in_scope: Any, since: datetime
) -> list[RemoteAttemptOutcomes]:
    """Where remote certification works by itself and where it waits for people.

    An attempt that reached a review case counts as reviewed whatever the reviewer decided.
    """
    from app.faces.calibration import age_band
    from models.attempt import AttemptStatus, CertificationAttempt, ReviewCase

    rows = session.execute(
        sa.select(
            col(Pensioner.region_code),
            col(Pensioner.date_of_birth),
            col(CertificationAttempt.decided_at),
            col(CertificationAttempt.status),
            col(ReviewCase.id),
        )
        .select_from(CertificationAttempt)
        .join(Pensioner, col(Pensioner.id) == col(CertificationAttempt.pensioner_id))
        .join(
            ReviewCase,
            col(ReviewCase.attempt_id) == col(CertificationAttempt.id),
            isouter=True,
        )
        .where(in_scope, col(CertificationAttempt.decided_at) >= since)
    ).all()
    counts: dict[tuple[str, str, str], dict[str, int]] = {}
    for region, born, decided_at, status, case_id in rows:
        if decided_at is None:
            continue
        key = (f"{decided_at:%Y-%m}", region, age_band(born, today=decided_at.date()))
        bucket = counts.setdefault(
            key, {"auto_certified": 0, "reviewed": 0, "refused": 0, "retry": 0}
        )
        value = str(getattr(status, "value", status))
        if case_id is not None:
            bucket["reviewed"] += 1
        elif value == AttemptStatus.certified.value:
            bucket["auto_certified"] += 1
        elif value == AttemptStatus.rejected.value:
            bucket["refused"] += 1
        elif value == AttemptStatus.retry.value:
            bucket["retry"] += 1
    out = []
    for (month, region, band), c in sorted(counts.items()):
        decided = c["auto_certified"] + c["reviewed"] + c["refused"]

        def share(n: int, total: int = decided) -> float | None:
            return round(n / total, 4) if total else None

        out.append(
            RemoteAttemptOutcomes(
                month=month,
                region_code=region,
                age_band=band,
                decided=decided,
                auto_certified_share=share(c["auto_certified"]),
                reviewed_share=share(c["reviewed"]),
                refused_share=share(c["refused"]),
                **c,
            )
        )
    return out


def dashboard(
    *,
    session: Session,
    staff: StaffUser,
    region_prefix: str | None,
    today: date,
    due_soon_days: int = 30,
) -> Dashboard:
    """Counts for the region dashboard: status now, and certifications by method per month."""
    prefix = scoped_prefix(staff=staff, region_prefix=region_prefix)
    # Outside the reader's scope nothing is counted (a false condition keeps one code path).
    in_scope = col(Pensioner.region_code).startswith(prefix) if prefix is not None else sa.false()
    by_status = dict.fromkeys(
        ("certified", "due_soon", "overdue", "never_certified", "suspended", "terminated"), 0
    )
    for benefit, n in session.exec(
        select(Pensioner.benefit_status, func.count())
        .where(in_scope, Pensioner.benefit_status != BenefitStatus.active)
        .group_by(Pensioner.benefit_status)
    ).all():
        by_status[str(getattr(benefit, "value", benefit))] = n
    until = col(Pensioner.certified_until)
    bands = {
        "never_certified": until.is_(None),
        "overdue": until < today,
        "due_soon": (until >= today) & (until <= today + timedelta(days=due_soon_days)),
        "certified": until > today + timedelta(days=due_soon_days),
    }
    for name, condition in bands.items():
        by_status[name] = session.exec(
            select(func.count())
            .select_from(Pensioner)
            .where(in_scope, Pensioner.benefit_status == BenefitStatus.active, condition)
        ).one()
    first = add_months(today.replace(day=1), -11)
    months = []
    totals = dict.fromkeys((m.value for m in CertificationMethod), 0)
    for i in range(12):
        start_day = add_months(first, i)
        start, end, _ = _bounds(start_day)
        counts = dict.fromkeys((m.value for m in CertificationMethod), 0)
        for method, n in session.exec(
            select(Certification.method, func.count())
            .select_from(Certification)
            .join(Pensioner, col(Pensioner.id) == col(Certification.pensioner_id))
            .where(
                in_scope,
                col(Certification.certified_at) >= start,
                col(Certification.certified_at) < end,
            )
            .group_by(Certification.method)
        ).all():
            key = str(getattr(method, "value", method))
            counts[key] = n
            totals[key] += n
        months.append(MonthMethods(month=f"{start_day:%Y-%m}", by_method=counts))
    since, _, _ = _bounds(first)
    return Dashboard(
        region_code=prefix if prefix is not None else region_prefix or "",
        as_of=today,
        by_status=by_status,
        by_method=totals,
        months=months,
        remote_attempts=remote_attempt_outcomes(session=session, in_scope=in_scope, since=since),
    )
