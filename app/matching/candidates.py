"""Name-only (and untrusted-source) candidates: staff confirm or reject them."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import Session, col, select

from app.audit.service import Actor
from app.certifications.service import certify
from app.config import Settings
from app.kit import audited, scope
from app.kit.pages import Page, paginate
from app.matching.errors import CandidateAlreadyDecided, CandidateNotFound
from app.overpayments import service as overpayments
from models.certification import CertificationMethod
from models.matching import CandidateKind, CandidateStatus, MatchCandidate
from models.pensioner import Pensioner
from models.staff import StaffUser


def get_in_scope(*, session: Session, staff: StaffUser, candidate_id: uuid.UUID) -> MatchCandidate:
    return scope.get_in_scope(
        session=session,
        model=MatchCandidate,
        id=candidate_id,
        staff=staff,
        not_found=CandidateNotFound,
    )


def search(
    *,
    session: Session,
    staff: StaffUser,
    status: CandidateStatus | None,
    limit: int,
    offset: int,
) -> Page[MatchCandidate]:
    query = scope.scoped(select(MatchCandidate), MatchCandidate.pensioner_id, staff)
    if status:
        query = query.where(MatchCandidate.status == status)
    query = query.order_by(col(MatchCandidate.created_at).desc(), col(MatchCandidate.score).desc())
    return paginate(session=session, query=query, limit=limit, offset=offset)


def decide(
    *,
    session: Session,
    settings: Settings,
    actor: Actor,
    candidate: MatchCandidate,
    confirm: bool,
    note: str | None,
    today: date | None = None,
) -> tuple[MatchCandidate, dict[str, Any]]:
    """A confirmed death suspends and claims; confirmed evidence of life certifies."""
    # Locked and read again: of two decisions at once, the second finds it decided.
    session.refresh(candidate, with_for_update=True)
    if candidate.status is not CandidateStatus.pending:
        raise CandidateAlreadyDecided()
    today = today or date.today()
    pensioner = session.get(Pensioner, candidate.pensioner_id)
    if pensioner is None:
        raise CandidateNotFound()
    effect: dict[str, Any] = {}
    evidence = {
        "candidate_id": str(candidate.id),
        "record": candidate.record_key,
        "feed": candidate.feed_type.value,
        "score": candidate.score,
        "confirmed_by": actor.id,
    }
    if confirm and candidate.kind in (CandidateKind.death_by_name, CandidateKind.death_untrusted):
        suspension, claim = overpayments.record_death(
            session=session,
            pensioner=pensioner,
            date_of_death=candidate.event_date,
            as_of=today,
            payment_day=settings.payment_day,
            evidence=evidence,
            actor=actor,
        )
        effect = {"suspension_id": str(suspension.id), "claim_id": str(claim.id) if claim else None}
    elif confirm:
        certification = certify(
            session=session,
            pensioner=pensioner,
            method=CertificationMethod.data_comparison,
            evidence=evidence,
            actor=actor,
            default_period_months=settings.certification_period_months,
            certified_at=datetime.combine(candidate.event_date, datetime.min.time(), tzinfo=UTC),
        )
        effect = {"certification_id": str(certification.id)}
    candidate.status = CandidateStatus.confirmed if confirm else CandidateStatus.rejected
    candidate.decided_by_id = actor.id
    candidate.decided_at = datetime.now(UTC)
    candidate.decision_note = note
    audited.write(
        session=session,
        actor=actor,
        rows=[candidate],
        action="match_candidate." + ("confirm" if confirm else "reject"),
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        after={"candidate_id": str(candidate.id), "kind": candidate.kind.value, **effect},
    )
    return candidate, effect
