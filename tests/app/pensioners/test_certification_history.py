"""A pensioner's certification history for the staff record view."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlmodel import Session

from app.audit.service import SYSTEM
from app.certifications.service import certify
from models.certification import CertificationMethod
from models.pensioner import Pensioner
from tests.conftest import Factory


async def test_history_is_newest_first_with_method_and_evidence(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    pensioner = factory.pensioner()
    other = factory.pensioner()
    assert isinstance(pensioner, Pensioner) and isinstance(other, Pensioner)
    for when, method in (
        (datetime(2025, 3, 1, tzinfo=UTC), CertificationMethod.community_visit),
        (datetime(2026, 3, 1, tzinfo=UTC), CertificationMethod.remote_self_service),
    ):
        certify(
            session=db,
            pensioner=pensioner,
            method=method,
            evidence={"note": method.value},
            actor=SYSTEM,
            default_period_months=12,
            certified_at=when,
        )
    certify(
        session=db,
        pensioner=other,
        method=CertificationMethod.data_comparison,
        evidence={},
        actor=SYSTEM,
        default_period_months=12,
    )
    db.commit()
    headers = factory.auth(factory.staff("reviewer", scope="11"))
    response = await client.get(
        f"/api/v1/pensioners/{pensioner.id}/certifications", headers=headers
    )
    assert response.status_code == 200, response.text
    rows = response.json()
    assert [r["method"] for r in rows] == ["remote_self_service", "community_visit"]
    assert rows[0]["valid_until"] == "2027-03-01"
    assert rows[0]["evidence"] == {"note": "remote_self_service"}
    assert rows[0]["decided_by_type"] == "system"
    limited = await client.get(
        f"/api/v1/pensioners/{pensioner.id}/certifications", params={"limit": 1}, headers=headers
    )
    assert len(limited.json()) == 1
