"""The daily certification schedule: reminders before expiry and when overdue, then suspension.

Idempotent: a reminder is recorded once per stage and validity date (a unique key), and a
pensioner already suspended is not suspended again, so the job can run twice a day or be
re-run after a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlmodel import Session, col, select

from app.audit.service import Actor
from app.auth.senders import OtpSender
from app.config import Settings
from app.payments import service as payments
from models.certification import SuspensionReason
from models.pensioner import BenefitStatus, Language, Pensioner
from models.reminder import CertificationReminder, ReminderStage

SCHEDULER = Actor(type="system", id="certification-schedule")
BATCH = 1000


@dataclass
class ScheduleReport:
    today: date
    reminded_due_soon: int = 0
    reminded_overdue: int = 0
    suspended: int = 0
    suspended_ids: list[str] = field(default_factory=list)


def reminder_text(*, stage: ReminderStage, due: date, language: Language) -> str:
    if language is Language.en:
        if stage is ReminderStage.due_soon:
            return (
                f"[lifecert] Your pension certification is valid until {due:%d %B %Y}. "
                "Please certify on the lifecert page or app before then; it takes 2 minutes."
            )
        return (
            f"[lifecert] Your pension certification expired on {due:%d %B %Y}. Please "
            "certify now on the page or app, or call us to book a video call or a visit."
        )
    if stage is ReminderStage.due_soon:
        return (
            f"【养老金资格认证】您的资格认证有效期至{due:%Y年%m月%d日}，请在此之前通过"
            "手机或网页完成认证，约需2分钟。"
        )
    return (
        f"【养老金资格认证】您的资格认证已于{due:%Y年%m月%d日}到期，请尽快通过手机或网页"
        "认证，也可来电预约视频认证或上门服务。"
    )


def _due_batches(
    session: Session, *, since: date | None, before: date, stage: ReminderStage
) -> list[Pensioner]:
    reminded = select(CertificationReminder.pensioner_id).where(
        CertificationReminder.stage == stage,
        CertificationReminder.due_date == Pensioner.certified_until,
        CertificationReminder.pensioner_id == Pensioner.id,
    )
    return list(
        session.exec(
            select(Pensioner)
            .where(
                col(Pensioner.certified_until).is_not(None),
                col(Pensioner.certified_until) < before,
                col(Pensioner.certified_until) >= (since or date.min),
                Pensioner.benefit_status == BenefitStatus.active,
                ~reminded.exists(),
            )
            .order_by(col(Pensioner.id))
            .limit(BATCH)
        ).all()
    )


def run(*, session: Session, settings: Settings, sender: OtpSender, today: date) -> ScheduleReport:
    """Send due-soon and overdue reminders and suspend payment after the grace period."""
    report = ScheduleReport(today=today)
    stages = (
        (ReminderStage.overdue, None, today),
        (ReminderStage.due_soon, today, today + timedelta(days=settings.reminder_days_before + 1)),
    )
    for stage, since, before in stages:
        while batch := _due_batches(session, since=since, before=before, stage=stage):
            for pensioner in batch:
                assert pensioner.certified_until is not None
                session.add(
                    CertificationReminder(
                        pensioner_id=pensioner.id, stage=stage, due_date=pensioner.certified_until
                    )
                )
                sender.send(
                    phone=pensioner.phone,
                    message=reminder_text(
                        stage=stage,
                        due=pensioner.certified_until,
                        language=pensioner.preferred_language,
                    ),
                )
            # Committed per batch: a crash repeats at most one batch of messages.
            session.commit()
            if stage is ReminderStage.overdue:
                report.reminded_overdue += len(batch)
            else:
                report.reminded_due_soon += len(batch)
    cutoff = today - timedelta(days=settings.overdue_grace_days)
    while True:
        lapsed = session.exec(
            select(Pensioner)
            .where(
                col(Pensioner.certified_until) < cutoff,
                Pensioner.benefit_status == BenefitStatus.active,
            )
            .order_by(col(Pensioner.id))
            .limit(BATCH)
        ).all()
        if not lapsed:
            break
        for pensioner in lapsed:
            payments.suspend(
                session=session,
                pensioner=pensioner,
                reason=SuspensionReason.certification_overdue,
                suspended_from=today,
                actor=SCHEDULER,
                evidence={
                    "certified_until": str(pensioner.certified_until),
                    "grace_days": settings.overdue_grace_days,
                },
            )
            report.suspended_ids.append(str(pensioner.id))
        session.commit()
        report.suspended += len(lapsed)
    return report


def parse_day(value: str | None) -> date:
    return date.fromisoformat(value) if value else date.today()
