"""The review queue for reviewers and administrators, within their region scope."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app import media
from app.db import SessionDep
from app.deps import RequireRegisterReader, SettingsDep, StaffActor
from app.kit import audited
from app.reviews import service
from app.reviews.schemas import ReviewCaseRead, ReviewDecision, ReviewSummary
from biometrics import ImageError, sniff_format
from models.attempt import ReviewStatus

router = APIRouter(prefix="/reviews", tags=["review queue"])
Reviewer = RequireRegisterReader  # reviewers and administrators


@router.get("", response_model=list[ReviewSummary], summary="Open cases, oldest first")
def list_reviews(
    session: SessionDep,
    staff: Reviewer,
    status: ReviewStatus | None = None,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,6}$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ReviewSummary]:
    return service.list_cases(
        session=session, staff=staff, status=status, region_code=region_code, limit=limit
    )


@router.get("/{case_id}", response_model=ReviewCaseRead, summary="Photos, frames and scores")
def read_review(
    case_id: uuid.UUID, request: Request, session: SessionDep, staff: Reviewer
) -> ReviewCaseRead:
    return service.case_detail(
        session=session,
        staff=staff,
        case_id=case_id,
        base_url=str(request.base_url).rstrip("/") + "/api/v1",
    )


@router.get(
    "/{case_id}/media/{name}",
    response_class=Response,
    summary="The selfie (`selfie`) or a key frame (`frame_0`...) of the case",
)
def review_media(
    case_id: uuid.UUID,
    name: str,
    session: SessionDep,
    settings: SettingsDep,
    staff: Reviewer,
    actor: StaffActor,
) -> Response:
    case, attempt, pensioner = service.get_case(session=session, staff=staff, case_id=case_id)
    data = media.read(settings=settings, relative=service.media_path(attempt, name))
    audited.read(
        session=session,
        actor=actor,
        action="review.media_read",
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        after={"case_id": str(case.id), "attempt_id": str(attempt.id), "media": name},
    )
    try:
        kind = sniff_format(data[:32])
    except ImageError:
        kind = "jpeg"
    return media.private_response(
        data, media_type={"heif": "image/heic"}.get(kind, f"image/{kind}")
    )


@router.post(
    "/{case_id}/decision",
    response_model=ReviewSummary,
    summary="Approve, reject (with a reason) or ask for a new attempt",
)
def decide_review(
    case_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    staff: Reviewer,
    actor: StaffActor,
    body: ReviewDecision,
) -> ReviewSummary:
    case = service.decide(
        session=session, settings=settings, staff=staff, actor=actor, case_id=case_id, body=body
    )
    _, attempt, pensioner = service.get_case(session=session, staff=staff, case_id=case.id)
    return service.summary(case, attempt, pensioner)
