"""The matching rules on small hand-made cases, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlmodel import Session, select

from app.audit.service import SYSTEM, verify_chain
from app.feeds.schemas import FeedReport
from app.payments import service as payments
from models.certification import Certification, PaymentSuspension, SuspensionReason
from models.matching import CandidateKind, MatchCandidate, MatchingRun
from models.overpayment import OverpaymentClaim
from models.pensioner import BenefitStatus, Pensioner
from models.verification import TaskKind, TaskStatus, VerificationTask
from tests.app.datamatch.conftest import AS_OF
from tests.conftest import Factory

Import = Callable[..., FeedReport]
Match = Callable[..., MatchingRun]


def _pensioner(factory: Factory, **fields: object) -> Pensioner:
    p = factory.pensioner(**{"certified_until": date(2026, 10, 1), **fields})
    assert isinstance(p, Pensioner)
    return p


def _certs(db: Session, p: Pensioner) -> list[Certification]:
    return list(db.exec(select(Certification).where(Certification.pensioner_id == p.id)).all())


def test_strong_evidence_certifies_silently_once(
    db: Session, factory: Factory, import_csv: Import, match: Match
) -> None:
    p = _pensioner(factory)
    far = _pensioner(factory, certified_until=date(2027, 9, 1))  # not due: left alone
    import_csv(
        "hospital_visit",
        "national_id,visit_date,facility\n"
        f"{p.national_id},2026-11-02,Chaoyang Hospital\n"
        f"{far.national_id},2026-11-02,Chaoyang Hospital\n"
        f"{p.national_id},2026-05-01,Chaoyang Hospital\n",
        source="health_commission",
    )
    run = match()
    assert run.counts["certified"] == 1
    (cert,) = _certs(db, p)
    assert cert.method.value == "data_comparison"
    assert cert.valid_until == date(2027, 11, 29)
    assert cert.evidence["rule"] == "strong"
    assert [r["date"] for r in cert.evidence["records"]] == ["2026-11-02"]  # old one outside
    assert cert.decided_by_id == f"matching:{run.id.hex}"
    assert db.get(Pensioner, p.id).certified_until == date(2027, 11, 29)  # type: ignore[union-attr]
    assert _certs(db, far) == []
    assert match().counts["certified"] == 0  # a second run changes nothing
    assert verify_chain(session=db).ok


def test_weak_evidence_needs_two_days_and_ids_in_two_formats_are_one_person(
    db: Session, factory: Factory, import_csv: Import, match: Match
) -> None:
    one_day = _pensioner(factory)
    two_formats = _pensioner(factory)
    nid = two_formats.national_id
    spaced = f"{nid[:6]} {nid[6:14]} {nid[14:]}".lower()
    import_csv(
        "card_use",
        "national_id,transaction_date\n"
        f"{one_day.national_id},2026-11-20\n{one_day.national_id},2026-11-20\n"
        f'{nid},2026-11-20\n"{spaced}",2026-11-21\n',
        source="hrss",
    )
    match()
    assert _certs(db, one_day) == []
    (cert,) = _certs(db, two_formats)
    assert cert.evidence["rule"] == "weak" and cert.evidence["weak_days"] == 2


def test_death_before_the_last_payments_suspends_and_claims_them(
    db: Session, factory: Factory, import_csv: Import, match: Match
) -> None:
    p = _pensioner(factory, monthly_amount_fen=300_000)
    import_csv("hospital_visit", f"national_id,visit_date,facility\n{p.national_id},2026-11-02,H\n")
    import_csv("death", f"national_id,date_of_death\n{p.national_id},2026-08-20\n")
    run = match()
    assert run.counts["deaths"] == 1 and run.counts["claims"] == 1
    suspension = db.exec(select(PaymentSuspension)).one()
    assert suspension.reason is SuspensionReason.death
    assert suspension.suspended_from == date(2026, 12, 1)  # November's payment went out
    assert suspension.evidence["activity_after_death"] == 1  # the hospital visit: suspicious
    claim = db.exec(select(OverpaymentClaim)).one()
    assert (claim.payments, claim.amount_fen) == (3, 900_000)  # Sep 10, Oct 10, Nov 10
    assert (claim.first_payment_date, claim.last_payment_date) == (
        date(2026, 9, 10),
        date(2026, 11, 10),
    )
    assert claim.status.value == "open"
    assert _certs(db, p) == []  # evidence after a death does not certify
    assert db.get(Pensioner, p.id).benefit_status is BenefitStatus.suspended  # type: ignore[union-attr]
    again = match()
    assert again.counts["deaths"] == 0 and again.counts["claims"] == 0
    assert verify_chain(session=db).ok


def test_death_of_someone_already_suspended_keeps_the_start_and_claims_less(
    db: Session, factory: Factory, import_csv: Import, match: Match
) -> None:
    p = _pensioner(factory, monthly_amount_fen=300_000)
    payments.suspend(
        session=db,
        pensioner=p,
        reason=SuspensionReason.certification_overdue,
        suspended_from=date(2026, 10, 1),
        actor=SYSTEM,
    )
    db.commit()
    import_csv("death", f"national_id,date_of_death\n{p.national_id},2026-08-20\n")
    run = match()
    assert run.counts["deaths_already_suspended"] == 1
    suspension = db.exec(select(PaymentSuspension)).one()
    assert suspension.reason is SuspensionReason.death
    assert suspension.suspended_from == date(2026, 10, 1)
    claim = db.exec(select(OverpaymentClaim)).one()
    assert (claim.payments, claim.amount_fen) == (1, 300_000)  # only September was paid


def test_untrusted_and_name_only_deaths_are_candidates_that_suspend_no_one(
    db: Session, factory: Factory, import_csv: Import, match: Match
) -> None:
    by_id = _pensioner(factory)
    by_name = _pensioner(factory, name="王秀英")
    other = _pensioner(factory, name="李伟")
    import_csv(
        "death",
        f"national_id,date_of_death\n{by_id.national_id},2026-10-01\n",
        source="village_committee",
    )
    import_csv(
        "cremation",
        "national_id,name,date_of_birth,date_of_death\n"
        ",王 秀瑛,1950-03-01,2026-10-05\n,张伟,1950-03-01,2026-10-06\n",
        source="civil_affairs",
    )
    run = match()
    assert run.counts["deaths"] == 0
    assert db.exec(select(PaymentSuspension)).all() == []
    found = {(c.pensioner_id, c.kind) for c in db.exec(select(MatchCandidate)).all()}
    assert found == {
        (by_id.id, CandidateKind.death_untrusted),
        (by_name.id, CandidateKind.death_by_name),
    }
    assert other.id not in {pid for pid, _ in found}
    assert match().counts["candidates"] == 0  # not proposed twice


def test_mistyped_id_with_name_becomes_a_candidate(
    db: Session, factory: Factory, import_csv: Import, match: Match
) -> None:
    p = _pensioner(factory, name="赵建国")
    bad = p.national_id[:17] + ("1" if p.national_id[17] == "0" else "0")
    import_csv(
        "rail_travel",
        f"national_id,name,date_of_birth,travel_date\n{bad},赵建国,1950-03-01,2026-11-11\n",
        source="railway",
    )
    match()
    (candidate,) = db.exec(select(MatchCandidate)).all()
    assert candidate.kind is CandidateKind.activity_by_name
    assert candidate.record_key.startswith("q:") and candidate.score == 1.0
    assert _certs(db, p) == []


def test_overdue_without_evidence_gets_the_right_task_and_escalates(
    db: Session, factory: Factory, match: Match
) -> None:
    walker = _pensioner(factory)
    bedridden = _pensioner(factory, mobility_limited=True)
    _pensioner(factory, certified_until=date(2027, 6, 1))  # not overdue
    assert match().counts["tasks"] == 2
    tasks = {t.pensioner_id: t for t in db.exec(select(VerificationTask)).all()}
    assert tasks[walker.id].kind is TaskKind.remote_prompt
    assert tasks[bedridden.id].kind is TaskKind.home_visit
    assert match(as_of=date(2026, 12, 10)).counts["tasks"] == 0  # prompt still fresh
    later = match(as_of=date(2027, 1, 15))
    assert later.counts["tasks"] == 1 and later.counts["tasks_community_visit"] == 1
    kinds = {
        (t.kind, t.status)
        for t in db.exec(
            select(VerificationTask).where(VerificationTask.pensioner_id == walker.id)
        ).all()
    }
    assert kinds == {
        (TaskKind.remote_prompt, TaskStatus.escalated),
        (TaskKind.community_visit, TaskStatus.open),
    }


def test_evidence_resumes_an_overdue_suspension_with_back_pay_and_closes_tasks(
    db: Session, factory: Factory, import_csv: Import, match: Match
) -> None:
    p = _pensioner(factory, monthly_amount_fen=250_000)
    match()  # a prompt task
    payments.suspend(
        session=db,
        pensioner=p,
        reason=SuspensionReason.certification_overdue,
        suspended_from=date(2026, 9, 1),
        actor=SYSTEM,
    )
    db.commit()
    import_csv(
        "air_travel", f"national_id,travel_date\n{p.national_id},2026-11-15\n", source="caac"
    )
    run = match()
    assert run.counts["resumed"] == 1 and run.counts["tasks_closed"] == 1
    suspension = db.exec(select(PaymentSuspension)).one()
    assert suspension.resumed_on == AS_OF
    assert (suspension.back_pay_months, suspension.back_pay_fen) == (2, 500_000)
    assert db.get(Pensioner, p.id).benefit_status is BenefitStatus.active  # type: ignore[union-attr]
    task = db.exec(select(VerificationTask)).one()
    assert task.status is TaskStatus.done and task.outcome is not None
    assert verify_chain(session=db).ok


def test_region_scope_limits_a_run(
    db: Session, factory: Factory, import_csv: Import, match: Match
) -> None:
    inside = _pensioner(factory)
    outside = _pensioner(factory, region="310115")
    import_csv(
        "hospital_visit",
        "national_id,visit_date,facility\n"
        f"{inside.national_id},2026-11-02,H\n{outside.national_id},2026-11-02,H\n",
    )
    assert match(scope="11").counts["certified"] == 1
    assert _certs(db, outside) == []
