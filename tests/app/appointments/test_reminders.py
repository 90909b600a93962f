"""Reminders a day and an hour before a call: once each, in the pensioner's language and zone."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from app.appointments import reminders
from app.auth.senders import OutboxSender
from app.config import Settings
from models.pensioner import Language, Residence
from models.video_call import AppointmentReminder, AppointmentStatus, CallReminderKind
from tests.app.appointments.world import appointment, now_minute, video_agent
from tests.conftest import Factory


def _messages(settings: Settings) -> list[str]:
    if not settings.outbox_dir.exists():
        return []
    return [p.read_text() for p in sorted(settings.outbox_dir.glob("*.txt"))]


def test_day_and_hour_reminders_go_out_once(
    db: Session, factory: Factory, settings: Settings
) -> None:
    agent = video_agent(factory)
    abroad = factory.pensioner(
        residence=Residence.overseas,
        overseas_country="NZ",
        overseas_timezone="Pacific/Auckland",
        preferred_language=Language.en,
        phone="6421000001",
    )
    at_home = factory.pensioner(phone="13900000009")
    start = now_minute().replace(hour=2) + timedelta(days=1)  # 02:00 UTC tomorrow
    call = appointment(factory, abroad, agent, starts_at=start, zone="Pacific/Auckland")
    soon = appointment(
        factory, at_home, agent, starts_at=start - timedelta(hours=3), zone="Asia/Shanghai"
    )
    cancelled = appointment(
        factory,
        factory.pensioner(),
        agent,
        starts_at=start + timedelta(hours=1),
        status=AppointmentStatus.cancelled,
    )
    for row in (call, soon, cancelled):
        row.created_at = start - timedelta(days=5)  # booked well ahead
        db.add(row)
    db.commit()
    sender = OutboxSender(settings.outbox_dir)

    # 23 hours before the first call, 20 hours before the second: both get the day reminder.
    first_run = start - timedelta(hours=23)
    report = reminders.send_due(session=db, sender=sender, now=first_run)
    assert (report.day_before, report.hour_before) == (2, 0)
    texts = _messages(settings)
    local = start.astimezone(ZoneInfo("Pacific/Auckland"))
    assert any(
        "6421000001" in t and f"{local:%d %B %Y at %H:%M}" in t and "Pacific/Auckland" in t
        for t in texts
    ), texts
    assert any("13900000009" in t and "视频认证" in t for t in texts)
    again = reminders.send_due(session=db, sender=sender, now=first_run + timedelta(minutes=5))
    assert (again.day_before, again.hour_before) == (0, 0)

    # Within the hour: the hour reminder, once.
    hour = reminders.send_due(session=db, sender=sender, now=start - timedelta(minutes=50))
    assert (hour.day_before, hour.hour_before) == (0, 1)
    assert "about an hour" in _messages(settings)[-1]
    assert reminders.send_due(session=db, sender=sender, now=start - timedelta(minutes=45)) == (
        reminders.CallReminderReport(0, 0)
    )
    kinds = db.exec(
        select(AppointmentReminder.kind).where(AppointmentReminder.appointment_id == call.id)
    ).all()
    assert sorted(kinds) == [CallReminderKind.day_before, CallReminderKind.hour_before]
    assert not db.exec(
        select(AppointmentReminder).where(AppointmentReminder.appointment_id == cancelled.id)
    ).all()
    assert soon.id != call.id


def test_a_call_booked_less_than_a_day_ahead_gets_only_the_hour_reminder(
    db: Session, factory: Factory, settings: Settings
) -> None:
    agent = video_agent(factory)
    sender = OutboxSender(settings.outbox_dir)
    start = now_minute() + timedelta(hours=3)
    appointment(factory, factory.pensioner(), agent, starts_at=start)  # booked now
    fresh = reminders.send_due(session=db, sender=sender)
    assert (fresh.day_before, fresh.hour_before) == (0, 0)
    hour = reminders.send_due(session=db, sender=sender, now=start - timedelta(minutes=55))
    assert (hour.day_before, hour.hour_before) == (0, 1)
    assert "一小时后" in _messages(settings)[0]
    assert len(_messages(settings)) == 1
