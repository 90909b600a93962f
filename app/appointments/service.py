"""Booking video calls: who is offered one, agents' availability, open slots in the
pensioner's time zone, booking, rescheduling and cancelling within the notice periods.

Double booking is refused twice: here, by looking for a booked call first, and by the
database, whose partial unique indexes allow one booked call per agent and start time and one
per pensioner (two requests racing past the first check meet the second).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from app.appointments import slots as slotting
from app.appointments.errors import (
    AlreadyBooked,
    AppointmentClosed,
    AppointmentNotFound,
    SlotNotAvailable,
    SlotTaken,
    TooLateToChange,
    UnknownTimeZone,
    VideoCallNotOffered,
)
from app.appointments.schemas import (
    AppointmentRead,
    AvailabilityIn,
    AvailabilityRead,
    Eligibility,
    ExceptionRead,
    WeeklyHoursIn,
)
from app.attempts.schemas import Instruction
from app.attempts.service import failed_recently
from app.audit import service as audit
from app.audit.service import Actor
from app.config import Settings
from app.kit import audited
from models.attempt import AttemptStatus, CertificationAttempt
from models.certification import Certification
from models.face import EnrolledFace
from models.pensioner import Pensioner, Residence
from models.staff import Role, StaffUser
from models.video_call import (
    AppointmentStatus,
    AvailabilityException,
    AvailabilityRule,
    VideoAppointment,
)

SYSTEM = Actor(type="system", id="video-booking")
OFFERED = Instruction(
    zh="您可以预约视频认证：选一个时间，届时用手机或电脑与工作人员视频通话，请准备好身份证件。",
    en="You can book a video call: pick a time, then talk to staff by video from your phone or "
    "computer. Have your ID card or passport ready.",
)
NOT_OFFERED = Instruction(
    zh="视频认证只面向居住在境外的人员和无法完成远程自助认证的人员，请先使用手机或网页自助认证。",
    en="Video calls are for pensioners living abroad and for those who cannot certify "
    "remotely. Please certify with the app or page first.",
)


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: str) -> ZoneInfo:
    """The IANA zone, or UnknownTimeZone naming the bad value."""
    if name not in _timezones():
        raise UnknownTimeZone(
            f"{name!r} is not an IANA time zone name such as Asia/Shanghai or Pacific/Auckland."
        )
    return ZoneInfo(name)


def pensioner_zone(pensioner: Pensioner, settings: Settings, override: str | None = None) -> str:
    """The zone to show a pensioner times in: the request's, their choice, where they live
    abroad, else the service's default (China time)."""
    name = (
        override
        or pensioner.display_timezone
        or pensioner.overseas_timezone
        or settings.video_default_timezone
    )
    zone(name)
    return name


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- who is offered a call --------------------------------------------------------------------


def eligibility_reasons(*, session: Session, settings: Settings, pensioner: Pensioner) -> list[str]:
    """Why a video call is offered: living abroad; locked out of remote attempts; the latest
    remote attempt was refused (its outcome offers a call); or no photo on file (remote
    certification is impossible). Empty: not offered."""
    reasons: list[str] = []
    if pensioner.residence is Residence.overseas:
        reasons.append("overseas")
    failures = failed_recently(
        session=session, pensioner_id=pensioner.id, hours=settings.attempts_lockout_hours
    )
    if failures >= settings.attempts_failed_limit:
        reasons.append("locked_out")
    latest = session.exec(
        select(CertificationAttempt.status)
        .where(CertificationAttempt.pensioner_id == pensioner.id)
        .order_by(col(CertificationAttempt.created_at).desc())
        .limit(1)
    ).first()
    if latest is AttemptStatus.rejected:
        reasons.append("remote_rejected")
    enrolled = session.exec(
        select(EnrolledFace.id).where(
            EnrolledFace.pensioner_id == pensioner.id, col(EnrolledFace.active)
        )
    ).first()
    if enrolled is None:
        reasons.append("not_enrolled")
    return reasons


def eligibility(
    *, session: Session, settings: Settings, pensioner: Pensioner, zone_name: str
) -> Eligibility:
    reasons = eligibility_reasons(session=session, settings=settings, pensioner=pensioner)
    return Eligibility(
        eligible=bool(reasons),
        reasons=reasons,
        timezone=zone_name,
        message=OFFERED if reasons else NOT_OFFERED,
    )


