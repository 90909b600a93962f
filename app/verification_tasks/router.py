"""Community verification: the task list and visit reports of community workers in scope."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.db import SessionDep
from app.deps import (
    RequireCandidateReviewer,
    RequireConfirmer,
    RequireTaskReader,
    RequireVisitRecorder,
    SettingsDep,
    StaffActor,
)
from app.kit import scope
from app.kit.pages import Limit, Offset, Page
from app.pensioners.service import get_in_scope as pensioner_in_scope
from app.verification_tasks import service
from app.verification_tasks.schemas import (
    TaskCreate,
    TaskRead,
    VisitConfirmation,
    VisitReport,
)
from models.verification import TaskKind, TaskStatus, VerificationTask

router = APIRouter(prefix="/verification-tasks", tags=["verification tasks"])


@router.get("", response_model=Page[TaskRead], summary="Tasks in your region, soonest due first")
def list_tasks(
    session: SessionDep,
    staff: RequireTaskReader,
    status: TaskStatus | None = TaskStatus.open,
    kind: TaskKind | None = None,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,6}$")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[TaskRead]:
    page = service.search(
        session=session,
        staff=staff,
        status=status,
        kind=kind,
        region_code=region_code,
        limit=limit,
        offset=offset,
    )
    return page.map(lambda task: scope.read_with_region(session, TaskRead, task))


@router.post(
    "",
    response_model=TaskRead,
    status_code=status.HTTP_201_CREATED,
    summary="Ask for a visit (e.g. a pensioner reports a wrongful suspension)",
)
def create_task(
    body: TaskCreate,
    session: SessionDep,
    settings: SettingsDep,
    staff: RequireCandidateReviewer,
    actor: StaffActor,
) -> VerificationTask:
    pensioner = pensioner_in_scope(session=session, staff=staff, pensioner_id=body.pensioner_id)
    return service.create(
        session=session,
        settings=settings,
        actor=actor,
        pensioner=pensioner,
        kind=body.kind,
        reason=body.reason,
    )


@router.get(
    "/awaiting-confirmation",
    response_model=Page[TaskRead],
    summary="Visits that would lift a death suspension, awaiting a second staff member",
    description="Reviewers and administrators, for pensioners in their region scope. Confirm "
    "or refuse with `POST /verification-tasks/{id}/confirmation`.",
)
def list_awaiting_confirmation(
    session: SessionDep,
    staff: RequireConfirmer,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[TaskRead]:
    page = service.search(
        session=session,
        staff=staff,
        status=TaskStatus.awaiting_confirmation,
        kind=None,
        region_code=None,
        limit=limit,
        offset=offset,
    )
    return page.map(lambda task: scope.read_with_region(session, TaskRead, task))


@router.post(
    "/{task_id}/confirmation",
    response_model=TaskRead,
    summary="Confirm a visit that lifts a death suspension (resumes payment with back-pay), "
    "or refuse it with a reason (the task opens again)",
    description="By a reviewer or administrator in scope who did not record the visit (403).",
)
def confirm_visit(
    task_id: uuid.UUID,
    body: VisitConfirmation,
    session: SessionDep,
    settings: SettingsDep,
    staff: RequireConfirmer,
    actor: StaffActor,
) -> TaskRead:
    task = service.get_awaiting_in_scope(session=session, staff=staff, task_id=task_id)
    done = service.confirm_visit(
        session=session,
        settings=settings,
        staff=staff,
        actor=actor,
        task=task,
        confirm=body.confirm,
        reason=body.reason,
    )
    return scope.read_with_region(session, TaskRead, done)


@router.get(
    "/{task_id}",
    response_model=TaskRead,
    summary="A verification task",
)
def read_task(task_id: uuid.UUID, session: SessionDep, staff: RequireTaskReader) -> TaskRead:
    task = service.get_in_scope(session=session, staff=staff, task_id=task_id)
    return scope.read_with_region(session, TaskRead, task)


@router.post(
    "/{task_id}/visit",
    response_model=TaskRead,
    summary="Record a visit: confirmed alive, deceased, moved or unreachable",
)
def record_visit(
    task_id: uuid.UUID,
    body: VisitReport,
    session: SessionDep,
    settings: SettingsDep,
    staff: RequireVisitRecorder,
    actor: StaffActor,
) -> TaskRead:
    task = service.get_in_scope(session=session, staff=staff, task_id=task_id)
    done = service.record_visit(
        session=session,
        settings=settings,
        actor=actor,
        task=task,
        visit_date=body.visit_date,
        outcome=body.outcome,
        date_of_death=body.date_of_death,
        death_evidence=body.death_evidence,
        notes=body.notes,
    )
    return scope.read_with_region(session, TaskRead, done)
