"""The daily schedule: reminders once per stage, suspension after the grace period, resumption."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import Session, select

from app.audit.service import SYSTEM
from app.auth.senders import OutboxSender
from app.certifications import schedule
from app.certifications.service import certify
from app.config import Settings
from models.certification import CertificationMethod, PaymentSuspension
from models.pensioner import BenefitStatus, Language
from tests.conftest import Factory

TODAY = date(2026, 11, 29)


def _messages(settings: Settings) -> list[str]:
    if not settings.outbox_dir.exists():
        return []
    return [p.read_text() for p in sorted(settings.outbox_dir.glob("*.txt"))]


def _run(db: Session, settings: Settings, today: date = TODAY) -> schedule.ScheduleReport:
    return schedule.run(
        session=db, settings=settings, sender=OutboxSender(settings.outbox_dir), today=today
    )


def test_reminders_go_out_once_per_stage(db: Session, factory: Factory, settings: Settings) -> None:
    soon = factory.pensioner(certified_until=date(2026, 12, 20), phone="13900000001")
    late = factory.pensioner(
        certified_until=date(2026, 11, 1), phone="13900000002", preferred_language=Language.en
    )
    factory.pensioner(certified_until=date(2027, 6, 1))  # not due
    report = _run(db, settings)
    assert (report.reminded_due_soon, report.reminded_overdue) == (1, 1)
    texts = _messages(settings)
    assert any("2026年12月20日" in t and "13900000001" in t for t in texts)
    assert any("expired on 01 November 2026" in t for t in texts)
    again = _run(db, settings)
    assert (again.reminded_due_soon, again.reminded_overdue) == (0, 0)
    assert len(_messages(settings)) == 2
    assert soon.id != late.id


def test_overdue_past_grace_is_suspended_and_certification_resumes_with_back_pay(
    db: Session, factory: Factory, settings: Settings
) -> None:
    lapsed = factory.pensioner(certified_until=date(2026, 8, 31), monthly_amount_fen=250_000)
    report = _run(db, settings)
    assert report.suspended == 1 and report.suspended_ids == [str(lapsed.id)]
    db.refresh(lapsed)
    assert lapsed.benefit_status is BenefitStatus.suspended
    assert _run(db, settings).suspended == 0  # already suspended
    certify(
        session=db,
        pensioner=lapsed,
        method=CertificationMethod.remote_self_service,
        evidence={},
        actor=SYSTEM,
        default_period_months=12,
        certified_at=datetime(2027, 2, 3, tzinfo=UTC),
    )
    db.commit()
    suspension = db.exec(select(PaymentSuspension)).one()
    assert (suspension.back_pay_months, suspension.back_pay_fen) == (3, 750_000)
    assert lapsed.benefit_status is BenefitStatus.active


def test_within_grace_only_reminds(db: Session, factory: Factory, settings: Settings) -> None:
    factory.pensioner(certified_until=date(2026, 10, 15))
    report = _run(db, settings)
    assert report.suspended == 0 and report.reminded_overdue == 1
