"""The call itself, on the agent's side: the assigned calls, room tokens, the read-aloud code,
face checks of captured frames and the recorded outcome."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, func, select

from app import media
from app.appointments.errors import AppointmentClosed
from app.appointments.schemas import RoomToken
from app.appointments.service import join_window
from app.attempts.processing import verification_summary
from app.audit.service import Actor
from app.certifications.service import certify
from app.config import Settings
from app.errors import PermissionDenied, UnsupportedMediaType
from app.faces import gallery
from app.faces import service as faces
from app.faces.errors import NotEnrolled, NoUsableFace
from app.kit import audited, scope
from app.security import RoomClaims, RoomRole, create_room_token
from app.verification_tasks import service as tasks
from app.video_calls import signalling as sig
from app.video_calls.errors import (
    CallWindowClosed,
    CallWindowNotOpen,
    InvalidOutcome,
    VideoCallNotFound,
)
from app.video_calls.schemas import (
    CallConfirmation,
    CallDetail,
    CallOutcome,
    CallSummary,
    ConfirmationIn,
    EnrolledPhoto,
    FrameCheck,
    OutcomeIn,
    PensionerCard,
)
from app.video_calls.turn import ice_servers_for
from biometrics import FaceEngine, ImageError, sniff_format
from models.certification import Certification, CertificationMethod
from models.pensioner import Pensioner, Residence
from models.staff import StaffUser
from models.verification import TaskKind, TaskStatus, VerificationTask
from models.video_call import AppointmentStatus, CallFrame, VideoAppointment

SIGNAL_PATH = "/api/v1/video-calls/{id}/signal"
FRAME_FORMATS = {"jpeg": "jpg", "png": "png"}
DECIDABLE = (AppointmentStatus.booked, AppointmentStatus.lapsed)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def get_assigned(
    *, session: Session, staff: StaffUser, appointment_id: uuid.UUID
) -> VideoAppointment:
    """A call of this agent, in the agent's region scope; else VideoCallNotFound."""
    return scope.get_in_scope(
        session=session,
        model=VideoAppointment,
        id=appointment_id,
        staff=staff,
        not_found=VideoCallNotFound,
        also=lambda appointment: appointment.agent_id == staff.id,
    )


def why_not_join(*, session: Session, claims: RoomClaims) -> tuple[int, str] | None:
    """Why a room token's holder may not join the call now (WebSocket close code, reason), or
    None: the call must be booked, and be the pensioner's own or assigned to an active agent
    whose region scope covers the pensioner today."""
    appointment = session.get(VideoAppointment, claims.appointment_id)
    if appointment is None:
        return sig.CLOSE_NOT_FOUND, "no such call"
    if appointment.status is not AppointmentStatus.booked:
        return sig.CLOSE_NOT_FOUND, f"the call is {appointment.status.value}"
    if claims.role == "pensioner":
        if str(appointment.pensioner_id) != claims.subject:
            return sig.CLOSE_WRONG_CALL, "this call is not yours"
        return None
    staff = session.get(StaffUser, appointment.agent_id)
    if (
        str(appointment.agent_id) != claims.subject
        or staff is None
        or not staff.is_active
        or not scope.covers(session=session, staff=staff, pensioner_id=appointment.pensioner_id)
    ):
        return sig.CLOSE_WRONG_CALL, "this call is not assigned to you"
    return None


def list_assigned(
    *,
    session: Session,
    staff: StaffUser,
    start: datetime,
    end: datetime | None,
    status: AppointmentStatus | None,
    limit: int,
) -> list[tuple[VideoAppointment, Pensioner]]:
    query = (
        select(VideoAppointment, Pensioner)
        .join(Pensioner, col(Pensioner.id) == VideoAppointment.pensioner_id)
        .where(VideoAppointment.agent_id == staff.id, col(VideoAppointment.ends_at) > start)
    )
    query = scope.within(query, Pensioner.region_code, staff)
    if end is not None:
        query = query.where(col(VideoAppointment.starts_at) < end)
    if status is not None:
        query = query.where(VideoAppointment.status == status)
    rows = session.exec(query.order_by(col(VideoAppointment.starts_at)).limit(limit)).all()
    return [(a, p) for a, p in rows]


