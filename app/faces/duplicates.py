"""Duplicate cases: one face enrolled under two identities, found by the 1:N index at
enrolment, at bulk import or by the whole-register dedup, and decided by staff.

Outcomes: `same_person` (a fraud case: the later identity's payments are suspended, but only
once a second reviewer agrees), `relatives` (twins or relatives: kept apart, and the pair is
never raised again) or `data_error` (a photo filed under the wrong ID). A pair of people has
at most one case, ever.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, or_, select

from app.audit import service as audit
from app.audit.service import Actor
from app.config import Settings
from app.errors import Conflict, NotFound, PermissionDenied
from app.faces.index import Neighbour, RegisterIndex
from app.kit import audited
from app.kit.scope import in_region
from app.payments import service as payments
from models.base import utcnow
from models.certification import SuspensionReason
from models.face import EnrolledFace
from models.face_dedup import DuplicateCase, DuplicateOutcome, DuplicateStatus
from models.pensioner import Pensioner


class DuplicateCaseNotFound(NotFound):
    code = "DuplicateCaseNotFound"
    message = "No such duplicate case."


class DuplicateCaseClosed(Conflict):
    code = "DuplicateCaseClosed"
    message = "This duplicate case is already decided."


def pair_key(a: uuid.UUID, b: uuid.UUID) -> str:
    first, second = sorted((str(a), str(b)))
    return f"{first}:{second}"


def known_pair(*, session: Session, a: uuid.UUID, b: uuid.UUID) -> DuplicateCase | None:
    return session.exec(
        select(DuplicateCase).where(DuplicateCase.pair_key == pair_key(a, b))
    ).first()


def open_case(
    *,
    session: Session,
    settings: Settings,
    earlier: Neighbour,
    later_face: EnrolledFace,
    distance: float,
    found_by: str,
    actor: Actor,
) -> DuplicateCase | None:
    """A case for the pair, unless the pair already has one (open or decided)."""
    if known_pair(session=session, a=earlier.pensioner_id, b=later_face.pensioner_id):
        return None
    case = DuplicateCase(
        pair_key=pair_key(earlier.pensioner_id, later_face.pensioner_id),
        earlier_pensioner_id=earlier.pensioner_id,
        later_pensioner_id=later_face.pensioner_id,
        earlier_face_id=earlier.face_id,
        later_face_id=later_face.id,
        distance=round(distance, 4),
        threshold=settings.face_duplicate_case_distance,
        found_by=found_by,
    )
    try:
        with session.begin_nested():
            session.add(case)
            session.flush()
    except IntegrityError:  # another process raised the same pair just now
        return None
    later = session.get(Pensioner, later_face.pensioner_id)
    assert later is not None
    audit.record(
        session=session,
        actor=actor,
        action="face.duplicate_case",
        entity_type="pensioner",
        entity_id=later.id,
        region_code=later.region_code,
        after={
            "case_id": str(case.id),
            "earlier_pensioner_id": str(case.earlier_pensioner_id),
            "distance": case.distance,
            "found_by": found_by,
        },
    )
    return case


def check_new_face(
    *,
    session: Session,
    settings: Settings,
    face: EnrolledFace,
    neighbours: list[Neighbour],
    found_by: str,
    actor: Actor,
) -> list[DuplicateCase]:
    """Open a case for every other person whose face lies under the duplicate threshold."""
    opened = []
    seen: set[uuid.UUID] = set()
    for near in neighbours:
        if near.distance >= settings.face_duplicate_case_distance or near.pensioner_id in seen:
            continue
        seen.add(near.pensioner_id)
        case = open_case(
            session=session,
            settings=settings,
            earlier=near,
            later_face=face,
            distance=near.distance,
            found_by=found_by,
            actor=actor,
        )
        if case is not None:
            opened.append(case)
    return opened


def run_dedup(
    *, session: Session, settings: Settings, index: RegisterIndex, actor: Actor
) -> dict[str, Any]:
    """The k-nearest-neighbour graph of the whole register: a case for each new close pair."""
    pairs = index.graph(
        k=settings.face_dedup_neighbours, threshold=settings.face_duplicate_case_distance
    )
    created = known = 0
    for a, b, distance in pairs:
        if known_pair(session=session, a=a.pensioner_id, b=b.pensioner_id):
            known += 1
            continue
        faces = {
            f.id: f
            for f in session.exec(
                select(EnrolledFace).where(col(EnrolledFace.id).in_([a.face_id, b.face_id]))
            ).all()
        }
        fa, fb = faces.get(a.face_id), faces.get(b.face_id)
        if fa is None or fb is None:
            continue
        earlier_face, later_face = (fa, fb) if fa.created_at <= fb.created_at else (fb, fa)
        earlier = Neighbour(earlier_face.id, earlier_face.pensioner_id, distance)
        if open_case(
            session=session,
            settings=settings,
            earlier=earlier,
            later_face=later_face,
            distance=distance,
            found_by="dedup",
            actor=actor,
        ):
            created += 1
    return {
        "templates": len(index),
        "pairs_under_threshold": len(pairs),
        "cases_opened": created,
        "pairs_already_known": known,
        "threshold": settings.face_duplicate_case_distance,
        "neighbours": settings.face_dedup_neighbours,
    }


def list_cases(
    *, session: Session, region_prefix: str, status: DuplicateStatus | None, limit: int, offset: int
) -> list[DuplicateCase]:
    """Cases where either person is in the staff member's region, oldest first."""
    query = select(DuplicateCase).where(
        or_(
            in_region(DuplicateCase.earlier_pensioner_id, region_prefix),
            in_region(DuplicateCase.later_pensioner_id, region_prefix),
        )
    )
    if status is not None:
        query = query.where(DuplicateCase.status == status)
    return list(
        session.exec(
            query.order_by(col(DuplicateCase.created_at)).offset(offset).limit(limit)
        ).all()
    )


