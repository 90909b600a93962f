"""Matching runs (administrators) and name-only candidates (reviewers), within region scope."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from app.db import SessionDep
from app.deps import RequireAdmin, RequireCandidateReviewer, SettingsDep, StaffActor
from app.kit import scope
from app.kit.pages import Limit, Offset, Page
from app.matching import candidates, service
from app.matching.schemas import (
    CandidateDecided,
    CandidateDecision,
    CandidateRead,
    RunRead,
    RunRequest,
)
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
    region_scope = service.requested_scope(staff=admin, region_scope=body.region_scope)
    return await run_in_threadpool(
        service.run,
        session=session,
        settings=settings,
        actor=actor,
        kind=RunKind.on_demand,
        as_of=body.as_of,
        region_scope=region_scope,
    )


@router.get(
    "/matching/runs",
    response_model=Page[RunRead],
    summary="Matching runs in your region scope",
)
def list_runs(
    session: SessionDep, admin: RequireAdmin, limit: Limit = 50, offset: Offset = 0
) -> Page[RunRead]:
    page = service.list_runs(session=session, staff=admin, limit=limit, offset=offset)
    return page.map(RunRead.model_validate)


@router.get(
    "/matching/runs/{run_id}",
    response_model=RunRead,
    summary="A matching run and its counts",
)
def read_run(run_id: uuid.UUID, session: SessionDep, admin: RequireAdmin) -> MatchingRun:
    return service.get_run(session=session, staff=admin, run_id=run_id)


@router.get(
    "/match-candidates",
    response_model=Page[CandidateRead],
    summary="Match candidates in your region scope",
)
def list_candidates(
    session: SessionDep,
    staff: RequireCandidateReviewer,
    status: CandidateStatus | None = CandidateStatus.pending,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[CandidateRead]:
    page = candidates.search(
        session=session, staff=staff, status=status, limit=limit, offset=offset
    )
    return page.map(lambda candidate: scope.read_with_region(session, CandidateRead, candidate))


@router.post(
    "/match-candidates/{candidate_id}/decision",
    response_model=CandidateDecided,
    summary="Confirm or dismiss a match candidate",
)
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
