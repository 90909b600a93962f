"""Community verification: the task list and visit reports of community workers in scope."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.db import SessionDep
from app.deps import (
    RequireCandidateReviewer,
    RequireTaskReader,
    RequireVisitRecorder,
    SettingsDep,
    StaffActor,
)
from app.pensioners import scope
from app.pensioners.service import get_in_scope as pensioner_in_scope
from app.verification_tasks import service
from app.verification_tasks.schemas import TaskCreate, TaskPage, TaskRead, VisitReport
from models.verification import TaskKind, TaskStatus, VerificationTask

router = APIRouter(prefix="/verification-tasks", tags=["verification tasks"])


@router.get("", response_model=TaskPage, summary="Tasks in your region, soonest due first")
def list_tasks(
    session: SessionDep,
    staff: RequireTaskReader,
    status: TaskStatus | None = TaskStatus.open,
    kind: TaskKind | None = None,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,6}$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TaskPage:
    rows, total = service.search(
        session=session,
        staff=staff,
        status=status,
        kind=kind,
        region_code=region_code,
        limit=limit,
        offset=offset,
    )
    items = [scope.read_with_region(session, TaskRead, r) for r in rows]
    return TaskPage(items=items, total=total, limit=limit, offset=offset)


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


@router.get("/{task_id}", response_model=TaskRead)
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