def get_case(*, session: Session, case_id: uuid.UUID, region_prefix: str) -> DuplicateCase:
    case = session.get(DuplicateCase, case_id)
    if case is None:
        raise DuplicateCaseNotFound()
    people = [
        session.get(Pensioner, p) for p in (case.earlier_pensioner_id, case.later_pensioner_id)
    ]
    if not any(p is not None and p.region_code.startswith(region_prefix) for p in people):
        raise DuplicateCaseNotFound()
    return case


def decide(
    *,
    session: Session,
    case: DuplicateCase,
    staff_id: uuid.UUID,
    actor: Actor,
    outcome: DuplicateOutcome,
    note: str | None,
) -> DuplicateCase:
    """A reviewer's verdict. `relatives` and `data_error` close the case; `same_person` waits
    for a second reviewer, whose agreement suspends the later identity's payments (and whose
    disagreement closes the case with their outcome, both verdicts kept)."""
    # Locked and read again: of two verdicts at once, the second sees the first's.
    session.refresh(case, with_for_update=True)
    if case.status is DuplicateStatus.closed:
        raise DuplicateCaseClosed()
    now = utcnow()
    before = {
        "status": case.status.value,
        "first_outcome": None if case.first_outcome is None else case.first_outcome.value,
    }
    suspended = None
    if case.status is DuplicateStatus.open:
        case.first_reviewer_id, case.first_outcome = str(staff_id), outcome
        case.first_note, case.first_decided_at = note, now
        if outcome is DuplicateOutcome.same_person:
            case.status = DuplicateStatus.awaiting_second
        else:
            case.status, case.outcome, case.decided_at = DuplicateStatus.closed, outcome, now
    else:
        if case.first_reviewer_id == str(staff_id):
            raise PermissionDenied("You gave the first verdict; a second reviewer must decide.")
        case.second_reviewer_id, case.second_note = str(staff_id), note
        case.status, case.outcome, case.decided_at = DuplicateStatus.closed, outcome, now
        if outcome is DuplicateOutcome.same_person:
            later = session.get(Pensioner, case.later_pensioner_id)
            assert later is not None
            suspended = payments.suspend(
                session=session,
                pensioner=later,
                reason=SuspensionReason.fraud_suspected,
                suspended_from=date.today(),
                actor=actor,
                evidence={
                    "duplicate_case_id": str(case.id),
                    "same_face_as": str(case.earlier_pensioner_id),
                    "reviewers": [case.first_reviewer_id, case.second_reviewer_id],
                },
            )
    later = session.get(Pensioner, case.later_pensioner_id)
    assert later is not None
    audited.write(
        session=session,
        actor=actor,
        rows=[case],
        **audit.pensioner_event(
            "face.duplicate_decided",
            later,
            before=before,
            after={
                "case_id": str(case.id),
                "status": case.status.value,
                "verdict": outcome.value,
                "outcome": None if case.outcome is None else case.outcome.value,
                "note": note,
                "suspension_id": None if suspended is None else str(suspended.id),
            },
        ),
    )
    return case