def require_eligible(*, session: Session, settings: Settings, pensioner: Pensioner) -> list[str]:
    reasons = eligibility_reasons(session=session, settings=settings, pensioner=pensioner)
    if not reasons:
        raise VideoCallNotOffered()
    return reasons


# --- agents' availability ---------------------------------------------------------------------


@dataclass(frozen=True)
class AgentSchedule:
    zone_name: str
    weekly: list[slotting.WeeklyHours]
    exceptions: list[slotting.DateException]
    exception_rows: list[AvailabilityException]


def load_schedule(*, session: Session, settings: Settings, agent_id: uuid.UUID) -> AgentSchedule:
    rules = session.exec(
        select(AvailabilityRule)
        .where(AvailabilityRule.agent_id == agent_id)
        .order_by(col(AvailabilityRule.weekday), col(AvailabilityRule.start_time))
    ).all()
    exceptions = session.exec(
        select(AvailabilityException)
        .where(AvailabilityException.agent_id == agent_id)
        .order_by(col(AvailabilityException.starts_on), col(AvailabilityException.start_time))
    ).all()
    zone_name = (
        rules[0].timezone
        if rules
        else exceptions[0].timezone
        if exceptions
        else settings.video_default_timezone
    )
    return AgentSchedule(
        zone_name=zone_name,
        weekly=[slotting.WeeklyHours(r.weekday, r.start_time, r.end_time) for r in rules],
        exceptions=[
            slotting.DateException(e.kind, e.starts_on, e.ends_on, e.start_time, e.end_time)
            for e in exceptions
        ],
        exception_rows=list(exceptions),
    )


def availability_read(
    *, session: Session, settings: Settings, agent: StaffUser
) -> AvailabilityRead:
    schedule = load_schedule(session=session, settings=settings, agent_id=agent.id)
    return AvailabilityRead(
        agent_id=agent.id,
        timezone=schedule.zone_name,
        slot_minutes=settings.video_slot_minutes,
        weekly=[
            WeeklyHoursIn(weekday=w.weekday, start=w.start, end=w.end) for w in schedule.weekly
        ],
        exceptions=[
            ExceptionRead(
                id=e.id,
                kind=e.kind,
                starts_on=e.starts_on,
                ends_on=e.ends_on,
                start=e.start_time,
                end=e.end_time,
                reason=e.reason,
            )
            for e in schedule.exception_rows
        ],
    )


def set_availability(
    *, session: Session, settings: Settings, agent: StaffUser, data: AvailabilityIn, actor: Actor
) -> AvailabilityRead:
    """Replace the agent's weekly hours and exceptions. Calls already booked stay booked."""
    zone(data.timezone)
    before = availability_read(session=session, settings=settings, agent=agent)
    for model in (AvailabilityRule, AvailabilityException):
        for row in session.exec(select(model).where(model.agent_id == agent.id)):
            session.delete(row)
    session.flush()
    for hours in data.weekly:
        session.add(
            AvailabilityRule(
                agent_id=agent.id,
                weekday=hours.weekday,
                start_time=hours.start,
                end_time=hours.end,
                timezone=data.timezone,
            )
        )
    for exc in data.exceptions:
        session.add(
            AvailabilityException(
                agent_id=agent.id,
                kind=exc.kind,
                starts_on=exc.starts_on,
                ends_on=exc.ends_on,
                start_time=exc.start,
                end_time=exc.end,
                timezone=data.timezone,
                reason=exc.reason,
            )
        )
    session.flush()
    after = availability_read(session=session, settings=settings, agent=agent)
    audit.record(
        session=session,
        actor=actor,
        action="video_agent.availability",
        entity_type="staff_user",
        entity_id=agent.id,
        region_code=agent.region_scope or None,
        before=before.model_dump(mode="json", exclude={"exceptions"})
        | {"exceptions": len(before.exceptions)},
        after=data.model_dump(mode="json"),
    )
    return after


# --- open slots -------------------------------------------------------------------------------


def agents_for(*, session: Session, region_code: str) -> list[StaffUser]:
    """Active video agents whose region scope covers the region, in a stable order."""
    staff = session.exec(select(StaffUser).where(col(StaffUser.is_active))).all()
    return sorted(
        (s for s in staff if s.has_role(Role.video_agent) and s.covers_region(region_code)),
        key=lambda s: str(s.id),
    )


