"""The region dashboard: recipients by certification status, certifications by method per month."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
from sqlmodel import Session

from app.audit.service import SYSTEM
from app.certifications.service import add_months, certify
from models.certification import CertificationMethod
from models.pensioner import BenefitStatus, Pensioner
from tests.conftest import Factory


def _certify(db: Session, pensioner: object, method: CertificationMethod, when: datetime) -> None:
    assert isinstance(pensioner, Pensioner)
    certify(
        session=db,
        pensioner=pensioner,
        method=method,
        evidence={},
        actor=SYSTEM,
        default_period_months=12,
        certified_at=when,
    )


async def test_counts_by_status_and_by_method_per_month_within_scope(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    today = date.today()
    now = datetime.now(UTC)
    _certify(db, factory.pensioner("110105"), CertificationMethod.data_comparison, now)
    _certify(db, factory.pensioner("110105"), CertificationMethod.remote_self_service, now)
    # Certified 11 months ago: still valid, due within 30 days.
    eleven_ago = add_months(today, -11) + timedelta(days=10)
    _certify(
        db,
        factory.pensioner("110105"),
        CertificationMethod.video_call,
        datetime(eleven_ago.year, eleven_ago.month, eleven_ago.day, 12, tzinfo=UTC),
    )
    factory.pensioner("110105", certified_until=today + timedelta(days=10))  # due soon
    factory.pensioner("110105")  # never certified
    factory.pensioner("110105", certified_until=today - timedelta(days=1))  # overdue
    factory.pensioner("110105", benefit_status=BenefitStatus.suspended)
    # Outside the reader's scope: never counted.
    _certify(db, factory.pensioner("310115"), CertificationMethod.data_comparison, now)
    db.commit()

    headers = factory.auth(factory.staff("admin", scope="11"))
    response = await client.get("/api/v1/reports/dashboard", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["region_code"] == "11"
    by_status = body["by_status"]
    # The video call of 11 months ago may fall due within 30 days, depending on today's date.
    assert by_status["certified"] + by_status["due_soon"] == 4 and by_status["due_soon"] >= 1
    assert by_status["overdue"] == 1 and by_status["never_certified"] == 1
    assert by_status["suspended"] == 1 and by_status["terminated"] == 0
    assert body["by_method"]["data_comparison"] == 1
    assert body["by_method"]["remote_self_service"] == 1
    assert body["by_method"]["video_call"] == 1
    months = body["months"]
    assert len(months) == 12
    assert months[-1]["month"] == f"{today:%Y-%m}"
    assert months[0]["month"] == f"{add_months(today.replace(day=1), -11):%Y-%m}"
    assert months[-1]["by_method"]["data_comparison"] == 1
    assert sum(m["by_method"]["video_call"] for m in months) == 1

    narrower = await client.get(
        "/api/v1/reports/dashboard", params={"region_code": "310115"}, headers=headers
    )
    assert narrower.status_code == 200
    assert sum(narrower.json()["by_status"].values()) == 0
    assert sum(narrower.json()["by_method"].values()) == 0


async def test_a_region_outside_scope_is_empty_not_an_error(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    """Both reports answer an out-of-scope prefix with nothing, on PostgreSQL too."""
    factory.pensioner("310115")
    headers = factory.auth(factory.staff("auditor", scope="11"))
    params = {"month": f"{date.today():%Y-%m}", "region_code": "31"}
    monthly = await client.get("/api/v1/reports/monthly", params=params, headers=headers)
    assert monthly.status_code == 200, monthly.text
    assert monthly.json() == []
    board = await client.get(
        "/api/v1/reports/dashboard", params={"region_code": "31"}, headers=headers
    )
    assert board.status_code == 200, board.text
    assert board.json()["region_code"] == "31"
    assert sum(board.json()["by_status"].values()) == 0


async def test_remote_attempt_outcomes_per_month_region_and_age_band(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    from models.attempt import AttemptStatus, CertificationAttempt, ReviewCase

    now = datetime.now(UTC)
    seventies = date(now.year - 75, 3, 1)
    eighties = date(now.year - 84, 3, 1)

    def decided(region: str, born: date, status: AttemptStatus, *, review: bool = False) -> None:
        pensioner = factory.pensioner(region)
        pensioner.date_of_birth = born  # type: ignore[attr-defined]
        db.add(pensioner)
        attempt = factory.attempt(pensioner)
        assert isinstance(attempt, CertificationAttempt)
        attempt.status, attempt.decided_at = status, now
        db.add(attempt)
        if review:
            db.add(
                ReviewCase(
                    attempt_id=attempt.id, pensioner_id=attempt.pensioner_id, region_code=region
                )
            )
        db.commit()

    decided("110105", seventies, AttemptStatus.certified)
    decided("110105", seventies, AttemptStatus.certified)
    decided("110105", seventies, AttemptStatus.certified, review=True)  # approved by a person
    decided("110105", seventies, AttemptStatus.rejected)
    decided("110105", seventies, AttemptStatus.retry)
    decided("110105", eighties, AttemptStatus.needs_review, review=True)
    decided("310115", seventies, AttemptStatus.certified)  # out of scope
    factory.attempt(factory.pensioner("110105"))  # not decided yet: not counted

    headers = factory.auth(factory.staff("admin", scope="11"))
    body = (await client.get("/api/v1/reports/dashboard", headers=headers)).json()
    rows = {(r["region_code"], r["age_band"]): r for r in body["remote_attempts"]}
    assert set(rows) == {("110105", "70-79"), ("110105", "80-89")}
    seventy = rows[("110105", "70-79")]
    assert seventy["month"] == f"{now:%Y-%m}"
    assert (seventy["auto_certified"], seventy["reviewed"], seventy["refused"]) == (2, 1, 1)
    assert seventy["retry"] == 1 and seventy["decided"] == 4
    assert seventy["auto_certified_share"] == 0.5 and seventy["refused_share"] == 0.25
    assert rows[("110105", "80-89")]["reviewed_share"] == 1.0