def summary(settings: Settings, appointment: VideoAppointment, pensioner: Pensioner) -> CallSummary:
    opens, closes = join_window(settings, appointment)
    return CallSummary(
        id=appointment.id,
        status=appointment.status,
        starts_at=_aware(appointment.starts_at),
        ends_at=_aware(appointment.ends_at),
        join_opens_at=opens,
        join_closes_at=closes,
        pensioner_id=pensioner.id,
        pensioner_name=pensioner.name,
        region_code=pensioner.region_code,
        pensioner_timezone=appointment.timezone,
        eligibility=appointment.eligibility,
    )


def frame_check(frame: CallFrame, *, base_url: str) -> FrameCheck:
    check = frame.details
    policy = check.get("policy", {})
    return FrameCheck(
        id=frame.id,
        decision=frame.decision,
        score=frame.score,
        distance=frame.distance,
        reasons=frame.reasons,
        thresholds={k: float(v) for k, v in policy.items()},
        quality_findings=check.get("quality", {}).get("findings", []),
        cohort_size=int(check.get("cohort_size", 0)),
        model=f"{check.get('model_name', '')} {check.get('model_version', '')}".strip(),
        image_url=f"{base_url}/video-calls/{frame.appointment_id}/frames/{frame.id}/image",
        created_at=frame.created_at,
    )


def frames_of(session: Session, appointment_id: uuid.UUID) -> list[CallFrame]:
    return list(
        session.exec(
            select(CallFrame)
            .where(CallFrame.appointment_id == appointment_id)
            .order_by(col(CallFrame.created_at))
        ).all()
    )


def get_frame(*, session: Session, appointment: VideoAppointment, frame_id: uuid.UUID) -> CallFrame:
    frame = session.get(CallFrame, frame_id)
    if frame is None or frame.appointment_id != appointment.id:
        raise VideoCallNotFound("No such frame in this call.")
    return frame


def detail(
    *, session: Session, settings: Settings, appointment: VideoAppointment, base_url: str
) -> CallDetail:
    pensioner = session.get(Pensioner, appointment.pensioner_id)
    assert pensioner is not None
    photos = [
        EnrolledPhoto(
            face_id=f.id,
            url=f"{base_url}/pensioners/{pensioner.id}/faces/{f.id}/photo",
            source=f.source.value,
            created_at=f.created_at,
        )
        for f in gallery.active_faces(session=session, pensioner_id=pensioner.id)
    ]
    valid_until = None
    if appointment.certification_id is not None:
        certification = session.get(Certification, appointment.certification_id)
        valid_until = certification.valid_until if certification else None
    return CallDetail(
        **summary(settings, appointment, pensioner).model_dump(),
        pensioner=PensionerCard.model_validate(pensioner, from_attributes=True),
        enrolled_photos=photos,
        frames=[frame_check(f, base_url=base_url) for f in frames_of(session, appointment.id)],
        read_codes=appointment.read_codes,
        outcome_reason=appointment.outcome_reason,
        override_reason=appointment.override_reason,
        notes=appointment.notes,
        decided_by_id=appointment.decided_by_id,
        decided_at=appointment.decided_at,
        certification_id=appointment.certification_id,
        valid_until=valid_until,
        follow_up_task_id=appointment.evidence.get("follow_up_task_id"),
    )


def require_open(settings: Settings, appointment: VideoAppointment, now: datetime) -> None:
    """The call is booked and its window (early join .. end + grace) is open now."""
    if appointment.status is not AppointmentStatus.booked:
        raise AppointmentClosed(
            f"This call is {appointment.status.value.replace('_', ' ')}; nothing more can be "
            "done in it."
        )
    opens, closes = join_window(settings, appointment)
    if now < opens:
        raise CallWindowNotOpen(
            f"The call opens at {opens:%Y-%m-%d %H:%M} UTC, "
            f"{settings.video_join_early_minutes} minutes before its start."
        )
    if now >= closes:
        raise CallWindowClosed(f"The time of this call ended at {closes:%Y-%m-%d %H:%M} UTC.")


