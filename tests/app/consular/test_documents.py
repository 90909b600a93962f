"""The paper fallback: a pensioner abroad uploads a consular life certificate; staff in scope
verify it (certifying, method consular_document) or reject it with a reason."""

from __future__ import annotations

import io
from typing import Any

import httpx
from PIL import Image
from sqlmodel import Session, select

from app.config import Settings
from models.audit import AuditEvent
from models.certification import Certification, CertificationMethod
from models.consular import ConsularDocument
from models.pensioner import Pensioner, Residence
from tests.conftest import Factory

MINE = "/api/v1/certifications/consular-documents"
STAFF = "/api/v1/consular-documents"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (600, 800), (240, 240, 230)).save(buffer, format="PNG")
    return buffer.getvalue()


def _abroad(factory: Factory, region: str = "110105") -> Any:
    return factory.pensioner(
        region,
        residence=Residence.overseas,
        overseas_country="CA",
        overseas_timezone="America/Toronto",
    )


async def _upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    data: bytes,
    name: str = "cert.pdf",
    **form: str,
) -> httpx.Response:
    return await client.post(
        MINE, files={"scan": (name, data, "application/octet-stream")}, data=form, headers=headers
    )


async def test_upload_verify_and_see_the_result(
    client: httpx.AsyncClient, factory: Factory, db: Session, settings: Settings
) -> None:
    pensioner = _abroad(factory)
    headers = factory.auth(pensioner, "pensioner")
    uploaded = await _upload(
        client, headers, PDF, consulate="Consulate General in Toronto", issued_on="2026-11-02"
    )
    assert uploaded.status_code == 201, uploaded.text
    document = uploaded.json()
    assert document["status"] == "pending" and document["file_format"] == "pdf"
    assert document["issued_on"] == "2026-11-02"
    again = await _upload(client, headers, PDF)
    assert again.status_code == 409 and again.json()["error"] == "ConsularDocumentPending"

    reviewer = factory.auth(factory.staff("reviewer", scope="11"))
    queue = (await client.get(STAFF, headers=reviewer)).json()
    assert [d["id"] for d in queue] == [document["id"]]
    assert queue[0]["pensioner_name"] == pensioner.name and queue[0]["overseas_country"] == "CA"
    scan = await client.get(queue[0]["scan_url"], headers=reviewer)
    assert scan.status_code == 200 and scan.content == PDF
    stored = settings.resolved_media_dir / db.exec(select(ConsularDocument.file_path)).one()
    assert stored.read_bytes()[:4] == b"LCMF" and b"%PDF" not in stored.read_bytes()
    assert scan.headers["content-type"] == "application/pdf"
    elsewhere = factory.auth(factory.staff("reviewer", scope="31"))
    assert (await client.get(STAFF, headers=elsewhere)).json() == []
    hidden = await client.get(f"{STAFF}/{document['id']}", headers=elsewhere)
    assert hidden.status_code == 404 and hidden.json()["error"] == "ConsularDocumentNotFound"

    verified = await client.post(
        f"{STAFF}/{document['id']}/decision", json={"verdict": "verify"}, headers=reviewer
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "verified" and verified.json()["valid_until"]
    certification = db.exec(
        select(Certification).where(Certification.pensioner_id == pensioner.id)
    ).one()
    assert certification.method is CertificationMethod.consular_document
    assert certification.evidence["document_id"] == document["id"]
    assert certification.evidence["consulate"] == "Consulate General in Toronto"
    db.expire_all()
    assert db.get(Pensioner, pensioner.id).certified_until == certification.valid_until  # type: ignore[union-attr]

    mine = (await client.get(MINE, headers=headers)).json()
    assert mine[0]["status"] == "verified" and mine[0]["valid_until"] == str(
        certification.valid_until
    )
    twice = await client.post(
        f"{STAFF}/{document['id']}/decision",
        json={"verdict": "reject", "reason": "late"},
        headers=reviewer,
    )
    assert twice.status_code == 409 and twice.json()["error"] == "ConsularDocumentDecided"
    actions = db.exec(select(AuditEvent.action)).all()
    assert "consular_document.upload" in actions and "consular_document.verified" in actions


async def test_rejection_needs_a_reason_the_pensioner_sees(
    client: httpx.AsyncClient, factory: Factory, db: Session
) -> None:
    pensioner = _abroad(factory)
    headers = factory.auth(pensioner, "pensioner")
    document = (await _upload(client, headers, _png(), "cert.png")).json()
    assert document["file_format"] == "png"
    admin = factory.auth(factory.staff("admin", scope="11"))
    no_reason = await client.post(
        f"{STAFF}/{document['id']}/decision", json={"verdict": "reject"}, headers=admin
    )
    assert no_reason.status_code == 422 and "give a reason" in no_reason.json()["detail"]
    rejected = await client.post(
        f"{STAFF}/{document['id']}/decision",
        json={"verdict": "reject", "reason": "The consulate's stamp is missing."},
        headers=admin,
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    seen = (await client.get(f"{MINE}/{document['id']}", headers=headers)).json()
    assert seen["status"] == "rejected"
    assert seen["decision_reason"] == "The consulate's stamp is missing."
    assert not db.exec(select(Certification)).all()
    # Rejected: a new scan may be sent.
    assert (await _upload(client, headers, PDF)).status_code == 201
    agent = factory.auth(factory.staff("video_agent", scope="11"))
    assert (await client.get(STAFF, headers=agent)).status_code == 403


async def test_bad_scans_are_named(client: httpx.AsyncClient, factory: Factory) -> None:
    headers = factory.auth(_abroad(factory), "pensioner")
    cases = [
        (b"GIF89a" + b"\x00" * 100, 415, "UnsupportedMediaType", "PDF, JPEG or PNG"),
        (b"just some text, renamed to .pdf" * 10, 415, "UnsupportedMediaType", "PDF, JPEG or PNG"),
        (PDF[:-8], 422, "CorruptScan", "no end-of-file marker"),
        (_png()[:400], 422, "CorruptScan", "cannot be read"),
        (b"", 422, "CorruptScan", "empty"),
    ]
    for data, status, error, words in cases:
        response = await _upload(client, headers, data)
        assert response.status_code == status, (data[:20], response.text)
        assert response.json()["error"] == error and words in response.json()["detail"]
    future = await _upload(client, headers, PDF, issued_on="2099-01-01")
    assert future.status_code == 422 and "in the future" in future.json()["detail"]
    big = b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024 + 10) + b"\n%%EOF\n"
    too_large = await _upload(client, headers, big)
    assert too_large.status_code == 413

    at_home = factory.auth(factory.pensioner(), "pensioner")
    refused = await _upload(client, at_home, PDF)
    assert refused.status_code == 403 and refused.json()["error"] == "ConsularDocumentNotOffered"
