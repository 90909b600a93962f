"""Matching runs (administrators) and name-only candidates (reviewers), within region scope."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from starlette.concurrency import run_in_threadpool

from app.db import SessionDep
from app.deps import RequireAdmin, RequireCandidateReviewer, SettingsDep, StaffActor
from app.errors import OutOfScope
from app.matching import candidates, service
from app.matching.schemas import (
    CandidateDecided,
    CandidateDecision,
    CandidatePage,
    CandidateRead,
    RunPage,
    RunRead,
    RunRequest,
)
from app.pensioners import scope
from models.matching import CandidateStatus, MatchingRun, RunKind

router = APIRouter(tags=["matching"])


@router.post(
    "/matching/runs",
    response_model=RunRead,
    status_code=status.HTTP_201_CREATED,
    summary="Run the matching now for your region scope (the monthly run uses the CLI)",
)
async def start_run(
    session: SessionDep,
    settings: SettingsDep,
    admin: RequireAdmin,
    actor: StaffActor,
    body: RunRequest,
) -> MatchingRun:
    scope = admin.region_scope if body.region_scope is None else body.region_scope
    if not scope.startswith(admin.region_scope):
        raise OutOfScope(f"Region scope {scope or '(national)'} is outside yours.")
    return await run_in_threadpool(
        service.run,
        session=session,
        settings=settings,
        actor=actor,
        kind=RunKind.on_demand,
        as_of=body.as_of,
        region_scope=scope,
    )


@router.get("/matching/runs", response_model=RunPage)
def list_runs(
    session: SessionDep,
    admin: RequireAdmin,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> RunPage:
    rows, total = service.list_runs(session=session, staff=admin, limit=limit, offset=offset)
    items = [RunRead.model_validate(r) for r in rows]
    return RunPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/matching/runs/{run_id}", response_model=RunRead)
def read_run(run_id: uuid.UUID, session: SessionDep, admin: RequireAdmin) -> MatchingRun:
    return service.get_run(session=session, staff=admin, run_id=run_id)


@router.get("/match-candidates", response_model=CandidatePage)
def list_candidates(
    session: SessionDep,
    staff: RequireCandidateReviewer,
    status: CandidateStatus | None = CandidateStatus.pending,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CandidatePage:
    rows, total = candidates.search(
        session=session, staff=staff, status=status, limit=limit, offset=offset
    )
    items = [scope.read_with_region(session, CandidateRead, r) for r in rows]
    return CandidatePage(items=items, total=total, limit=limit, offset=offset)


@router.post("/match-candidates/{candidate_id}/decision", response_model=CandidateDecided)
def decide_candidate(
    candidate_id: uuid.UUID,
    body: CandidateDecision,
    session: SessionDep,
    settings: SettingsDep,
    staff: RequireCandidateReviewer,
    actor: StaffActor,
) -> CandidateDecided:
    candidate = candidates.get_in_scope(session=session, staff=staff, candidate_id=candidate_id)
    decided, effect = candidates.decide(
        session=session,
        settings=settings,
        actor=actor,
        candidate=candidate,
        confirm=body.confirm,
        note=body.note,
    )
    return CandidateDecided(
        candidate=scope.read_with_region(session, CandidateRead, decided), effect=effect
    )