def issue_room_token(
    *,
    settings: Settings,
    appointment: VideoAppointment,
    subject: str,
    role: RoomRole,
    now: datetime,
) -> RoomToken:
    """A token to join this call's room as `role`, valid only within the call's window."""
    if appointment.status is not AppointmentStatus.booked:
        raise AppointmentClosed(
            f"This call is {appointment.status.value.replace('_', ' ')}; it cannot be joined."
        )
    opens, closes = join_window(settings, appointment)
    if now >= closes:
        raise CallWindowClosed(f"The time of this call ended at {closes:%Y-%m-%d %H:%M} UTC.")
    token = create_room_token(
        appointment_id=appointment.id,
        subject=subject,
        role=role,
        not_before=opens,
        expires_at=closes,
        key=settings.signing_key,
    )
    return RoomToken(
        appointment_id=appointment.id,
        role=role,
        token=token,
        not_before=opens,
        expires_at=closes,
        signal_path=SIGNAL_PATH.format(id=appointment.id),
        ice_servers=ice_servers_for(settings, subject=subject, until=closes),
    )


def issue_read_code(
    *,
    session: Session,
    settings: Settings,
    appointment: VideoAppointment,
    actor: Actor,
    now: datetime,
) -> dict[str, Any]:
    """A random 4-digit code for the pensioner to read aloud; kept with the call as evidence."""
    require_open(settings, appointment, now)
    entry = {"code": f"{secrets.randbelow(10_000):04d}", "issued_at": now.isoformat()}
    appointment.read_codes = [*appointment.read_codes, entry]  # a new list: JSON change seen
    appointment.updated_at = now
    audited.write(
        session=session,
        actor=actor,
        rows=[appointment],
        action="video_call.read_code",
        entity_type="pensioner",
        entity_id=appointment.pensioner_id,
        region_code=scope.region_of(session=session, pensioner_id=appointment.pensioner_id),
        after={"appointment_id": str(appointment.id), **entry},
    )
    return entry


def check_frame(
    *,
    session: Session,
    settings: Settings,
    engine: FaceEngine,
    cohort_cache: faces.CohortCache,
    appointment: VideoAppointment,
    data: bytes,
    actor: Actor,
    now: datetime,
) -> CallFrame:
    """Match a frame captured from the pensioner's video against the enrolled gallery, the
    same cohort-normalised check as a remote selfie (app.faces.service.verify), and keep it."""
    require_open(settings, appointment, now)
    try:
        fmt = sniff_format(data)
    except ImageError as exc:
        raise UnsupportedMediaType(
            f"The frame must be a JPEG or PNG picture captured from the video: {exc.message}."
        ) from exc
    if fmt not in FRAME_FORMATS:
        raise UnsupportedMediaType(
            f"The frame must be a JPEG or PNG picture captured from the video, not {fmt}."
        )
    analysis = faces.analyze(data, engine=engine, settings=settings, gate="selfie")
    quality = faces.quality_summary(analysis)
    if analysis.embedding is None:
        first = analysis.quality.findings[0] if analysis.quality.findings else None
        raise NoUsableFace(
            "There is no single face to compare in this frame"
            + (f": {first.en}" if first else ".")
            + " Ask the pensioner to face the camera alone, then capture again.",
            findings=quality["findings"],
        )
    try:
        check = faces.verify(
            session=session,
            settings=settings,
            cohort_cache=cohort_cache,
            pensioner_id=appointment.pensioner_id,
            probes=[analysis.embedding],
        )
    except NotEnrolled as exc:
        raise NotEnrolled(
            "This pensioner has no enrolled photo to compare with; confirm identity another "
            "way and certify with an override_reason."
        ) from exc
    except ValueError as exc:  # the gallery was made with another face model
        raise NotEnrolled(
            f"The enrolled photos cannot be compared with this frame ({exc}); certify with an "
            "override_reason."
        ) from exc
    frame_id = uuid.uuid4()
    relative = f"video_calls/{appointment.id}/{frame_id}.{FRAME_FORMATS[fmt]}"
    record = verification_summary(check) | {"quality": quality}
    frame = CallFrame(
        id=frame_id,
        appointment_id=appointment.id,
        path=relative,
        sha256=hashlib.sha256(data).hexdigest(),
        format=fmt,
        decision=check.decision,
        score=check.score,
        distance=check.distance,
        reasons=list(check.reasons),
        details=record,
        captured_by_id=actor.id,
    )
    audited.write(
        session=session,
        actor=actor,
        rows=[frame],
        action="video_call.frame",
        entity_type="pensioner",
        entity_id=appointment.pensioner_id,
        region_code=scope.region_of(session=session, pensioner_id=appointment.pensioner_id),
        after={
            "appointment_id": str(appointment.id),
            "frame_id": str(frame.id),
            "sha256": frame.sha256,
            "decision": frame.decision,
            "score": frame.score,
            "distance": round(frame.distance, 4),
        },
    )
    media.store(settings=settings, relative=relative, data=data)
    return frame


