"""The review queue: borderline remote attempts decided by reviewers, four eyes on low scores."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.service import Actor
from app.certifications.service import certify
from app.config import Settings
from app.errors import NotFound, PermissionDenied
from app.faces import calibration
from app.faces import service as faces
from app.kit import audited, scope
from app.reviews.errors import ReviewClosed, ReviewNotFound
from app.reviews.schemas import ReviewCaseRead, ReviewDecision, ReviewSummary, Verdict
from models.attempt import AttemptStatus, CertificationAttempt, ReviewCase, ReviewStatus
from models.certification import CertificationMethod
from models.face import EnrolledFace
from models.pensioner import Pensioner
from models.staff import StaffUser

OPEN = (ReviewStatus.open, ReviewStatus.awaiting_second_review)


def staff_operator(staff: StaffUser) -> str:
    """How an attempt records that a staff member held the device."""
    return f"staff:{staff.id}"


def _age_hours(created: datetime) -> float:
    created = created if created.tzinfo else created.replace(tzinfo=UTC)
    return round((datetime.now(UTC) - created).total_seconds() / 3600, 1)


def list_cases(
    *,
    session: Session,
    staff: StaffUser,
    status: ReviewStatus | None,
    region_code: str | None,
    limit: int,
) -> list[ReviewSummary]:
    query = (
        select(ReviewCase, CertificationAttempt, Pensioner)
        .join(CertificationAttempt, col(CertificationAttempt.id) == ReviewCase.attempt_id)
        .join(Pensioner, col(Pensioner.id) == ReviewCase.pensioner_id)
    )
    query = scope.within(query, Pensioner.region_code, staff)
    query = (
        query.where(ReviewCase.status == status)
        if status
        else query.where(col(ReviewCase.status).in_(OPEN))
    )
    if region_code:
        query = query.where(col(Pensioner.region_code).startswith(region_code))
    rows = session.exec(query.order_by(col(ReviewCase.created_at)).limit(limit)).all()
    return [summary(case, attempt, pensioner) for case, attempt, pensioner in rows]


def summary(case: ReviewCase, attempt: CertificationAttempt, pensioner: Pensioner) -> ReviewSummary:
    return ReviewSummary(
        id=case.id,
        attempt_id=case.attempt_id,
        pensioner_id=case.pensioner_id,
        pensioner_name=pensioner.name,
        region_code=pensioner.region_code,
        status=case.status,
        low_score=case.low_score,
        reasons=attempt.reasons,
        created_at=case.created_at,
        age_hours=_age_hours(case.created_at),
    )


def get_case(
    *, session: Session, staff: StaffUser, case_id: uuid.UUID
) -> tuple[ReviewCase, CertificationAttempt, Pensioner]:
    case = scope.get_in_scope(
        session=session, model=ReviewCase, id=case_id, staff=staff, not_found=ReviewNotFound
    )
    pensioner = session.get(Pensioner, case.pensioner_id)
    attempt = session.get(CertificationAttempt, case.attempt_id)
    assert pensioner is not None and attempt is not None
    return case, attempt, pensioner


def case_detail(
    *, session: Session, staff: StaffUser, case_id: uuid.UUID, base_url: str
) -> ReviewCaseRead:
    case, attempt, pensioner = get_case(session=session, staff=staff, case_id=case_id)
    faces = session.exec(
        select(EnrolledFace).where(
            EnrolledFace.pensioner_id == pensioner.id, col(EnrolledFace.active)
        )
    ).all()
    media = f"{base_url}/reviews/{case.id}/media"
    frames = attempt.decision.get("key_frames", [])
    return ReviewCaseRead(
        **summary(case, attempt, pensioner).model_dump(),
        operated_by=attempt.operated_by,
        decision=attempt.decision,
        enrolled_photos=[f"{base_url}/pensioners/{pensioner.id}/faces/{f.id}/photo" for f in faces],
        selfie=f"{media}/selfie" if attempt.selfie_path else None,
        key_frames=[f"{media}/frame_{i}" for i in range(len(frames))],
        first_approver_id=case.first_approver_id,
        decided_by_id=case.decided_by_id,
        decision_reason=case.decision_reason,
    )


def media_path(attempt: CertificationAttempt, name: str) -> str:
    if name == "selfie" and attempt.selfie_path:
        return attempt.selfie_path
    frames: list[str] = attempt.decision.get("key_frames", [])
    if name.startswith("frame_") and name[6:].isdigit() and int(name[6:]) < len(frames):
        return frames[int(name[6:])]
    raise NotFound(f"No {name!r} for this case; use 'selfie' or frame_0..{len(frames) - 1}.")


def decide(
    *,
    session: Session,
    settings: Settings,
    staff: StaffUser,
    actor: Actor,
    case_id: uuid.UUID,
    body: ReviewDecision,
) -> ReviewCase:
    case, attempt, pensioner = get_case(session=session, staff=staff, case_id=case_id)
    # Locked and read again: of two decisions at once, the second waits and finds it closed.
    session.refresh(case, with_for_update=True)
    if case.status not in OPEN:
        raise ReviewClosed()
    if attempt.operated_by == staff_operator(staff):
        raise PermissionDenied(
            "You operated the device for this attempt, so another reviewer must decide it."
        )
    if faces.changed_photos_recently(session=session, staff_id=staff.id, pensioner_id=pensioner.id):
        raise PermissionDenied(
            "You changed this person's enrolled photos in the last 30 days, so another "
            "reviewer must decide their certification."
        )
    before: dict[str, Any] = {"status": case.status.value}
    now = datetime.now(UTC)
    if body.verdict is Verdict.approve and case.low_score:
        if case.first_approver_id is None:
            case.first_approver_id, case.first_approved_at = str(staff.id), now
            case.status = ReviewStatus.awaiting_second_review
            return _save(session, actor, case, pensioner, before, body, "review.first_approval")
        if case.first_approver_id == str(staff.id):
            raise PermissionDenied("A low-score approval needs a second, different reviewer.")
    case.decided_by_id, case.decided_at, case.decision_reason = str(staff.id), now, body.reason
    if body.verdict is Verdict.approve:
        case.status, attempt.status = ReviewStatus.approved, AttemptStatus.certified
        certification = certify(
            session=session,
            pensioner=pensioner,
            method=CertificationMethod.remote_self_service,
            evidence={
                "attempt_id": str(attempt.id),
                "review_case_id": str(case.id),
                "reviewers": [r for r in (case.first_approver_id, str(staff.id)) if r],
            },
            actor=actor,
            default_period_months=settings.certification_period_months,
            certified_at=now,
            operated_by=attempt.operated_by,
        )
        attempt.certification_id = certification.id
        calibration.record_label(
            session=session,
            attempt_id=attempt.id,
            pensioner=pensioner,
            genuine=True,
            decision=attempt.decision,
            decided_by=str(staff.id),
        )
    elif body.verdict is Verdict.reject:
        case.status, attempt.status = ReviewStatus.rejected, AttemptStatus.rejected
        if body.same_person is False:
            calibration.record_label(
                session=session,
                attempt_id=attempt.id,
                pensioner=pensioner,
                genuine=False,
                decision=attempt.decision,
                decided_by=str(staff.id),
            )
    else:
        case.status, attempt.status = ReviewStatus.new_attempt_requested, AttemptStatus.retry
        attempt.decision = {
            **attempt.decision,
            "instructions": [
                {"zh": "工作人员请您重新认证一次。", "en": "Staff asked you to certify once more."}
            ],
        }
    session.add(attempt)
    return _save(session, actor, case, pensioner, before, body, f"review.{body.verdict.value}")


def _save(
    session: Session,
    actor: Actor,
    case: ReviewCase,
    pensioner: Pensioner,
    before: dict[str, Any],
    body: ReviewDecision,
    action: str,
) -> ReviewCase:
    after = {"review_case_id": str(case.id), "status": case.status.value, "reason": body.reason}
    event = audit.pensioner_event(action, pensioner, before=before, after=after)
    audited.write(session=session, actor=actor, rows=[case], **event)
    return case
