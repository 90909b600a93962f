"""Feeds are authenticated by source: feed keys name the source, staff are held to their region,
and a death record one person sent, or about someone seen alive lately, waits for a second."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import httpx
from sqlmodel import Session, col, select

from app import national_id
from app.feeds.schemas import FeedReport
from app.security import hash_opaque_token
from models.audit import AuditEvent
from models.certification import Certification, CertificationMethod, PaymentSuspension
from models.matching import MatchCandidate, MatchingRun
from models.pensioner import BenefitStatus, Pensioner
from models.records import FeedBatch, FeedClient, FeedRecord, HeldDeathRecord, QuarantinedRecord
from tests.conftest import Factory

Import = Callable[..., FeedReport]
Match = Callable[..., MatchingRun]
DEATHS = "/api/v1/feeds/death/records"


def _pensioner(factory: Factory, region: str = "110105", **fields: object) -> Pensioner:
    p = factory.pensioner(region, **{"certified_until": date(2027, 6, 1), **fields})
    assert isinstance(p, Pensioner)
    return p


def _suspended(db: Session, p: Pensioner) -> bool:
    db.expire_all()
    pensioner = db.get(Pensioner, p.id)
    assert pensioner is not None
    return pensioner.benefit_status is BenefitStatus.suspended


async def _feed_key(
    client: httpx.AsyncClient, factory: Factory, source: str, name: str | None = None
) -> dict[str, str]:
    national = factory.auth(factory.staff("admin"))
    made = await client.post(
        "/api/v1/feeds/clients",
        headers=national,
        json={"name": name or f"{source} system", "source_authority": source},
    )
    assert made.status_code == 201, made.text
    return {"X-Feed-Key": made.json()["key"]}


async def _upload(
    client: httpx.AsyncClient, headers: dict[str, str], feed_type: str, text: str, **params: str
) -> httpx.Response:
    return await client.post(
        f"/api/v1/feeds/{feed_type}/batches",
        headers={**headers, "Content-Type": "text/csv"},
        params={"file_name": "f.csv", **params},
        content=text.encode(),
    )


def _certify(db: Session, p: Pensioner, method: CertificationMethod, days_ago: int) -> None:
    db.add(
        Certification(
            pensioner_id=p.id,
            method=method,
            certified_at=datetime.now(UTC) - timedelta(days=days_ago),
            valid_until=date(2027, 6, 1),
            decided_by_type="system",
            decided_by_id="test",
        )
    )
    db.commit()


async def test_a_regional_admin_cannot_push_a_death_for_another_region(
    client: httpx.AsyncClient, db: Session, factory: Factory, match: Match
) -> None:
    """The review's finding: admin of 11 pushed public_security's death of a 440305 pensioner."""
    far = _pensioner(factory, "440305", name="李四")
    admin = factory.auth(factory.staff("admin", scope="11"))
    body = {
        "source_authority": "public_security",
        "records": [
            {"national_id": far.national_id, "event_date": "2026-11-02"},
            # Without an ID it could still become a name candidate for the far pensioner.
            {"name": "李四", "date_of_birth": "1950-03-01", "event_date": "2026-11-02"},
        ],
    }
    pushed = await client.post(DEATHS, headers=admin, json=body)
    assert pushed.status_code == 201, pushed.text
    report = pushed.json()
    assert (report["accepted"], report["quarantined"], report["awaiting_confirmation"]) == (0, 2, 0)
    assert report["problems"] == {"out_of_scope": 2}
    assert "region scope" in report["examples"][0]["message"]
    match()
    match(as_of=date.today())
    assert not _suspended(db, far)
    assert db.exec(select(PaymentSuspension)).first() is None
    assert db.exec(select(MatchCandidate)).first() is None
    assert db.exec(select(HeldDeathRecord)).first() is None
    # The quarantined rows keep what was sent, but not in the columns that suggest candidates.
    rows = db.exec(select(QuarantinedRecord).order_by(col(QuarantinedRecord.row_number))).all()
    assert [r.problem for r in rows] == ["out_of_scope", "out_of_scope"]
    assert rows[1].raw["name"] == "李四" and rows[1].name is None and rows[1].date_of_birth is None


async def test_a_regional_upload_applies_only_inside_the_region(
    client: httpx.AsyncClient, db: Session, factory: Factory, match: Match
) -> None:
    near = _pensioner(factory, certified_until=date(2026, 10, 1))
    far = _pensioner(factory, "440305", certified_until=date(2026, 10, 1))
    admin = factory.auth(factory.staff("admin", scope="11"))
    unknown = national_id.make("110105", date(1949, 12, 31), 2)  # valid, of nobody: the
    # same answer as for an outsider's ID, so the report tells nothing about 440305
    text = (
        "national_id,visit_date,facility\n"
        f"{near.national_id},2026-11-02,H\n{far.national_id},2026-11-02,H\n{unknown},2026-11-02,H\n"
    )
    uploaded = await _upload(client, admin, "hospital_visit", text, source_authority="nhc")
    assert uploaded.status_code == 201, uploaded.text
    report = uploaded.json()
    assert (report["accepted"], report["quarantined"]) == (1, 2)
    messages = {e["national_id"]: e["message"] for e in report["examples"]}
    assert messages[far.national_id] == messages[unknown]
    batch = db.exec(select(FeedBatch)).one()
    assert batch.region_scope == "11"
    # A death file from a person: in scope, and still held for a second staff member.
    deaths = f"national_id,date_of_death\n{near.national_id},2026-11-20\n"
    held = await _upload(client, admin, "death", deaths, source_authority="public_security")
    assert held.status_code == 201, held.text
    assert (held.json()["accepted"], held.json()["awaiting_confirmation"]) == (0, 1)
    match()
    certified = {c.pensioner_id for c in db.exec(select(Certification)).all()}
    assert certified == {near.id}
    assert not _suspended(db, near)


async def test_a_feed_key_sets_the_source_whatever_the_request_says(
    client: httpx.AsyncClient, db: Session, factory: Factory
) -> None:
    trusted = _pensioner(factory)
    other = _pensioner(factory)
    registry = await _feed_key(client, factory, "public_security")
    hospital = await _feed_key(client, factory, "county_hospital")
    # The registry's key: trusted, whatever the body claims.
    body = {
        "source_authority": "somebody_else",
        "records": [{"national_id": trusted.national_id, "event_date": "2026-11-02"}],
    }
    pushed = await client.post(DEATHS, headers=registry, json=body)
    assert pushed.status_code == 201, pushed.text
    assert pushed.json()["source_authority"] == "public_security"
    assert pushed.json()["matching"]["deaths"] == 1
    assert _suspended(db, trusted)
    # A hospital's key claiming the registry, in the body, the query and every row: untrusted.
    claim = {
        "source_authority": "public_security",
        "records": [{"national_id": other.national_id, "event_date": "2026-11-03"}],
    }
    pushed = await client.post(DEATHS, headers=hospital, json=claim)
    assert pushed.status_code == 201 and pushed.json()["source_authority"] == "county_hospital"
    text = (
        "national_id,date_of_death,source_authority\n"
        f"{other.national_id},2026-11-04,public_security\n"
    )
    uploaded = await _upload(client, hospital, "death", text, source_authority="public_security")
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["source_authority"] == "county_hospital"
    assert uploaded.json()["ignored_columns"] == ["source_authority"]
    run = await client.post(
        "/api/v1/matching/runs",
        headers=factory.auth(factory.staff("admin")),
        json={"as_of": date.today().isoformat()},
    )
    assert run.status_code == 201, run.text
    assert not _suspended(db, other)
    candidates = db.exec(select(MatchCandidate)).all()
    assert candidates and {(c.kind.value, c.pensioner_id) for c in candidates} == {
        ("death_untrusted", other.id)
    }
    batches = db.exec(select(FeedBatch).where(FeedBatch.imported_by_type == "feed_client")).all()
    assert {b.source_authority for b in batches} == {"public_security", "county_hospital"}
    pushed_sources = {r.source_authority for r in db.exec(select(FeedRecord)).all()}
    assert pushed_sources == {"public_security", "county_hospital"}


async def test_feed_keys_are_made_by_national_admins_hashed_audited_and_revocable(
    client: httpx.AsyncClient, db: Session, factory: Factory
) -> None:
    national_admin = factory.staff("admin")
    national = factory.auth(national_admin)
    regional = factory.auth(factory.staff("admin", scope="11"))
    reviewer = factory.auth(factory.staff("reviewer"))
    body = {"name": "MPS deaths", "source_authority": "public_security"}
    for outsider in (regional, reviewer):
        refused = await client.post("/api/v1/feeds/clients", headers=outsider, json=body)
        assert refused.status_code == 403, refused.text
    made = await client.post("/api/v1/feeds/clients", headers=national, json=body)
    assert made.status_code == 201, made.text
    key, client_id = made.json()["key"], made.json()["id"]
    again = await client.post("/api/v1/feeds/clients", headers=national, json=body)
    assert again.status_code == 409 and again.json()["error"] == "DuplicateFeedClient"
    stored = db.exec(select(FeedClient)).one()
    assert stored.key_hash == hash_opaque_token(key) and key not in stored.model_dump_json()
    listed = await client.get("/api/v1/feeds/clients", headers=national)
    assert [c["id"] for c in listed.json()] == [client_id] and "key" not in listed.json()[0]
    assert (await client.get("/api/v1/feeds/clients", headers=regional)).status_code == 403

    p = _pensioner(factory)
    records = {"records": [{"national_id": p.national_id, "event_date": "2026-11-02"}]}
    works = await client.post(
        "/api/v1/feeds/card_use/records", headers={"X-Feed-Key": key}, json=records
    )
    assert works.status_code == 201, works.text
    revoke = f"/api/v1/feeds/clients/{client_id}/revoke"
    assert (await client.post(revoke, headers=regional)).status_code == 403
    revoked = await client.post(revoke, headers=national)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert (await client.post(revoke, headers=national)).status_code == 409
    for headers in (
        {"X-Feed-Key": key},
        {"X-Feed-Key": key, **national},  # a revoked key is refused even beside a token
        {"X-Feed-Key": "lcf_" + "A" * 43},
    ):
        refused = await client.post(
            "/api/v1/feeds/card_use/records",
            headers=headers,
            json={"records": [{"national_id": p.national_id, "event_date": "2026-11-03"}]},
        )
        assert refused.status_code == 401, (headers, refused.text)
        assert refused.json()["error"] == "InvalidFeedKey"
    empty = await client.post(
        "/api/v1/feeds/card_use/records", headers={"X-Feed-Key": ""}, json=records
    )
    assert empty.status_code == 401  # no key, no token
    unknown = await client.post(f"/api/v1/feeds/clients/{p.id}/revoke", headers=national)
    assert unknown.status_code == 404
    # A staff member without the admin role cannot send feeds with a token.
    denied = await client.post("/api/v1/feeds/card_use/records", headers=reviewer, json=records)
    assert denied.status_code == 403
    events = db.exec(select(AuditEvent).where(AuditEvent.entity_type == "feed_client")).all()
    assert [(e.action, e.actor_id) for e in events] == [
        ("feed_client.create", str(national_admin.id)),  # type: ignore[attr-defined]
        ("feed_client.revoke", str(national_admin.id)),  # type: ignore[attr-defined]
    ]
    imported = db.exec(select(AuditEvent).where(AuditEvent.action == "feed.import")).one()
    assert (imported.actor_type, imported.actor_id) == ("feed_client", client_id)


async def test_batches_reports_and_quarantine_of_other_scopes_are_invisible(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    registry = await _feed_key(client, factory, "public_security")
    beijing = factory.auth(factory.staff("admin", scope="11"))
    shenzhen = factory.auth(factory.staff("admin", scope="440305"))
    national = factory.auth(factory.staff("admin"))
    bad_rows = "national_id,visit_date,facility\n12345,2026-11-02,H\n"
    ids = {}
    for name, headers, source in (
        ("national", registry, None),
        ("shenzhen", shenzhen, "nhc"),
        ("beijing", beijing, "nhc"),
    ):
        stated = {"source_authority": source} if source else {}
        uploaded = await _upload(
            client, headers, "hospital_visit", bad_rows + f"# {name}\n", **stated
        )
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["quarantined"] >= 1
        ids[name] = uploaded.json()["batch_id"]

    async def visible(headers: dict[str, str]) -> set[str]:
        listed = await client.get("/api/v1/feeds/batches", headers=headers)
        assert listed.status_code == 200
        assert listed.json()["total"] == len(listed.json()["items"])
        names = {v: k for k, v in ids.items()}
        return {names[b["id"]] for b in listed.json()["items"]}

    assert await visible(beijing) == {"beijing"}
    assert await visible(shenzhen) == {"shenzhen"}
    assert await visible(national) == {"national", "shenzhen", "beijing"}
    for hidden in ("national", "shenzhen"):
        for path in ("", "/quarantine"):
            url = f"/api/v1/feeds/batches/{ids[hidden]}{path}"
            got = await client.get(url, headers=beijing)
            assert got.status_code == 404 and got.json()["error"] == "FeedBatchNotFound"
            assert (await client.get(url, headers=national)).status_code == 200
    own = await client.get(f"/api/v1/feeds/batches/{ids['beijing']}/quarantine", headers=beijing)
    assert own.status_code == 200 and own.json()[0]["problem"] == "bad_id_format"
    # The same content again from another scope: no report of someone else's batch.
    again = await _upload(
        client, beijing, "hospital_visit", bad_rows + "# shenzhen\n", source_authority="nhc"
    )
    assert again.status_code == 409 and ids["shenzhen"] not in again.text
    # Nor does a national re-send of a regional file pass for done: it applied in 11 only.
    national_again = await _upload(
        client, national, "hospital_visit", bad_rows + "# beijing\n", source_authority="nhc"
    )
    assert national_again.status_code == 409, national_again.text
    # Pushed records are told apart by the sender's scope: the same records, another batch.
    records = {
        "source_authority": "nhc",
        "records": [{"national_id": "1", "event_date": "2026-11-02"}],
    }
    for headers in (beijing, shenzhen):
        pushed = await client.post("/api/v1/feeds/card_use/records", headers=headers, json=records)
        assert pushed.status_code == 201 and not pushed.json()["duplicate"], pushed.text


async def test_a_death_pushed_by_a_person_waits_for_a_second_staff_member(
    client: httpx.AsyncClient, db: Session, factory: Factory, match: Match
) -> None:
    p = _pensioner(factory, monthly_amount_fen=200_000)
    pusher_account = factory.staff("admin")
    pusher = factory.auth(pusher_account)
    mistyped = p.national_id[:-1] + ("1" if p.national_id[-1] != "1" else "2")
    body = {
        "source_authority": "public_security",
        "records": [
            {"national_id": p.national_id, "event_date": "2026-11-02"},
            # A bad ID with the right name: it must not become a name candidate the pusher,
            # an admin, could confirm alone.
            {
                "national_id": mistyped,
                "name": p.name,
                "date_of_birth": p.date_of_birth.isoformat(),
                "event_date": "2026-11-02",
            },
        ],
    }
    pushed = await client.post(DEATHS, headers=pusher, json=body)
    assert pushed.status_code == 201, pushed.text
    report = pushed.json()
    assert (report["accepted"], report["quarantined"], report["awaiting_confirmation"]) == (0, 1, 1)
    assert report["problems"] == {"bad_check_character": 1}
    match(as_of=date.today())
    assert not _suspended(db, p)
    assert db.exec(select(PaymentSuspension)).first() is None
    assert db.exec(select(MatchCandidate)).first() is None

    reviewer_account = factory.staff("reviewer", scope="11")
    reviewer = factory.auth(reviewer_account)
    listed = await client.get("/api/v1/feeds/held-deaths", headers=reviewer)
    (held,) = listed.json()["items"]
    assert held["reasons"] == ["sent_by_person"] and held["pensioner_id"] == str(p.id)
    far = factory.auth(factory.staff("reviewer", scope="31"))
    assert (await client.get("/api/v1/feeds/held-deaths", headers=far)).json()["total"] == 0
    url = f"/api/v1/feeds/held-deaths/{held['id']}/confirmation"
    own = await client.post(url, headers=pusher, json={"confirm": True})
    assert own.status_code == 403, own.text
    hidden = await client.post(url, headers=far, json={"confirm": True})
    assert hidden.status_code == 404 and hidden.json()["error"] == "HeldRecordNotFound"
    no_reason = await client.post(url, headers=reviewer, json={"confirm": False})
    assert no_reason.status_code == 422
    match(as_of=date.today())
    assert not _suspended(db, p)

    confirmed = await client.post(url, headers=reviewer, json={"confirm": True})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"
    assert confirmed.json()["decided_by_id"] == str(reviewer_account.id)  # type: ignore[attr-defined]
    assert confirmed.json()["matching"]["deaths"] == 1
    assert _suspended(db, p)
    twice = await client.post(
        url, headers=factory.auth(factory.staff("admin")), json={"confirm": True}
    )
    assert twice.status_code == 409 and twice.json()["error"] == "HeldRecordDecided"
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "feed.death_confirm")).one()
    assert event.actor_id == str(reviewer_account.id)  # type: ignore[attr-defined]
    assert event.region_code == "110105"
    assert event.after and event.after["sent_by"] == f"staff:{pusher_account.id}"  # type: ignore[attr-defined]


async def test_a_refused_death_never_applies(
    client: httpx.AsyncClient, db: Session, factory: Factory, match: Match
) -> None:
    p = _pensioner(factory)
    body = {
        "source_authority": "public_security",
        "records": [{"national_id": p.national_id, "event_date": "2026-11-02"}],
    }
    pushed = await client.post(DEATHS, headers=factory.auth(factory.staff("admin")), json=body)
    assert pushed.json()["awaiting_confirmation"] == 1
    held = db.exec(select(HeldDeathRecord)).one()
    url = f"/api/v1/feeds/held-deaths/{held.id}/confirmation"
    reviewer = factory.auth(factory.staff("reviewer"))
    refused = await client.post(url, headers=reviewer, json={"confirm": False, "reason": "prank"})
    assert refused.status_code == 200 and refused.json()["status"] == "refused"
    assert db.exec(select(FeedRecord)).first() is None
    match(as_of=date.today())
    assert not _suspended(db, p)
    assert (await client.post(url, headers=reviewer, json={"confirm": True})).status_code == 409
    listed = await client.get("/api/v1/feeds/held-deaths", headers=reviewer)
    assert listed.json()["total"] == 0
    done = await client.get("/api/v1/feeds/held-deaths?status=refused", headers=reviewer)
    assert done.json()["items"][0]["decision_reason"] == "prank"
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "feed.death_refuse")).one()


async def test_a_death_of_someone_recently_seen_by_face_or_call_waits(
    client: httpx.AsyncClient,
    db: Session,
    factory: Factory,
    import_csv: Import,
    match: Match,
) -> None:
    by_face = _pensioner(factory)
    by_call = _pensioner(factory)
    long_ago = _pensioner(factory)
    by_data = _pensioner(factory)
    _certify(db, by_face, CertificationMethod.remote_self_service, days_ago=10)
    _certify(db, by_call, CertificationMethod.video_call, days_ago=80)
    _certify(db, long_ago, CertificationMethod.remote_self_service, days_ago=120)
    _certify(db, by_data, CertificationMethod.data_comparison, days_ago=5)
    registry = await _feed_key(client, factory, "public_security")
    body = {
        "records": [
            {"national_id": p.national_id, "event_date": "2026-11-02"}
            for p in (by_face, long_ago, by_data)
        ]
    }
    pushed = await client.post(DEATHS, headers=registry, json=body)
    assert pushed.status_code == 201, pushed.text
    assert (pushed.json()["accepted"], pushed.json()["awaiting_confirmation"]) == (2, 1)
    assert pushed.json()["matching"]["deaths"] == 2
    # The operator's file import is held the same way.
    report = import_csv("death", f"national_id,date_of_death\n{by_call.national_id},2026-11-03\n")
    assert (report.accepted, report.awaiting_confirmation) == (0, 1)
    match(as_of=date.today())
    assert [_suspended(db, p) for p in (by_face, by_call, long_ago, by_data)] == [
        False,
        False,
        True,
        True,
    ]
    held = db.exec(select(HeldDeathRecord).order_by(col(HeldDeathRecord.created_at))).all()
    assert [h.pensioner_id for h in held] == [by_face.id, by_call.id]
    assert all(h.reasons == ["recently_certified"] for h in held)
    # Sent by a key or the system, not a person: any second staff member in scope decides.
    admin = factory.auth(factory.staff("admin", scope="1101"))
    for h in held:
        url = f"/api/v1/feeds/held-deaths/{h.id}/confirmation"
        confirmed = await client.post(url, headers=admin, json={"confirm": True})
        assert confirmed.status_code == 200, confirmed.text
    match(as_of=date.today())
    assert _suspended(db, by_face) and _suspended(db, by_call)