def needs_confirmation(
    settings: Settings, appointment: VideoAppointment, *, matched: bool, now: datetime
) -> list[str]:
    """Why certifying this call needs a second staff member: `override` (no frame matched the
    enrolled photos) and/or `lapsed` (recorded after the call's window closed)."""
    _, closes = join_window(settings, appointment)
    reasons = [] if matched else ["override"]
    if appointment.status is AppointmentStatus.lapsed or now >= closes:
        reasons.append("lapsed")
    return reasons


def _no_shows_in_year(session: Session, pensioner_id: uuid.UUID, now: datetime) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(VideoAppointment)
            .where(
                VideoAppointment.pensioner_id == pensioner_id,
                VideoAppointment.status == AppointmentStatus.no_show,
                col(VideoAppointment.starts_at) >= now - timedelta(days=365),
            )
        ).one()
    )


def _follow_up(
    *, session: Session, settings: Settings, pensioner: Pensioner, actor: Actor, today: date
) -> VerificationTask | None:
    """A verification task once the no-shows reach the limit (unless one is open already)."""
    open_task = session.exec(
        select(VerificationTask.id).where(
            VerificationTask.pensioner_id == pensioner.id,
            VerificationTask.status == TaskStatus.open,
        )
    ).first()
    if open_task is not None:
        return None
    if pensioner.residence is Residence.overseas:
        kind = TaskKind.remote_prompt  # nobody can visit abroad
    elif pensioner.mobility_limited:
        kind = TaskKind.home_visit
    else:
        kind = TaskKind.community_visit
    return tasks.create(
        session=session,
        settings=settings,
        actor=actor,
        pensioner=pensioner,
        kind=kind,
        reason="video_call_no_show",
        today=today,
    )


