"""Recording a certification by any method, and the certification status of a pensioner."""

from __future__ import annotations

import calendar
import enum
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.service import Actor
from app.payments import service as payments
from models.certification import Certification, CertificationMethod, SuspensionReason
from models.pensioner import Pensioner
from models.region import Region


class CertificationStatus(enum.StrEnum):
    certified = "certified"
    due_soon = "due_soon"
    overdue = "overdue"
    never_certified = "never_certified"


def add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


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
) -> Certification:
    """Record that the pensioner is alive and entitled; valid for the region's period.

    A payment suspended only because certification was overdue resumes, with back-pay.
    """
    when = certified_at or datetime.now(UTC)
    months = period_months(session=session, pensioner=pensioner, default=default_period_months)
    certification = Certification(
        pensioner_id=pensioner.id,
        method=method,
        certified_at=when,
        valid_until=add_months(when.date(), months),
        evidence=evidence,
        decided_by_type=actor.type,
        decided_by_id=actor.id,
        operated_by=operated_by,
    )
    before = pensioner.certified_until
    if pensioner.certified_until is None or certification.valid_until > pensioner.certified_until:
        pensioner.certified_until = certification.valid_until
    session.add_all([certification, pensioner])
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="certification.record",
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
            resumed_on=when.date(),
            reason=f"certified by {method.value}",
            actor=actor,
        )
    return certification


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
