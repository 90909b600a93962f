"""Reminders of booked video calls, a day and an hour before, in the pensioner's language and
time zone. Each is recorded once per appointment and kind (a unique key), so the job can run
every few minutes without repeating one; a rescheduled call is a new appointment with its own
reminders.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from app.auth.senders import OtpSender
from models.pensioner import Language, Pensioner
from models.video_call import (
    AppointmentReminder,
    AppointmentStatus,
    CallReminderKind,
    VideoAppointment,
)

BATCH = 500
# Kind -> how long before the start it is due. Only the nearest kind that is due goes out, and
# a call booked less than a day ahead gets no day-before reminder (the booking is fresh).
LEAD = {
    CallReminderKind.day_before: timedelta(hours=24),
    CallReminderKind.hour_before: timedelta(hours=1),
}


@dataclass
class CallReminderReport:
    day_before: int = 0
    hour_before: int = 0


def reminder_text(
    *, kind: CallReminderKind, starts_at: datetime, zone: str, language: Language
) -> str:
    local = starts_at.astimezone(ZoneInfo(zone))
    if language is Language.en:
        when = f"{local:%A %d %B %Y at %H:%M} ({zone} time)"
        if kind is CallReminderKind.hour_before:
            return (
                f"[lifecert] Your video certification call starts in about an hour: {when}. "
                "Open the lifecert page a few minutes early and have your ID ready."
            )
        return (
            f"[lifecert] Reminder: your video certification call is on {when}. To change or "
            "cancel it, use the lifecert page."
        )
    when = f"{local:%Y年%m月%d日 %H:%M}（{zone} 时间）"
    if kind is CallReminderKind.hour_before:
        return (
            f"【养老金资格认证】您预约的视频认证将在约一小时后开始：{when}。"
            "请提前几分钟打开认证页面，并准备好身份证件。"
        )
    return (
        f"【养老金资格认证】提醒：您预约的视频认证时间为{when}。如需改期或取消，请在认证页面操作。"
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _due(
    session: Session, *, kind: CallReminderKind, now: datetime, skip: set[uuid.UUID]
) -> list[tuple[VideoAppointment, Pensioner]]:
    sent = select(AppointmentReminder.id).where(
        AppointmentReminder.appointment_id == VideoAppointment.id,
        AppointmentReminder.kind == kind,
    )
    query = (
        select(VideoAppointment, Pensioner)
        .join(Pensioner, col(Pensioner.id) == VideoAppointment.pensioner_id)
        .where(
            VideoAppointment.status == AppointmentStatus.booked,
            col(VideoAppointment.starts_at) > now,
            col(VideoAppointment.starts_at) <= now + LEAD[kind],
            ~sent.exists(),
        )
    )
    if kind is CallReminderKind.day_before:
        hour = LEAD[CallReminderKind.hour_before]
        query = query.where(col(VideoAppointment.starts_at) > now + hour)
    if skip:
        query = query.where(col(VideoAppointment.id).not_in(skip))
    rows = session.exec(query.order_by(col(VideoAppointment.starts_at)).limit(BATCH)).all()
    return [(a, p) for a, p in rows]


def send_due(
    *, session: Session, sender: OtpSender, now: datetime | None = None
) -> CallReminderReport:
    """Send every reminder that is due and not sent yet; commits per batch."""
    now = now or datetime.now(UTC)
    report = CallReminderReport()
    for kind in (CallReminderKind.hour_before, CallReminderKind.day_before):
        skip: set[uuid.UUID] = set()
        while batch := _due(session, kind=kind, now=now, skip=skip):
            sent = 0
            for appointment, pensioner in batch:
                starts_at = _aware(appointment.starts_at)
                booked_ahead = starts_at - _aware(appointment.created_at)
                if kind is CallReminderKind.day_before and booked_ahead < LEAD[kind]:
                    skip.add(appointment.id)
                    continue
                session.add(AppointmentReminder(appointment_id=appointment.id, kind=kind))
                sender.send(
                    phone=pensioner.phone,
                    message=reminder_text(
                        kind=kind,
                        starts_at=starts_at,
                        zone=appointment.timezone,
                        language=pensioner.preferred_language,
                    ),
                )
                sent += 1
            # Committed per batch: a crash repeats at most one batch of messages.
            session.commit()
            if kind is CallReminderKind.day_before:
                report.day_before += sent
            else:
                report.hour_before += sent
    return report
