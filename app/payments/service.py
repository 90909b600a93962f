"""Suspending a pensioner's payment and resuming it with the back-pay owed."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.service import Actor
from models.certification import PaymentSuspension, SuspensionReason
from models.pensioner import BenefitStatus, Pensioner


def months_between(start: date, end: date) -> int:
    """Whole monthly payments from the month of `start` up to, not including, that of `end`."""
    return max(0, (end.year - start.year) * 12 + end.month - start.month)


def open_suspension(*, session: Session, pensioner: Pensioner) -> PaymentSuspension | None:
    return session.exec(
        select(PaymentSuspension)
        .where(
            PaymentSuspension.pensioner_id == pensioner.id,
            col(PaymentSuspension.resumed_on).is_(None),
        )
        .order_by(col(PaymentSuspension.created_at).desc())
        .limit(1)
    ).first()


def suspend(
    *,
    session: Session,
    pensioner: Pensioner,
    reason: SuspensionReason,
    suspended_from: date,
    actor: Actor,
    evidence: dict[str, Any] | None = None,
) -> PaymentSuspension:
    """Stop payment from `suspended_from`; an already suspended pensioner keeps one record.

    A death outranks any other reason: an open suspension for another reason becomes a death
    suspension (keeping its start), so a later certification cannot lift it.
    """
    current = open_suspension(session=session, pensioner=pensioner)
    if current is not None:
        if reason is SuspensionReason.death and current.reason is not SuspensionReason.death:
            previous = current.reason.value
            current.reason = SuspensionReason.death
            current.evidence = {**(evidence or {}), "previous_reason": previous}
            session.add(current)
            session.flush()
            audit.record(
                session=session,
                actor=actor,
                action="payment.suspension_reason",
                entity_type="pensioner",
                entity_id=pensioner.id,
                region_code=pensioner.region_code,
                before={"reason": previous},
                after={"reason": "death", "evidence": evidence or {}},
            )
        return current
    suspension = PaymentSuspension(
        pensioner_id=pensioner.id,
        reason=reason,
        suspended_from=suspended_from,
        evidence=evidence or {},
        created_by_type=actor.type,
        created_by_id=actor.id,
    )
    before = pensioner.benefit_status.value
    pensioner.benefit_status = BenefitStatus.suspended
    session.add_all([suspension, pensioner])
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="payment.suspend",
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        before={"benefit_status": before},
        after={
            "benefit_status": "suspended",
            "reason": reason.value,
            "suspended_from": suspended_from.isoformat(),
            "evidence": evidence or {},
        },
    )
    return suspension


def resume(
    *,
    session: Session,
    pensioner: Pensioner,
    resumed_on: date,
    reason: str,
    actor: Actor,
) -> PaymentSuspension | None:
    """Restore payment and record the months withheld in between as back-pay."""
    suspension = open_suspension(session=session, pensioner=pensioner)
    if suspension is None:
        return None
    months = months_between(suspension.suspended_from, resumed_on)
    suspension.resumed_on = resumed_on
    suspension.resume_reason = reason
    suspension.back_pay_months = months
    suspension.back_pay_fen = months * pensioner.monthly_amount_fen
    pensioner.benefit_status = BenefitStatus.active
    session.add_all([suspension, pensioner])
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="payment.resume",
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        before={"benefit_status": "suspended"},
        after={
            "benefit_status": "active",
            "reason": reason,
            "back_pay_months": months,
            "back_pay_fen": suspension.back_pay_fen,
        },
    )
    return suspension
