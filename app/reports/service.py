"""Monthly figures per region: recipients, certifications by method, overdue, suspended,
deaths found, overpayment claimed and recovered."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, func, or_, select

from models.certification import Certification, PaymentSuspension, SuspensionReason
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
    prefix = region_prefix or ""
    if not prefix.startswith(staff.region_scope):
        prefix = staff.region_scope if staff.region_scope.startswith(prefix) else "\x00"

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
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(RegionMonth.model_fields))
    writer.writeheader()
    for r in rows:
        writer.writerow(r.model_dump())
    return out.getvalue()
