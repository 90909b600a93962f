"""Suspending a pensioner's payment and resuming it with the back-pay owed: each change in
its single form (one pensioner, ORM) and its bulk form (a DuckDB table of rows, set-based SQL),
sharing the back-pay formula and the audit events."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any, NamedTuple

from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.service import Actor
from app.kit import audited
from app.matching.bulk import Writer, fetch, literal
from models.certification import PaymentSuspension, SuspensionReason
from models.pensioner import BenefitStatus, Pensioner

SUSPEND = "payment.suspend"
SUSPENSION_REASON = "payment.suspension_reason"
RESUME = "payment.resume"


def months_between(start: date, end: date) -> int:
    """Whole monthly payments from the month of `start` up to, not including, that of `end`."""
    return max(0, (end.year - start.year) * 12 + end.month - start.month)


def months_between_sql(start: str, end: str) -> str:
    """months_between as DuckDB SQL over two DATE expressions."""
    return f"greatest(0, datediff('month', {start}, {end}))"


def suspend_event(
    about: audit.About,
    *,
    status_before: str,
    reason: str,
    suspended_from: date,
    evidence: dict[str, Any],
) -> dict[str, Any]:
    after = {
        "benefit_status": BenefitStatus.suspended.value,
        "reason": reason,
        "suspended_from": suspended_from.isoformat(),
        "evidence": evidence,
    }
    return audit.pensioner_event(
        SUSPEND, about, before={"benefit_status": status_before}, after=after
    )


def reason_event(about: audit.About, *, previous: str, evidence: dict[str, Any]) -> dict[str, Any]:
    after = {"reason": SuspensionReason.death.value, "evidence": evidence}
    return audit.pensioner_event(SUSPENSION_REASON, about, before={"reason": previous}, after=after)


def resume_event(
    about: audit.About, suspension: PaymentSuspension | _Resumed, *, reason: str
) -> dict[str, Any]:
    """The resumption of `suspension` (resumed with its back-pay)."""
    before = {
        "benefit_status": BenefitStatus.suspended.value,
        "suspended_from": suspension.suspended_from.isoformat(),
    }
    after = {
        "benefit_status": BenefitStatus.active.value,
        "reason": reason,
        "suspension_id": str(suspension.id),
        "back_pay_months": suspension.back_pay_months,
        "back_pay_fen": suspension.back_pay_fen,
    }
    return audit.pensioner_event(RESUME, about, before=before, after=after)


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
            event = reason_event(pensioner, previous=previous, evidence=evidence or {})
            audited.write(session=session, actor=actor, rows=[current], **event)
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
    event = suspend_event(
        pensioner,
        status_before=before,
        reason=reason.value,
        suspended_from=suspended_from,
        evidence=evidence or {},
    )
    audited.write(session=session, actor=actor, rows=[suspension, pensioner], **event)
    return suspension


class _Suspended(NamedTuple):
    pensioner_id: str
    region_code: str
    benefit_status: str
    open_reason: str | None
    evidence: str
    escalated: bool


def suspend_many(
    w: Writer, *, rows: str, reason: SuspensionReason, suspended_from: date, actor: Actor
) -> tuple[int, int]:
    """`suspend` for every row of the DuckDB table `rows` (pensioner_id, rn, region_code,
    benefit_status, evidence as JSON text, and suspension_id with open_reason: the pensioner's
    open suspension, if any), with the same rows and audit events. Adds the column `sid` to
    `rows`: the id of each row's suspension. Returns (suspended, turned into death)."""
    w.con.execute(
        f"CREATE OR REPLACE TEMP TABLE {rows} AS SELECT *, "
        f"coalesce(suspension_id, {w.new_id()}) AS sid FROM {rows}"
    )
    escalate = "false"
    if reason is SuspensionReason.death:
        escalate = f"suspension_id IS NOT NULL AND open_reason <> '{reason.value}'"
    created = w.insert(
        "payment_suspension",
        ["id", "pensioner_id", "evidence"],
        f"SELECT sid, pensioner_id, evidence FROM {rows} WHERE suspension_id IS NULL",
        constants={
            "reason": literal(reason.value),
            "suspended_from": f"'{suspended_from.isoformat()}'",
            **w.made_by(actor),
        },
    )
    previous = "json_merge_patch(evidence, json_object('previous_reason', open_reason))"
    escalated = 0
    if w.count(f"SELECT 1 FROM {rows} WHERE {escalate}"):
        escalated = w.set_rows(
            "payment_suspension",
            "id",
            f"SELECT sid, {previous} FROM {rows} WHERE {escalate}",
            [("evidence", "json")],
            also=f"reason = {literal(reason.value)}",
        )
    if created:
        w.set_pensioners(
            f"benefit_status = '{BenefitStatus.suspended.value}'", rows, "suspension_id IS NULL"
        )
    events: list[dict[str, Any]] = []
    for r in fetch(
        w.con,
        _Suspended,
        f"FROM (SELECT *, {escalate} AS escalated FROM {rows}) "
        "WHERE suspension_id IS NULL OR escalated ORDER BY pensioner_id",
    ):
        about = audit.Subject(uuid.UUID(r.pensioner_id), r.region_code)
        evidence = json.loads(r.evidence)
        if r.escalated:
            events.append(reason_event(about, previous=str(r.open_reason), evidence=evidence))
        else:
            events.append(
                suspend_event(
                    about,
                    status_before=r.benefit_status,
                    reason=reason.value,
                    suspended_from=suspended_from,
                    evidence=evidence,
                )
            )
    audit.record_many(session=w.session, actor=actor, events=events, json_safe=True)
    return created, escalated


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
    event = resume_event(pensioner, suspension, reason=reason)
    audited.write(session=session, actor=actor, rows=[suspension, pensioner], **event)
    return suspension


class _Resumed(NamedTuple):
    pensioner_id: str
    region_code: str
    id: str  # the suspension's, with hyphens as str(UUID) has them
    suspended_from: date
    back_pay_months: int
    back_pay_fen: int


def resume_many(w: Writer, *, rows: str, resumed_on: date, reason: str, actor: Actor) -> int:
    """`resume` for every row of the DuckDB table or view `rows` (pensioner_id, rn,
    region_code, monthly_amount_fen, and suspension_id with suspended_from: the open
    suspension), with the same rows and audit events. Returns the number resumed."""
    months = months_between_sql("suspended_from", f"DATE '{resumed_on.isoformat()}'")
    resumed = fetch(
        w.con,
        _Resumed,
        f"FROM (SELECT *, suspension_id::UUID::VARCHAR AS id, {months}::BIGINT AS back_pay_months, "
        f"{months}::BIGINT * monthly_amount_fen AS back_pay_fen FROM {rows}) "
        "ORDER BY pensioner_id",
    )
    if not resumed:
        return 0
    w.set_rows(
        "payment_suspension",
        "id",
        f"SELECT suspension_id, {months}, {months} * monthly_amount_fen FROM {rows}",
        [("back_pay_months", "integer"), ("back_pay_fen", "bigint")],
        also=f"resumed_on = '{resumed_on.isoformat()}', resume_reason = {literal(reason)}",
    )
    w.set_pensioners(f"benefit_status = '{BenefitStatus.active.value}'", rows)
    events = [
        resume_event(audit.Subject(uuid.UUID(r.pensioner_id), r.region_code), r, reason=reason)
        for r in resumed
    ]
    audit.record_many(session=w.session, actor=actor, events=events, json_safe=True)
    return len(resumed)
