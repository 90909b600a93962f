"""Authorization matrix entries and fixture rows for the data-comparison routes (merged into
tests/app/test_authorization_matrix.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

from app.feeds.schemas import FeedReport
from models.certification import PaymentSuspension, SuspensionReason
from models.matching import CandidateKind, MatchCandidate, MatchingRun, RunKind
from models.overpayment import OverpaymentClaim
from models.records import FeedBatch, FeedClient, FeedFormat, FeedType, HeldDeathRecord
from models.verification import TaskKind, TaskStatus, VerificationTask, VisitOutcome

ROLES = ("admin", "reviewer", "video_agent", "community_worker", "auditor")
STAFF_DENIED = dict.fromkeys(ROLES + ("national_auditor",), (403, 403))
ANON = {"anonymous": (401, 401), "pensioner": (401, 401)}


def _expect(**allowed: tuple[int, int]) -> dict[str, tuple[int, int]]:
    return {**ANON, **STAFF_DENIED, **allowed}


def _batch(region_scope: str) -> FeedBatch:
    """A batch sent by a staff member of the region scope."""
    batch = FeedBatch(
        feed_type=FeedType.death,
        format=FeedFormat.api,
        source_authority="public_security",
        content_sha256=uuid.uuid4().hex,
        imported_by_type="staff",
        imported_by_id=uuid.uuid4().hex,
        region_scope=region_scope,
    )
    batch.report = FeedReport(
        batch_id=batch.id,
        feed_type=batch.feed_type,
        format=batch.format,
        source_authority=batch.source_authority,
        content_sha256=batch.content_sha256,
        duplicate=False,
        rows=1,
        accepted=0,
        quarantined=0,
        ids_normalised=0,
        without_id=0,
        problems={},
        awaiting_confirmation=1,
        examples=[],
        ignored_columns=[],
        created_at=batch.created_at,
    ).model_dump(mode="json")
    return batch


def build_world(factory: Any, pensioner_in: Any, pensioner_out: Any) -> dict[str, str]:
    session = factory.session
    data: dict[str, str] = {}
    for side, pensioner, scope in (("in", pensioner_in, "1101"), ("out", pensioner_out, "31")):
        batch = _batch(scope)
        session.add(batch)
        session.flush()
        held = HeldDeathRecord(  # a death record its sender may not apply alone
            batch_id=batch.id,
            row_number=1,
            feed_type=FeedType.death,
            national_id=pensioner.national_id,
            event_date=date(2026, 11, 1),
            source_authority="public_security",
            pensioner_id=pensioner.id,
            reasons=["sent_by_person"],
        )
        client = FeedClient(
            name=f"agency {side}",
            source_authority="public_security",
            key_hash=uuid.uuid4().hex,
            key_prefix="lcf_test",
            created_by_id=factory.staff("admin").id,
        )
        session.add_all([held, client])
        data.update(
            {f"batch_{side}": str(batch.id), f"held_{side}": str(held.id), "client": str(client.id)}
        )
        run = MatchingRun(
            kind=RunKind.on_demand,
            as_of=date(2026, 11, 29),
            region_scope=scope,
            started_by_type="system",
            started_by_id="t",
        )
        candidate = MatchCandidate(
            pensioner_id=pensioner.id,
            region_code=pensioner.region_code,
            kind=CandidateKind.activity_by_name,
            record_key=f"q:{uuid.uuid4().hex[:8]}",
            feed_type=FeedType.card_use,
            event_date=date(2026, 11, 1),
            score=0.9,
        )
        task = VerificationTask(
            pensioner_id=pensioner.id,
            region_code=pensioner.region_code,
            kind=TaskKind.community_visit,
            reason="t",
            due_date=date(2026, 12, 29),
            created_by_type="system",
            created_by_id="t",
        )
        suspension = PaymentSuspension(
            pensioner_id=pensioner.id,
            reason=SuspensionReason.death,
            suspended_from=date(2026, 12, 1),
            created_by_type="system",
            created_by_id="t",
        )
        pending = VerificationTask(  # a visit found them alive: awaits a second staff member
            pensioner_id=pensioner.id,
            region_code=pensioner.region_code,
            kind=TaskKind.community_visit,
            status=TaskStatus.awaiting_confirmation,
            outcome=VisitOutcome.confirmed_alive,
            visit_date=date(2026, 11, 28),
            reason="t",
            due_date=date(2026, 12, 29),
            created_by_type="system",
            created_by_id="t",
            completed_by_id="t",
        )
        session.add_all([run, candidate, task, pending, suspension])
        session.flush()
        claim = OverpaymentClaim(
            pensioner_id=pensioner.id,
            suspension_id=suspension.id,
            region_code=pensioner.region_code,
            date_of_death=date(2026, 9, 1),
            first_payment_date=date(2026, 9, 10),
            last_payment_date=date(2026, 9, 10),
            payments=1,
            amount_fen=1000,
        )
        session.add(claim)
        session.flush()
        data.update(
            {
                f"run_{side}": str(run.id),
                f"candidate_{side}": str(candidate.id),
                f"task_{side}": str(task.id),
                f"pending_task_{side}": str(pending.id),
                f"claim_{side}": str(claim.id),
            }
        )
    session.commit()
    return data


def _d(w: Any, key: str, inside: bool) -> str:
    return str(w.data[f"{key}_{'in' if inside else 'out'}"])


Request = Callable[[Any, bool], tuple[str, str, dict[str, object]]]
MONTH = {"params": {"month": "2026-11"}}
READERS = {"admin": (200, 200), "auditor": (200, 200), "national_auditor": (200, 200)}

MATRIX: dict[tuple[str, str], tuple[Request, dict[str, tuple[int, int]]]] = {
    ("POST", "/api/v1/feeds/{feed_type}/batches"): (
        lambda w, i: (
            "POST",
            "/api/v1/feeds/air_travel/batches",
            {
                "params": {"source_authority": "caac", "file_name": "a.csv"},
                "content": f"national_id,travel_date\n{'1' if i else '2'},2026-11-01\n".encode(),
                "headers": {"Content-Type": "text/csv"},
            },
        ),
        _expect(admin=(201, 201)),  # feeds are national: no region in or out
    ),
    ("POST", "/api/v1/feeds/{feed_type}/records"): (
        lambda w, i: (
            "POST",
            "/api/v1/feeds/card_use/records",
            {
                "json": {
                    "source_authority": "hrss",
                    "records": [{"national_id": "1" if i else "2", "event_date": "2026-11-01"}],
                }
            },
        ),
        _expect(admin=(201, 201)),
    ),
    ("GET", "/api/v1/feeds/batches"): (
        lambda w, i: ("GET", "/api/v1/feeds/batches", {}),
        _expect(admin=(200, 200)),
    ),
    ("GET", "/api/v1/feeds/batches/{batch_id}"): (  # batches are seen within their scope
        lambda w, i: ("GET", f"/api/v1/feeds/batches/{_d(w, 'batch', i)}", {}),
        _expect(admin=(200, 404)),
    ),
    ("GET", "/api/v1/feeds/batches/{batch_id}/quarantine"): (
        lambda w, i: ("GET", f"/api/v1/feeds/batches/{_d(w, 'batch', i)}/quarantine", {}),
        _expect(admin=(200, 404)),
    ),
    ("GET", "/api/v1/feeds/held-deaths"): (
        lambda w, i: ("GET", "/api/v1/feeds/held-deaths", {}),
        _expect(admin=(200, 200), reviewer=(200, 200)),
    ),
    ("POST", "/api/v1/feeds/held-deaths/{held_id}/confirmation"): (
        lambda w, i: (
            "POST",
            f"/api/v1/feeds/held-deaths/{_d(w, 'held', i)}/confirmation",
            {"json": {"confirm": False, "reason": "test"}},
        ),
        _expect(admin=(200, 404), reviewer=(200, 404)),
    ),
    # Feed keys: national administrators only (the matrix's admin has scope 11).
    ("POST", "/api/v1/feeds/clients"): (
        lambda w, i: (
            "POST",
            "/api/v1/feeds/clients",
            {"json": {"name": "x", "source_authority": "public_security"}},
        ),
        _expect(),
    ),
    ("GET", "/api/v1/feeds/clients"): (
        lambda w, i: ("GET", "/api/v1/feeds/clients", {}),
        _expect(),
    ),
    ("POST", "/api/v1/feeds/clients/{client_id}/revoke"): (
        lambda w, i: ("POST", f"/api/v1/feeds/clients/{w.data['client']}/revoke", {}),
        _expect(),
    ),
    ("POST", "/api/v1/matching/runs"): (
        lambda w, i: (
            "POST",
            "/api/v1/matching/runs",
            {"json": {"region_scope": "1101" if i else "31"}},
        ),
        _expect(admin=(201, 403)),
    ),
    ("GET", "/api/v1/matching/runs"): (
        lambda w, i: ("GET", "/api/v1/matching/runs", {}),
        _expect(admin=(200, 200)),
    ),
    ("GET", "/api/v1/matching/runs/{run_id}"): (
        lambda w, i: ("GET", f"/api/v1/matching/runs/{_d(w, 'run', i)}", {}),
        _expect(admin=(200, 404)),
    ),
    ("GET", "/api/v1/match-candidates"): (
        lambda w, i: ("GET", "/api/v1/match-candidates", {}),
        _expect(admin=(200, 200), reviewer=(200, 200)),
    ),
    ("POST", "/api/v1/match-candidates/{candidate_id}/decision"): (
        lambda w, i: (
            "POST",
            f"/api/v1/match-candidates/{_d(w, 'candidate', i)}/decision",
            {"json": {"confirm": False}},
        ),
        _expect(admin=(200, 404), reviewer=(200, 404)),
    ),
    ("GET", "/api/v1/verification-tasks/awaiting-confirmation"): (
        lambda w, i: ("GET", "/api/v1/verification-tasks/awaiting-confirmation", {}),
        _expect(admin=(200, 200), reviewer=(200, 200)),
    ),
    ("POST", "/api/v1/verification-tasks/{task_id}/confirmation"): (
        lambda w, i: (
            "POST",
            f"/api/v1/verification-tasks/{_d(w, 'pending_task', i)}/confirmation",
            {"json": {"confirm": False, "reason": "test"}},
        ),
        _expect(admin=(200, 404), reviewer=(200, 404)),
    ),
    ("GET", "/api/v1/verification-tasks"): (
        lambda w, i: ("GET", "/api/v1/verification-tasks", {}),
        _expect(admin=(200, 200), community_worker=(200, 200)),
    ),
    ("POST", "/api/v1/verification-tasks"): (
        lambda w, i: (
            "POST",
            "/api/v1/verification-tasks",
            {"json": {"pensioner_id": w.pensioner_in if i else w.pensioner_out}},
        ),
        _expect(admin=(201, 404), reviewer=(201, 404)),
    ),
    ("GET", "/api/v1/verification-tasks/{task_id}"): (
        lambda w, i: ("GET", f"/api/v1/verification-tasks/{_d(w, 'task', i)}", {}),
        _expect(admin=(200, 404), community_worker=(200, 404)),
    ),
    ("POST", "/api/v1/verification-tasks/{task_id}/visit"): (
        lambda w, i: (
            "POST",
            f"/api/v1/verification-tasks/{_d(w, 'task', i)}/visit",
            {"json": {"visit_date": "2026-11-01", "outcome": "moved"}},
        ),
        _expect(community_worker=(200, 404)),
    ),
    ("GET", "/api/v1/overpayments"): (
        lambda w, i: ("GET", "/api/v1/overpayments", {}),
        _expect(**READERS),
    ),
    ("GET", "/api/v1/overpayments/{claim_id}"): (
        lambda w, i: ("GET", f"/api/v1/overpayments/{_d(w, 'claim', i)}", {}),
        _expect(admin=(200, 404), auditor=(200, 404), national_auditor=(200, 200)),
    ),
    ("POST", "/api/v1/overpayments/{claim_id}/steps"): (
        lambda w, i: (
            "POST",
            f"/api/v1/overpayments/{_d(w, 'claim', i)}/steps",
            {"json": {"to": "notified"}},
        ),
        _expect(admin=(200, 404)),
    ),
    ("GET", "/api/v1/reports/monthly"): (
        lambda w, i: ("GET", "/api/v1/reports/monthly", dict(MONTH)),
        _expect(**READERS),
    ),
    ("GET", "/api/v1/reports/monthly.csv"): (
        lambda w, i: ("GET", "/api/v1/reports/monthly.csv", dict(MONTH)),
        _expect(**READERS),
    ),
}
