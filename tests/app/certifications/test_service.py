"""Recording certifications, the status they give, and suspension with back-pay on resumption."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import Session, select

from app.audit.service import SYSTEM
from app.certifications.service import CertificationStatus, add_months, certify, status
from app.payments import service as payments
from models.certification import CertificationMethod, PaymentSuspension, SuspensionReason
from models.pensioner import BenefitStatus
from models.region import Region
from tests.conftest import Factory


def test_add_months_keeps_the_day_or_the_month_end() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)


def test_status_by_date(factory: Factory) -> None:
    pensioner = factory.pensioner()
    today = date(2026, 11, 29)
    assert status(pensioner, today=today) is CertificationStatus.never_certified
    pensioner.certified_until = date(2026, 12, 10)
    assert status(pensioner, today=today) is CertificationStatus.due_soon
    pensioner.certified_until = date(2027, 6, 1)
    assert status(pensioner, today=today) is CertificationStatus.certified
    pensioner.certified_until = date(2026, 11, 28)
    assert status(pensioner, today=today) is CertificationStatus.overdue


def test_certification_uses_the_region_period(db: Session, factory: Factory) -> None:
    pensioner = factory.pensioner("440305")
    region = db.get(Region, "440305")
    assert region is not None
    region.certification_period_months = 6
    db.add(region)
    db.commit()
    cert = certify(
        session=db,
        pensioner=pensioner,
        method=CertificationMethod.video_call,
        evidence={"agent": "x"},
        actor=SYSTEM,
        default_period_months=12,
        certified_at=datetime(2026, 3, 10, tzinfo=UTC),
        operated_by=None,
    )
    db.commit()
    assert cert.valid_until == date(2026, 9, 10)
    assert pensioner.certified_until == date(2026, 9, 10)


def test_overdue_suspension_resumes_on_certification_with_back_pay(
    db: Session, factory: Factory
) -> None:
    pensioner = factory.pensioner(monthly_amount_fen=300_000)
    payments.suspend(
        session=db,
        pensioner=pensioner,
        actor=SYSTEM,
        reason=SuspensionReason.certification_overdue,
        suspended_from=date(2026, 6, 1),
    )
    again = payments.suspend(
        session=db,
        pensioner=pensioner,
        actor=SYSTEM,
        reason=SuspensionReason.certification_overdue,
        suspended_from=date(2026, 7, 1),
    )
    assert again.suspended_from == date(2026, 6, 1)  # one open suspension, not two
    assert pensioner.benefit_status is BenefitStatus.suspended
    certify(
        session=db,
        pensioner=pensioner,
        method=CertificationMethod.remote_self_service,
        evidence={},
        actor=SYSTEM,
        default_period_months=12,
        certified_at=datetime(2026, 9, 15, tzinfo=UTC),
        operated_by="daughter",
    )
    db.commit()
    suspension = db.exec(select(PaymentSuspension)).one()
    assert suspension.resumed_on == date(2026, 9, 15)
    assert (suspension.back_pay_months, suspension.back_pay_fen) == (3, 900_000)
    assert pensioner.benefit_status is BenefitStatus.active


def test_a_death_suspension_is_not_lifted_by_a_certification(db: Session, factory: Factory) -> None:
    pensioner = factory.pensioner()
    payments.suspend(
        session=db,
        pensioner=pensioner,
        actor=SYSTEM,
        reason=SuspensionReason.death,
        suspended_from=date(2026, 6, 1),
    )
    certify(
        session=db,
        pensioner=pensioner,
        method=CertificationMethod.data_comparison,
        evidence={},
        actor=SYSTEM,
        default_period_months=12,
    )
    db.commit()
    assert pensioner.benefit_status is BenefitStatus.suspended
