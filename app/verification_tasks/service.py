"""Verification tasks: listing them in a worker's region, and recording a visit's outcome."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from app.audit import service as audit
from app.audit.service import Actor
from app.certifications.service import certify
from app.config import Settings
from app.errors import InvalidVisit, TaskNotOpen, VerificationTaskNotFound
from app.overpayments import service as overpayments
from app.payments import service as payments
from app.pensioners import scope
from models.certification import CertificationMethod, SuspensionReason
from models.pensioner import Pensioner
from models.staff import StaffUser
from models.verification import TaskKind, TaskStatus, VerificationTask, VisitOutcome


def get_in_scope(*, session: Session, staff: StaffUser, task_id: uuid.UUID) -> VerificationTask:
    task = session.get(VerificationTask, task_id)
    if task is None or not scope.covers(
        session=session, staff=staff, pensioner_id=task.pensioner_id
    ):
        raise VerificationTaskNotFound()
    return task


def search(
    *,
    session: Session,
    staff: StaffUser,
    status: TaskStatus | None,
    kind: TaskKind | None,
    region_code: str | None,
    limit: int,
    offset: int,
) -> tuple[list[VerificationTask], int]:
    conditions: list[Any] = []
    if staff.region_scope:
        conditions.append(scope.in_region(VerificationTask.pensioner_id, staff.region_scope))
    if region_code:
        conditions.append(scope.in_region(VerificationTask.pensioner_id, region_code))
    if status:
        conditions.append(VerificationTask.status == status)
    if kind:
        conditions.append(VerificationTask.kind == kind)
    total = session.exec(
        select(func.count()).select_from(VerificationTask).where(*conditions)
    ).one()
    rows = session.exec(
        select(VerificationTask)
        .where(*conditions)
        .order_by(col(VerificationTask.due_date), col(VerificationTask.created_at))
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total)


def create(
    *,
    session: Session,
    settings: Settings,
    actor: Actor,
    pensioner: Pensioner,
    kind: TaskKind,
    reason: str,
    today: date | None = None,
) -> VerificationTask:
    today = today or date.today()
    task = VerificationTask(
        pensioner_id=pensioner.id,
        region_code=pensioner.region_code,
        kind=kind,
        reason=reason,
        due_date=today + timedelta(days=settings.task_due_days),
        created_by_type=actor.type,
        created_by_id=actor.id,
    )
    session.add(task)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="verification_task.create",
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        after={"task_id": str(task.id), "kind": kind.value, "reason": reason},
    )
    return task


def record_visit(
    *,
    session: Session,
    settings: Settings,
    actor: Actor,
    task: VerificationTask,
    visit_date: date,
    outcome: VisitOutcome,
    date_of_death: date | None,
    death_evidence: str | None,
    notes: str | None,
    photo: dict[str, Any] | None = None,
) -> VerificationTask:
    """Close the task with what the worker found, and apply it to certification and payment.

    confirmed_alive certifies (lifting an overdue suspension, and a death suspension that the
    visit shows was wrong, with back-pay); deceased suspends and claims back payments made
    after the death; moved opens a remote prompt; unreachable suspends for overdue
    certification when the pensioner is overdue.
    """
    if task.status is not TaskStatus.open:
        raise TaskNotOpen()
    if task.kind is TaskKind.remote_prompt:
        raise InvalidVisit("A remote prompt is answered by the pensioner, not by a visit.")
    if outcome is VisitOutcome.certified:
        raise InvalidVisit("Outcome 'certified' is set by the system, not by a visit.")
    today = date.today()
    if visit_date > today:
        raise InvalidVisit("The visit date is in the future.")
    if outcome is VisitOutcome.deceased:
        if date_of_death is None or not death_evidence:
            raise InvalidVisit("A death needs date_of_death and death_evidence (certificate).")
        if date_of_death > visit_date:
            raise InvalidVisit("The date of death is after the visit.")
    elif date_of_death is not None:
        raise InvalidVisit("date_of_death is only for the outcome 'deceased'.")
    pensioner = session.get(Pensioner, task.pensioner_id)
    if pensioner is None:
        raise VerificationTaskNotFound()
    effect: dict[str, Any] = {}
    when = datetime.combine(visit_date, datetime.min.time(), tzinfo=UTC)
    evidence = {
        "task_id": str(task.id),
        "visit_date": visit_date.isoformat(),
        "notes": notes,
        **({"photo": photo} if photo else {}),
    }
    if outcome is VisitOutcome.confirmed_alive:
        method = (
            CertificationMethod.home_visit
            if task.kind is TaskKind.home_visit
            else CertificationMethod.community_visit
        )
        certification = certify(
            session=session,
            pensioner=pensioner,
            method=method,
            evidence=evidence,
            actor=actor,
            default_period_months=settings.certification_period_months,
            certified_at=when,
        )
        effect["certification_id"] = str(certification.id)
        resumed = overpayments.resume_after_wrongful_death(
            session=session,
            pensioner=pensioner,
            resumed_on=visit_date,
            reason="alive at a verification visit: the death record was wrong",
            actor=actor,
        )
        if resumed is not None:
            effect["resumed_suspension_id"] = str(resumed.id)
            effect["back_pay_fen"] = resumed.back_pay_fen
    elif outcome is VisitOutcome.deceased:
        assert date_of_death is not None
        suspension, claim = overpayments.record_death(
            session=session,
            pensioner=pensioner,
            date_of_death=date_of_death,
            as_of=today,
            payment_day=settings.payment_day,
            evidence={**evidence, "death_evidence": death_evidence},
            actor=actor,
        )
        effect["suspension_id"] = str(suspension.id)
        effect["claim_id"] = str(claim.id) if claim else None
    elif outcome is VisitOutcome.moved:
        follow_up = create(
            session=session,
            settings=settings,
            actor=actor,
            pensioner=pensioner,
            kind=TaskKind.remote_prompt,
            reason="moved",
        )
        effect["follow_up_task_id"] = str(follow_up.id)
    elif outcome is VisitOutcome.unreachable and (
        pensioner.certified_until is None or pensioner.certified_until < today
    ):
        suspension = payments.suspend(
            session=session,
            pensioner=pensioner,
            reason=SuspensionReason.certification_overdue,
            suspended_from=overpayments.first_unpaid_month(today, settings.payment_day),
            actor=actor,
            evidence=evidence,
        )
        effect["suspension_id"] = str(suspension.id)
    task.status = TaskStatus.done
    task.outcome = outcome
    task.visit_date = visit_date
    task.date_of_death = date_of_death
    task.notes = notes
    task.evidence = {**evidence, "death_evidence": death_evidence, "effect": effect}
    task.completed_by_id = actor.id
    task.completed_at = datetime.now(UTC)
    session.add(task)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="verification_task.visit",
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        after={"task_id": str(task.id), "outcome": outcome.value, **effect},
    )
    return task