def record_outcome(
    *,
    session: Session,
    settings: Settings,
    appointment: VideoAppointment,
    staff: StaffUser,
    actor: Actor,
    body: OutcomeIn,
    now: datetime,
) -> VideoAppointment:
    """Certified (a matching frame, or an override reason), not certified (a reason), or a
    no-show (after the start; enough of them open a verification task). Recorded once.

    A certification by override (no matching frame) or of a lapsed call (recorded after the
    call's window) certifies nothing yet: it awaits a second staff member (confirm_outcome).
    """
    if appointment.status not in DECIDABLE:
        raise AppointmentClosed(
            f"This call is already {appointment.status.value.replace('_', ' ')}."
        )
    opens, _ = join_window(settings, appointment)
    if now < opens:
        raise CallWindowNotOpen(
            f"The call opens at {opens:%Y-%m-%d %H:%M} UTC; record the outcome after that."
        )
    if body.outcome is CallOutcome.no_show and now < _aware(appointment.starts_at):
        raise InvalidOutcome(
            f"A no-show can only be recorded after the start time "
            f"({_aware(appointment.starts_at):%Y-%m-%d %H:%M} UTC)."
        )
    frames = frames_of(session, appointment.id)
    matched = [f for f in frames if f.decision == "match"]
    if body.outcome is CallOutcome.certified and not matched and not body.override_reason:
        raise InvalidOutcome(
            "Certifying needs a captured frame that matched the enrolled photo "
            f"({len(frames)} captured, none matched), or an override_reason saying how the "
            "identity was confirmed instead."
        )
    status = AppointmentStatus(body.outcome.value)
    confirmation_needed = (
        needs_confirmation(settings, appointment, matched=bool(matched), now=now)
        if status is AppointmentStatus.certified
        else []
    )
    if confirmation_needed:
        status = AppointmentStatus.awaiting_confirmation
    before = appointment.status
    # One conditional update: of two outcomes sent at once, exactly one is recorded.
    claimed = session.execute(
        update(VideoAppointment)
        .where(
            col(VideoAppointment.id) == appointment.id,
            col(VideoAppointment.status).in_(DECIDABLE),
        )
        .values(status=status, decided_at=now, decided_by_id=str(staff.id), updated_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise AppointmentClosed("Another outcome was recorded for this call just now.")
    session.refresh(appointment)
    pensioner = session.get(Pensioner, appointment.pensioner_id)
    assert pensioner is not None
    evidence: dict[str, Any] = {
        "appointment_id": str(appointment.id),
        "agent_id": str(staff.id),
        "starts_at": _aware(appointment.starts_at).isoformat(),
        "frames": [
            {
                "frame_id": str(f.id),
                "path": f.path,
                "sha256": f.sha256,
                "decision": f.decision,
                "score": f.score,
                "distance": round(f.distance, 4),
            }
            for f in frames
        ],
        "read_codes": appointment.read_codes,
        "override_reason": body.override_reason,
        "notes": body.notes,
    }
    if confirmation_needed:
        evidence["confirmation_needed"] = confirmation_needed
    appointment.outcome_reason = body.reason
    appointment.override_reason = body.override_reason
    appointment.notes = body.notes
    effect: dict[str, Any] = {}
    if status is AppointmentStatus.certified:
        certification = certify(
            session=session,
            pensioner=pensioner,
            method=CertificationMethod.video_call,
            evidence=evidence,
            actor=actor,
            default_period_months=settings.certification_period_months,
            certified_at=now,
        )
        appointment.certification_id = certification.id
        effect["certification_id"] = str(certification.id)
    elif status is AppointmentStatus.awaiting_confirmation:
        effect["confirmation_needed"] = confirmation_needed
    elif status is AppointmentStatus.no_show:
        no_shows = _no_shows_in_year(session, pensioner.id, now)
        effect["no_shows_in_year"] = no_shows
        if no_shows >= settings.video_no_show_limit:
            task = _follow_up(
                session=session,
                settings=settings,
                pensioner=pensioner,
                actor=actor,
                today=now.date(),
            )
            if task is not None:
                effect["follow_up_task_id"] = str(task.id)
    appointment.evidence = {**evidence, **effect}
    audited.write(
        session=session,
        actor=actor,
        rows=[appointment],
        action=f"video_call.{status.value}",
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        before={"appointment_id": str(appointment.id), "status": before.value},
        after={
            "appointment_id": str(appointment.id),
            "status": status.value,
            "reason": body.reason,
            "override_reason": body.override_reason,
            "frames": len(frames),
            "matched_frames": len(matched),
            "read_codes": [c["code"] for c in appointment.read_codes],
            **effect,
        },
    )
    return appointment


def get_awaiting_in_scope(
    *, session: Session, staff: StaffUser, appointment_id: uuid.UUID
) -> VideoAppointment:
    """A call awaiting a second staff member, whose pensioner is in the staff member's scope."""
    return scope.get_in_scope(
        session=session,
        model=VideoAppointment,
        id=appointment_id,
        staff=staff,
        not_found=lambda: VideoCallNotFound(
            "No call awaiting confirmation with this id in your region."
        ),
        also=lambda appointment: appointment.status is AppointmentStatus.awaiting_confirmation,
    )


def list_awaiting(
    *, session: Session, staff: StaffUser, limit: int
) -> list[tuple[VideoAppointment, Pensioner]]:
    """Calls whose certification awaits a second staff member, oldest outcome first."""
    query = (
        select(VideoAppointment, Pensioner)
        .join(Pensioner, col(Pensioner.id) == VideoAppointment.pensioner_id)
        .where(VideoAppointment.status == AppointmentStatus.awaiting_confirmation)
    )
    query = scope.within(query, Pensioner.region_code, staff)
    rows = session.exec(query.order_by(col(VideoAppointment.decided_at)).limit(limit)).all()
    return [(a, p) for a, p in rows]


def confirmation(
    settings: Settings, appointment: VideoAppointment, pensioner: Pensioner
) -> CallConfirmation:
    return CallConfirmation(
        **summary(settings, appointment, pensioner).model_dump(),
        agent_id=appointment.agent_id,
        decided_by_id=appointment.decided_by_id,
        decided_at=appointment.decided_at,
        override_reason=appointment.override_reason,
        notes=appointment.notes,
        outcome_reason=appointment.outcome_reason,
        confirmation_needed=appointment.evidence.get("confirmation_needed", []),
        evidence=appointment.evidence,
        confirmed_by_id=appointment.confirmed_by_id,
        confirmed_at=appointment.confirmed_at,
        certification_id=appointment.certification_id,
    )


def confirm_outcome(
    *,
    session: Session,
    settings: Settings,
    appointment: VideoAppointment,
    staff: StaffUser,
    actor: Actor,
    body: ConfirmationIn,
    now: datetime,
) -> VideoAppointment:
    """The second pair of eyes on a certification by override or of a lapsed call: confirm
    (certifies, method video_call, both people in the evidence) or refuse (not certified)."""
    if appointment.decided_by_id == str(staff.id):
        raise PermissionDenied(
            "You recorded this outcome, so another staff member must confirm it."
        )
    status = AppointmentStatus.certified if body.confirm else AppointmentStatus.not_certified
    claimed = session.execute(
        update(VideoAppointment)
        .where(
            col(VideoAppointment.id) == appointment.id,
            col(VideoAppointment.status) == AppointmentStatus.awaiting_confirmation,
        )
        .values(status=status, confirmed_by_id=str(staff.id), confirmed_at=now, updated_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise AppointmentClosed("This call was confirmed or refused just now.")
    session.refresh(appointment)
    pensioner = session.get(Pensioner, appointment.pensioner_id)
    assert pensioner is not None
    effect: dict[str, Any] = {}
    if body.confirm:
        evidence = {**appointment.evidence, "confirmed_by": str(staff.id), "note": body.reason}
        certification = certify(
            session=session,
            pensioner=pensioner,
            method=CertificationMethod.video_call,
            evidence=evidence,
            actor=actor,
            default_period_months=settings.certification_period_months,
            certified_at=_aware(appointment.decided_at or now),
        )
        appointment.certification_id = certification.id
        appointment.evidence = {**evidence, "certification_id": str(certification.id)}
        effect["certification_id"] = str(certification.id)
    else:
        appointment.outcome_reason = body.reason
        appointment.evidence = {**appointment.evidence, "refused_by": str(staff.id)}
    audited.write(
        session=session,
        actor=actor,
        rows=[appointment],
        action="video_call.confirm" if body.confirm else "video_call.confirmation_refused",
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        before={"appointment_id": str(appointment.id), "status": "awaiting_confirmation"},
        after={
            "appointment_id": str(appointment.id),
            "status": status.value,
            "recorded_by": appointment.decided_by_id,
            "reason": body.reason,
            **effect,
        },
    )
    return appointment