def _booked_intervals(
    session: Session, agent_id: uuid.UUID, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    rows = session.exec(
        select(VideoAppointment.starts_at, VideoAppointment.ends_at).where(
            VideoAppointment.agent_id == agent_id,
            VideoAppointment.status == AppointmentStatus.booked,
            col(VideoAppointment.starts_at) < end,
            col(VideoAppointment.ends_at) > start,
        )
    ).all()
    return [(_aware(s), _aware(e)) for s, e in rows]


def _agent_slots(
    *,
    session: Session,
    settings: Settings,
    agent: StaffUser,
    start: datetime,
    end: datetime,
) -> tuple[list[slotting.Slot], list[tuple[datetime, datetime]]]:
    """The agent's slots starting in [start, end), and the booked calls among them."""
    schedule = load_schedule(session=session, settings=settings, agent_id=agent.id)
    agent_zone = ZoneInfo(schedule.zone_name)
    first_day, last_day = slotting.local_dates(start, end, agent_zone)
    candidates = [
        s
        for s in slotting.expand(
            weekly=schedule.weekly,
            exceptions=schedule.exceptions,
            zone=agent_zone,
            first_day=first_day,
            last_day=last_day,
            slot_minutes=settings.video_slot_minutes,
        )
        if start <= s.starts_at < end
    ]
    if not candidates:
        return [], []
    booked = _booked_intervals(session, agent.id, candidates[0].starts_at, candidates[-1].ends_at)
    return candidates, booked


def _bookable_range(settings: Settings, now: datetime) -> tuple[datetime, datetime]:
    return (
        now + timedelta(hours=settings.video_booking_notice_hours),
        now + timedelta(days=settings.video_booking_horizon_days),
    )


def open_slots(
    *,
    session: Session,
    settings: Settings,
    pensioner: Pensioner,
    zone_name: str,
    first_day: date,
    days: int,
    now: datetime,
) -> list[slotting.Slot]:
    """Times at which an agent serving the pensioner's region is free, on the pensioner's
    local dates first_day.. +days, outside the booking notice and within the horizon; once
    each, whoever is free (the agent is assigned when booking)."""
    start, end = slotting.day_range_utc(first_day, days, zone(zone_name))
    earliest, latest = _bookable_range(settings, now)
    start, end = max(start, earliest), min(end, latest)
    if start >= end:
        return []
    found: set[slotting.Slot] = set()
    for agent in agents_for(session=session, region_code=pensioner.region_code):
        candidates, booked = _agent_slots(
            session=session, settings=settings, agent=agent, start=start, end=end
        )
        found.update(
            s
            for s in candidates
            if not any(slotting.overlaps(s.starts_at, s.ends_at, b, e) for b, e in booked)
        )
    return sorted(found, key=lambda s: (s.starts_at, s.ends_at))


# --- booking ----------------------------------------------------------------------------------


def booked_for(*, session: Session, pensioner_id: uuid.UUID) -> VideoAppointment | None:
    return session.exec(
        select(VideoAppointment).where(
            VideoAppointment.pensioner_id == pensioner_id,
            VideoAppointment.status == AppointmentStatus.booked,
        )
    ).first()


def _lapse_past(
    *, session: Session, settings: Settings, pensioner: Pensioner, now: datetime
) -> None:
    """A booked call whose time is over with no outcome stops blocking a new booking."""
    cutoff = now - timedelta(minutes=settings.video_join_grace_minutes)
    past = session.exec(
        select(VideoAppointment).where(
            VideoAppointment.pensioner_id == pensioner.id,
            VideoAppointment.status == AppointmentStatus.booked,
            col(VideoAppointment.ends_at) < cutoff,
        )
    ).all()
    for appointment in past:
        appointment.status = AppointmentStatus.lapsed
        appointment.updated_at = now
        audited.write(
            session=session,
            actor=SYSTEM,
            rows=[appointment],
            **audit.pensioner_event(
                "video_appointment.lapse",
                pensioner,
                before={"appointment_id": str(appointment.id), "status": "booked"},
                after={"appointment_id": str(appointment.id), "status": "lapsed"},
            ),
        )


def _round_robin(session: Session, agents: list[StaffUser]) -> list[StaffUser]:
    """The agents, the one assigned a call longest ago (or never) first: the service takes
    turns among the agents free at a time, so a pensioner cannot choose who certifies them."""
    last = dict(
        session.exec(
            select(VideoAppointment.agent_id, func.max(VideoAppointment.created_at))
            .where(col(VideoAppointment.agent_id).in_([a.id for a in agents]))
            .group_by(col(VideoAppointment.agent_id))
        ).all()
    )
    never = datetime.min.replace(tzinfo=UTC)
    return sorted(agents, key=lambda a: (_aware(last[a.id]) if a.id in last else never, str(a.id)))


def book(
    *,
    session: Session,
    settings: Settings,
    pensioner: Pensioner,
    starts_at: datetime,
    zone_name: str,
    actor: Actor,
    now: datetime,
    replaces: VideoAppointment | None = None,
) -> VideoAppointment:
    """Book the slot starting at starts_at with an agent the service assigns: in turn among
    the agents free at that time (never one the pensioner picks)."""
    starts_at = _aware(starts_at)
    zone(zone_name)
    if replaces is None:
        reasons = require_eligible(session=session, settings=settings, pensioner=pensioner)
    else:
        reasons = list(replaces.eligibility)
    earliest, latest = _bookable_range(settings, now)
    if starts_at < earliest:
        raise SlotNotAvailable(
            f"Calls must be booked at least {settings.video_booking_notice_hours} hours ahead; "
            "pick a later time."
        )
    if starts_at > latest:
        raise SlotNotAvailable(
            f"Calls can be booked at most {settings.video_booking_horizon_days} days ahead; "
            "pick an earlier time."
        )
    _lapse_past(session=session, settings=settings, pensioner=pensioner, now=now)
    if booked_for(session=session, pensioner_id=pensioner.id) is not None:
        raise AlreadyBooked()
    agents = agents_for(session=session, region_code=pensioner.region_code)
    ends_at = starts_at + timedelta(minutes=settings.video_slot_minutes)
    free: list[StaffUser] = []
    taken = False
    for agent in agents:
        candidates, booked = _agent_slots(
            session=session,
            settings=settings,
            agent=agent,
            start=starts_at,
            end=starts_at + timedelta(seconds=1),
        )
        if not any(s.starts_at == starts_at for s in candidates):
            continue
        if any(slotting.overlaps(starts_at, ends_at, b, e) for b, e in booked):
            taken = True
            continue
        free.append(agent)
    if not free:
        if taken:
            raise SlotTaken()
        raise SlotNotAvailable()
    for agent in _round_robin(session, free):
        appointment = VideoAppointment(
            pensioner_id=pensioner.id,
            agent_id=agent.id,
            region_code=pensioner.region_code,
            starts_at=starts_at,
            ends_at=ends_at,
            eligibility=reasons,
            timezone=zone_name,
            rescheduled_from_id=replaces.id if replaces else None,
        )
        try:
            with session.begin_nested():
                session.add(appointment)
                session.flush()
            break
        except IntegrityError:
            # Another request booked between our check and our insert: this pensioner (a
            # second booking of theirs), or this agent at this time (try the next agent).
            if booked_for(session=session, pensioner_id=pensioner.id) is not None:
                raise AlreadyBooked() from None
    else:
        raise SlotTaken()
    audit.record(
        session=session,
        actor=actor,
        action="video_appointment.reschedule" if replaces else "video_appointment.book",
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        before={"appointment_id": str(replaces.id), "starts_at": replaces.starts_at}
        if replaces
        else None,
        after={
            "appointment_id": str(appointment.id),
            "agent_id": str(agent.id),
            "starts_at": starts_at,
            "timezone": zone_name,
            "eligibility": reasons,
        },
    )
    return appointment


def get_own(
    *, session: Session, pensioner: Pensioner, appointment_id: uuid.UUID
) -> VideoAppointment:
    appointment = session.get(VideoAppointment, appointment_id)
    if appointment is None or appointment.pensioner_id != pensioner.id:
        raise AppointmentNotFound()
    return appointment


def list_own(*, session: Session, pensioner: Pensioner, limit: int = 50) -> list[VideoAppointment]:
    return list(
        session.exec(
            select(VideoAppointment)
            .where(VideoAppointment.pensioner_id == pensioner.id)
            .order_by(col(VideoAppointment.starts_at).desc())
            .limit(limit)
        ).all()
    )


def _require_changeable(settings: Settings, appointment: VideoAppointment, now: datetime) -> None:
    if appointment.status is not AppointmentStatus.booked:
        raise AppointmentClosed(
            f"This appointment is {appointment.status.value.replace('_', ' ')}; "
            "it can no longer be changed."
        )
    deadline = change_deadline(settings, appointment)
    if now >= deadline:
        local = _aware(appointment.starts_at).astimezone(ZoneInfo(appointment.timezone))
        raise TooLateToChange(
            f"Calls can be changed or cancelled until {settings.video_change_notice_hours} hours "
            f"before they start; this one starts at {local:%Y-%m-%d %H:%M} "
            f"({appointment.timezone}). Please join it; a missed call counts as a no-show."
        )


def change_deadline(settings: Settings, appointment: VideoAppointment) -> datetime:
    return _aware(appointment.starts_at) - timedelta(hours=settings.video_change_notice_hours)


def cancel(
    *,
    session: Session,
    settings: Settings,
    pensioner: Pensioner,
    appointment: VideoAppointment,
    reason: str | None,
    actor: Actor,
    now: datetime,
) -> VideoAppointment:
    _require_changeable(settings, appointment, now)
    appointment.status = AppointmentStatus.cancelled
    appointment.cancelled_at = appointment.updated_at = now
    appointment.cancel_reason = reason
    audited.write(
        session=session,
        actor=actor,
        rows=[appointment],
        **audit.pensioner_event(
            "video_appointment.cancel",
            pensioner,
            before={"appointment_id": str(appointment.id), "status": "booked"},
            after={"appointment_id": str(appointment.id), "status": "cancelled", "reason": reason},
        ),
    )
    return appointment


def reschedule(
    *,
    session: Session,
    settings: Settings,
    pensioner: Pensioner,
    appointment: VideoAppointment,
    starts_at: datetime,
    zone_name: str,
    actor: Actor,
    now: datetime,
) -> VideoAppointment:
    """Move to another slot: the old appointment becomes `rescheduled`, a new one is booked
    (in one transaction: if the new slot is taken, the old booking stays)."""
    _require_changeable(settings, appointment, now)
    appointment.status = AppointmentStatus.rescheduled
    appointment.updated_at = now
    session.add(appointment)
    session.flush()
    return book(
        session=session,
        settings=settings,
        pensioner=pensioner,
        starts_at=starts_at,
        zone_name=zone_name,
        actor=actor,
        now=now,
        replaces=appointment,
    )


def join_window(settings: Settings, appointment: VideoAppointment) -> tuple[datetime, datetime]:
    """When the two parties may join the call's room."""
    return (
        _aware(appointment.starts_at) - timedelta(minutes=settings.video_join_early_minutes),
        _aware(appointment.ends_at) + timedelta(minutes=settings.video_join_grace_minutes),
    )


def to_read(
    *,
    session: Session,
    settings: Settings,
    appointment: VideoAppointment,
    zone_name: str | None = None,
) -> AppointmentRead:
    shown = zone(zone_name or appointment.timezone)
    agent = session.get(StaffUser, appointment.agent_id)
    opens, closes = join_window(settings, appointment)
    valid_until = None
    if appointment.certification_id is not None:
        certification = session.get(Certification, appointment.certification_id)
        valid_until = certification.valid_until if certification else None
    starts, ends = _aware(appointment.starts_at), _aware(appointment.ends_at)
    return AppointmentRead(
        id=appointment.id,
        status=appointment.status,
        starts_at=starts,
        ends_at=ends,
        timezone=zone_name or appointment.timezone,
        local_starts_at=starts.astimezone(shown),
        local_ends_at=ends.astimezone(shown),
        agent_name=(agent.full_name or agent.username) if agent else "",
        join_opens_at=opens,
        join_closes_at=closes,
        change_deadline=change_deadline(settings, appointment),
        eligibility=appointment.eligibility,
        rescheduled_from_id=appointment.rescheduled_from_id,
        cancelled_at=appointment.cancelled_at,
        outcome_reason=appointment.outcome_reason
        if appointment.status is AppointmentStatus.not_certified
        else None,
        valid_until=valid_until,
        created_at=appointment.created_at,
    )
