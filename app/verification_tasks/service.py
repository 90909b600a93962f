"""Verification tasks: opening them (one with `create`, a DuckDB table of them with
`create_many`), listing them in a worker's region, and recording a visit's outcome."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.audit.service import Actor
from app.certifications.service import certify
from app.config import Settings
from app.errors import PermissionDenied
from app.kit import audited, scope
from app.kit.pages import Page, paginate
from app.matching.bulk import Writer
from app.overpayments import service as overpayments
from app.payments import service as payments
from app.verification_tasks.errors import InvalidVisit, TaskNotOpen, VerificationTaskNotFound
from models.certification import CertificationMethod, SuspensionReason
from models.pensioner import Pensioner
from models.staff import StaffUser
from models.verification import TaskKind, TaskStatus, VerificationTask, VisitOutcome


def get_in_scope(*, session: Session, staff: StaffUser, task_id: uuid.UUID) -> VerificationTask:
    return scope.get_in_scope(
        session=session,
        model=VerificationTask,
        id=task_id,
        staff=staff,
        not_found=VerificationTaskNotFound,
    )


def search(
    *,
    session: Session,
    staff: StaffUser,
    status: TaskStatus | None,
    kind: TaskKind | None,
    region_code: str | None,
    limit: int,
    offset: int,
) -> Page[VerificationTask]:
    query = scope.scoped(select(VerificationTask), VerificationTask.pensioner_id, staff)
    if region_code:
        query = query.where(scope.in_region(VerificationTask.pensioner_id, region_code))
    if status:
        query = query.where(VerificationTask.status == status)
    if kind:
        query = query.where(VerificationTask.kind == kind)
    query = query.order_by(col(VerificationTask.due_date), col(VerificationTask.created_at))
    return paginate(session=session, query=query, limit=limit, offset=offset)


CREATE = "verification_task.create"
# create_many's audit: a listing naming every task (see audit.record_listing).
CREATE_MANY = "verification_task.create_many"


def due_date(settings: Settings, today: date) -> date:
    return today + timedelta(days=settings.task_due_days)


def create(
    *,
    session: Session,
    settings: Settings,
    actor: Actor,
    pensioner: Pensioner,
    kind: TaskKind,
    reason: str,
    today: date | None = None,
    run_id: uuid.UUID | None = None,
) -> VerificationTask:
    task = VerificationTask(
        pensioner_id=pensioner.id,
        region_code=pensioner.region_code,
        kind=kind,
        reason=reason,
        due_date=due_date(settings, today or date.today()),
        run_id=run_id,
        created_by_type=actor.type,
        created_by_id=actor.id,
    )
    audited.write(
        session=session,
        actor=actor,
        rows=[task],
        action=CREATE,
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        after={"task_id": str(task.id), "kind": kind.value, "reason": reason},
    )
    return task


def create_many(
    w: Writer, *, settings: Settings, rows: str, actor: Actor, today: date, run_id: uuid.UUID
) -> int:
    """`create` for every row of the DuckDB table `rows` (pensioner_id, region_code, kind,
    reason), in the order of its rowid, with the same rows. The audit: a listing of
    `verification_task.create_many` events naming every task (millions in a run) instead of
    an event per task. Returns the number of tasks."""
    task_id = w.new_id("pos")
    due = due_date(settings, today).isoformat()
    ordered = f"(SELECT *, rowid AS pos FROM {rows})"
    made = w.insert(
        "verification_task",
        ["id", "pensioner_id", "region_code", "kind", "reason"],
        f"SELECT {task_id}, pensioner_id, region_code, kind, reason FROM {ordered} ORDER BY pos",
        constants={
            "status": f"'{TaskStatus.open.value}'",
            "due_date": f"'{due}'",
            "run_id": f"'{run_id.hex}'",
            "evidence": "'{}'",
            **w.made_by(actor),
        },
    )
    w.record_listing(
        actor,
        CREATE_MANY,
        run_id,
        {
            "pensioner_id": "pensioner_id",
            "region_code": "region_code",
            "task_id": task_id,
            "kind": "kind",
            "reason": "reason",
        },
        rows=ordered,
        position="pos",
        total=made,
        after={"due_date": due},
    )
    return made


def _suspended_for_death(session: Session, pensioner: Pensioner) -> bool:
    suspension = payments.open_suspension(session=session, pensioner=pensioner)
    return suspension is not None and suspension.reason is SuspensionReason.death


def _alive(
    *,
    session: Session,
    settings: Settings,
    actor: Actor,
    task: VerificationTask,
    pensioner: Pensioner,
    visit_date: date,
    evidence: dict[str, Any],
) -> dict[str, Any]:
    """Certify by the visit, and resume a death suspension the visit shows was wrong."""
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
        certified_at=datetime.combine(visit_date, datetime.min.time(), tzinfo=UTC),
    )
    effect: dict[str, Any] = {"certification_id": str(certification.id)}
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
    return effect


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

    confirmed_alive certifies (lifting an overdue suspension); when payment is suspended for
    a death, the task awaits a second staff member instead (confirm_visit), who certifies and
    resumes payment with back-pay; deceased suspends and claims back payments made after the
    death; moved opens a remote prompt; unreachable suspends for overdue certification when
    the pensioner is overdue.
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
    evidence = {
        "task_id": str(task.id),
        "visit_date": visit_date.isoformat(),
        "notes": notes,
        **({"photo": photo} if photo else {}),
    }
    status = TaskStatus.done
    if outcome is VisitOutcome.confirmed_alive and _suspended_for_death(session, pensioner):
        # One person's report must not restart payment with back-pay: a second looks first.
        status = TaskStatus.awaiting_confirmation
        effect["awaiting_confirmation"] = "death_suspension_lift"
    elif outcome is VisitOutcome.confirmed_alive:
        effect = _alive(
            session=session,
            settings=settings,
            actor=actor,
            task=task,
            pensioner=pensioner,
            visit_date=visit_date,
            evidence=evidence,
        )
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
    task.status = status
    task.outcome = outcome
    task.visit_date = visit_date
    task.date_of_death = date_of_death
    task.notes = notes
    earlier = {k: task.evidence[k] for k in ("refused",) if k in task.evidence}
    task.evidence = {**earlier, **evidence, "death_evidence": death_evidence, "effect": effect}
    task.completed_by_id = actor.id
    task.completed_at = datetime.now(UTC)
    audited.write(
        session=session,
        actor=actor,
        rows=[task],
        action="verification_task.visit",
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        after={"task_id": str(task.id), "outcome": outcome.value, **effect},
    )
    return task


def get_awaiting_in_scope(
    *, session: Session, staff: StaffUser, task_id: uuid.UUID
) -> VerificationTask:
    task = get_in_scope(session=session, staff=staff, task_id=task_id)
    if task.status is not TaskStatus.awaiting_confirmation:
        raise VerificationTaskNotFound("No visit awaiting confirmation with this id.")
    return task


def confirm_visit(
    *,
    session: Session,
    settings: Settings,
    staff: StaffUser,
    actor: Actor,
    task: VerificationTask,
    confirm: bool,
    reason: str | None,
) -> VerificationTask:
    """A second staff member on a visit that found alive a pensioner suspended for death.

    Confirmed: certify and resume payment with back-pay (the visit's date), the task is done.
    Refused: nothing changes for the pensioner and the task is open again for another visit.
    """
    if task.completed_by_id == str(staff.id):
        raise PermissionDenied("You recorded this visit, so another staff member must confirm it.")
    now = datetime.now(UTC)
    # One conditional update: of two answers sent at once, exactly one counts.
    claimed = session.execute(
        update(VerificationTask)
        .where(
            col(VerificationTask.id) == task.id,
            col(VerificationTask.status) == TaskStatus.awaiting_confirmation,
        )
        .values(
            status=TaskStatus.done if confirm else TaskStatus.open,
            confirmed_by_id=str(staff.id),
            confirmed_at=now,
        )
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise TaskNotOpen("This visit was confirmed or refused just now.")
    session.refresh(task)
    pensioner = session.get(Pensioner, task.pensioner_id)
    if pensioner is None:
        raise VerificationTaskNotFound()
    visited_by = task.completed_by_id
    assert task.visit_date is not None
    decision = {"confirmed_by": str(staff.id), "reason": reason}
    effect: dict[str, Any] = {}
    if confirm:
        evidence = {
            key: task.evidence.get(key) for key in ("task_id", "visit_date", "notes", "photo")
        }
        effect = _alive(
            session=session,
            settings=settings,
            actor=actor,
            task=task,
            pensioner=pensioner,
            visit_date=task.visit_date,
            evidence={k: v for k, v in evidence.items() if v is not None}
            | {"visited_by": visited_by, **decision},
        )
        task.evidence = {**task.evidence, "effect": effect, "confirmation": decision}
    else:
        refused = {
            "visited_by": visited_by,
            "visit_date": task.visit_date.isoformat(),
            "notes": task.notes,
            "refused_by": str(staff.id),
            "reason": reason,
            "at": now.isoformat(),
        }
        task.evidence = {
            **task.evidence,
            "refused": [*task.evidence.get("refused", []), refused],
        }
        task.outcome = task.visit_date = task.notes = None
        task.completed_by_id = task.completed_at = None
        task.confirmed_by_id = task.confirmed_at = None
    audited.write(
        session=session,
        actor=actor,
        rows=[task],
        action="verification_task.confirm" if confirm else "verification_task.confirmation_refused",
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        before={"task_id": str(task.id), "status": "awaiting_confirmation"},
        after={
            "task_id": str(task.id),
            "status": task.status.value,
            "visited_by": visited_by,
            "reason": reason,
            **effect,
        },
    )
    return task
