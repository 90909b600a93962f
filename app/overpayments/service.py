"""Overpayment claims for benefits paid after a death (recorded one death at a time with
`record_death`, or a DuckDB table of them with `record_death_many`), and their recovery case."""

from __future__ import annotations

import calendar
import uuid
from datetime import date
from typing import Any, NamedTuple

from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.service import Actor
from app.kit import audited, scope
from app.kit.pages import Page, paginate
from app.matching.bulk import Writer, fetch
from app.overpayments.errors import InvalidRecoveryStep, OverpaymentClaimNotFound
from app.payments import service as payments
from models.base import utcnow
from models.certification import PaymentSuspension, SuspensionReason
from models.overpayment import OverpaymentClaim, RecoveryEvent, RecoveryStatus
from models.pensioner import Pensioner
from models.staff import StaffUser

S = RecoveryStatus
# Where a recovery case may go next. `repaying` -> `repaying` records another instalment.
TRANSITIONS: dict[RecoveryStatus, frozenset[RecoveryStatus]] = {
    S.open: frozenset({S.notified, S.written_off, S.referred_to_judiciary, S.withdrawn}),
    S.notified: frozenset(
        {S.repaying, S.recovered, S.written_off, S.referred_to_judiciary, S.withdrawn}
    ),
    S.repaying: frozenset({S.repaying, S.recovered, S.written_off, S.referred_to_judiciary}),
    S.referred_to_judiciary: frozenset({S.repaying, S.recovered, S.written_off}),
    S.recovered: frozenset(),
    S.written_off: frozenset(),
    S.withdrawn: frozenset(),
}
OPEN_STATES = (S.open, S.notified, S.repaying, S.referred_to_judiciary)
CLAIM = "overpayment.claim"


def pay_date(year: int, month: int, payment_day: int) -> date:
    return date(year, month, min(payment_day, calendar.monthrange(year, month)[1]))


def first_unpaid_month(as_of: date, payment_day: int) -> date:
    """The first month whose payment has not gone out on `as_of` (day 1 of that month)."""
    if as_of < pay_date(as_of.year, as_of.month, payment_day):
        return as_of.replace(day=1)
    return date(as_of.year + as_of.month // 12, as_of.month % 12 + 1, 1)


def payments_after_death(
    *, date_of_death: date, stopped_from: date, as_of: date, payment_day: int
) -> list[date]:
    """Pay dates after the death, up to the first suspended month, that had gone out by as_of."""
    dates: list[date] = []
    year, month = date_of_death.year, date_of_death.month
    while (year, month) < (stopped_from.year, stopped_from.month):
        paid = pay_date(year, month, payment_day)
        if paid > date_of_death and paid <= as_of:
            dates.append(paid)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return dates


def payments_after_death_sql(
    rows: str, *, date_of_death: str, stopped_from: str, as_of: date, payment_day: int
) -> str:
    """payments_after_death as DuckDB SQL: per pensioner_id of `rows` with at least one, the
    number of payments, the first and last pay dates and the amount (monthly_amount_fen
    each); `date_of_death` and `stopped_from` are DATE expressions over `rows`."""
    return f"""
        WITH months AS (
            SELECT pensioner_id, monthly_amount_fen, {date_of_death} AS died,
                   {stopped_from} AS stopped,
                   unnest(generate_series(date_trunc('month', {date_of_death}),
                                          date_trunc('month', {stopped_from}),
                                          INTERVAL 1 MONTH))::DATE AS month
            FROM {rows}
        ), paid AS (
            SELECT *, least(month + ({payment_day} - 1), last_day(month))::DATE AS pay_date
            FROM months
        )
        SELECT pensioner_id, count(*) AS payments, min(pay_date) AS first_payment_date,
               max(pay_date) AS last_payment_date,
               count(*) * any_value(monthly_amount_fen) AS amount_fen
        FROM paid
        WHERE pay_date > died AND pay_date <= DATE '{as_of.isoformat()}'
          AND month < date_trunc('month', stopped)
        GROUP BY pensioner_id
    """


def claim_event(about: audit.About, claim: OverpaymentClaim | _Claimed) -> dict[str, Any]:
    after = {
        "claim_id": str(claim.id),
        "date_of_death": claim.date_of_death.isoformat(),
        "payments": claim.payments,
        "amount_fen": claim.amount_fen,
    }
    return audit.pensioner_event(CLAIM, about, after=after)


def record_death(
    *,
    session: Session,
    pensioner: Pensioner,
    date_of_death: date,
    as_of: date,
    payment_day: int,
    evidence: dict[str, Any],
    actor: Actor,
) -> tuple[PaymentSuspension, OverpaymentClaim | None]:
    """Suspend for death (payments.suspend) and claim back every payment made after it."""
    already = payments.open_suspension(session=session, pensioner=pensioner)
    if already is not None and already.reason is SuspensionReason.death:
        return already, claim_of(session=session, suspension_id=already.id)
    suspension = payments.suspend(
        session=session,
        pensioner=pensioner,
        reason=SuspensionReason.death,
        suspended_from=first_unpaid_month(as_of, payment_day),
        actor=actor,
        evidence={**evidence, "date_of_death": date_of_death.isoformat()},
    )
    paid = payments_after_death(
        date_of_death=date_of_death,
        stopped_from=suspension.suspended_from,
        as_of=as_of,
        payment_day=payment_day,
    )
    if not paid:
        return suspension, None
    claim = OverpaymentClaim(
        pensioner_id=pensioner.id,
        suspension_id=suspension.id,
        region_code=pensioner.region_code,
        date_of_death=date_of_death,
        first_payment_date=paid[0],
        last_payment_date=paid[-1],
        payments=len(paid),
        amount_fen=len(paid) * pensioner.monthly_amount_fen,
        evidence=evidence,
    )
    audited.write(session=session, actor=actor, rows=[claim], **claim_event(pensioner, claim))
    return suspension, claim


class _Claimed(NamedTuple):
    pensioner_id: str
    region_code: str
    id: str  # the claim's, with hyphens as str(UUID) has them
    date_of_death: date
    payments: int
    amount_fen: int


def record_death_many(
    w: Writer, *, rows: str, as_of: date, payment_day: int, actor: Actor
) -> dict[str, int]:
    """`record_death` for every row of the DuckDB table `rows`, with the same rows and audit
    events: columns pensioner_id, rn, region_code, benefit_status, monthly_amount_fen,
    date_of_death, evidence (JSON text), and suspension_id, open_reason, suspended_from of the
    open suspension if any (not a death one: those are recorded already). Suspends
    (payments.suspend_many) and claims every payment made after the death. Returns the
    counts deaths, deaths_already_suspended, claims and claimed_fen."""
    died = "strftime(date_of_death, '%Y-%m-%d')"
    w.con.execute(
        f"CREATE OR REPLACE TEMP TABLE {rows} AS SELECT * REPLACE ("
        f"json_merge_patch(evidence, json_object('date_of_death', {died}))::VARCHAR "
        f"AS evidence), evidence AS claim_evidence FROM {rows}"
    )
    new_from = first_unpaid_month(as_of, payment_day)
    suspended, escalated = payments.suspend_many(
        w, rows=rows, reason=SuspensionReason.death, suspended_from=new_from, actor=actor
    )
    paid = payments_after_death_sql(
        rows,
        date_of_death="date_of_death",
        stopped_from=f"coalesce(suspended_from, DATE '{new_from.isoformat()}')",
        as_of=as_of,
        payment_day=payment_day,
    )
    w.con.execute(
        f"CREATE OR REPLACE TEMP TABLE {rows}_claims AS SELECT r.*, p.payments, "
        "p.first_payment_date, p.last_payment_date, p.amount_fen "
        f"FROM {rows} r JOIN ({paid}) p ON p.pensioner_id = r.pensioner_id "
        "ORDER BY r.pensioner_id"
    )
    claims = f"(SELECT *, rowid AS pos FROM {rows}_claims)"
    claim_id = w.new_id("pos")
    claimed = w.insert(
        "overpayment_claim",
        [
            "id",
            "pensioner_id",
            "suspension_id",
            "region_code",
            "date_of_death",
            "first_payment_date",
            "last_payment_date",
            "payments",
            "amount_fen",
            "evidence",
        ],
        f"SELECT {claim_id}, pensioner_id, sid, region_code, {died}, "
        "strftime(first_payment_date, '%Y-%m-%d'), strftime(last_payment_date, '%Y-%m-%d'), "
        f"payments, amount_fen, claim_evidence FROM {claims} ORDER BY pos",
        constants={
            "recovered_fen": "0",
            "status": f"'{RecoveryStatus.open.value}'",
            "created_at": f"'{w.now}'",
            "updated_at": f"'{w.now}'",
        },
    )
    made = fetch(
        w.con, _Claimed, f"FROM (SELECT *, ({claim_id})::UUID::VARCHAR AS id FROM {claims})"
    )
    events = [claim_event(audit.Subject(uuid.UUID(c.pensioner_id), c.region_code), c) for c in made]
    audit.record_many(session=w.session, actor=actor, events=events, json_safe=True)
    return {
        "deaths": suspended + escalated,
        "deaths_already_suspended": escalated,
        "claims": claimed,
        "claimed_fen": sum(c.amount_fen for c in made),
    }


def claim_of(*, session: Session, suspension_id: uuid.UUID) -> OverpaymentClaim | None:
    return session.exec(
        select(OverpaymentClaim).where(OverpaymentClaim.suspension_id == suspension_id)
    ).first()


def resume_after_wrongful_death(
    *, session: Session, pensioner: Pensioner, resumed_on: date, reason: str, actor: Actor
) -> PaymentSuspension | None:
    """The person is alive: restore payment with back-pay and withdraw the claim."""
    suspension = payments.open_suspension(session=session, pensioner=pensioner)
    if suspension is None or suspension.reason is not SuspensionReason.death:
        return None
    claim = claim_of(session=session, suspension_id=suspension.id)
    if claim is not None and claim.status in OPEN_STATES:
        _step(session=session, claim=claim, to=S.withdrawn, amount_fen=0, note=reason, actor=actor)
    return payments.resume(
        session=session, pensioner=pensioner, resumed_on=resumed_on, reason=reason, actor=actor
    )


def _step(
    *,
    session: Session,
    claim: OverpaymentClaim,
    to: RecoveryStatus,
    amount_fen: int,
    note: str | None,
    actor: Actor,
) -> RecoveryEvent:
    event = RecoveryEvent(
        claim_id=claim.id,
        from_status=claim.status,
        to_status=to,
        amount_fen=amount_fen,
        note=note,
        actor_type=actor.type,
        actor_id=actor.id,
    )
    before = {"status": claim.status.value, "recovered_fen": claim.recovered_fen}
    claim.recovered_fen += amount_fen
    claim.status = to
    claim.updated_at = utcnow()
    audited.write(
        session=session,
        actor=actor,
        rows=[claim, event],
        action="overpayment.recovery",
        entity_type="overpayment_claim",
        entity_id=claim.id,
        region_code=scope.region_of(session=session, pensioner_id=claim.pensioner_id),
        before=before,
        after={"status": to.value, "recovered_fen": claim.recovered_fen, "note": note},
    )
    return event


def record_step(
    *,
    session: Session,
    claim: OverpaymentClaim,
    to: RecoveryStatus,
    amount_fen: int,
    note: str | None,
    actor: Actor,
) -> OverpaymentClaim:
    """Move the recovery case on; a repayment that clears the balance closes it as recovered."""
    if to not in TRANSITIONS[claim.status]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[claim.status])) or "none"
        raise InvalidRecoveryStep(
            f"A claim in state {claim.status.value} cannot go to {to.value}; allowed: {allowed}."
        )
    outstanding = claim.amount_fen - claim.recovered_fen
    if amount_fen and to not in (S.repaying, S.recovered):
        raise InvalidRecoveryStep("An amount can only be recorded as repaying or recovered.")
    if amount_fen > outstanding:
        raise InvalidRecoveryStep(f"Only {outstanding} fen are outstanding on this claim.")
    if to is S.recovered and amount_fen != outstanding:
        raise InvalidRecoveryStep(
            f"Recovered means the whole balance: record amount_fen={outstanding}."
        )
    if to is S.repaying and amount_fen == outstanding and amount_fen > 0:
        to = S.recovered
    _step(session=session, claim=claim, to=to, amount_fen=amount_fen, note=note, actor=actor)
    return claim


def get_in_scope(*, session: Session, staff: StaffUser, claim_id: uuid.UUID) -> OverpaymentClaim:
    return scope.get_in_scope(
        session=session,
        model=OverpaymentClaim,
        id=claim_id,
        staff=staff,
        not_found=OverpaymentClaimNotFound,
    )


def search(
    *,
    session: Session,
    staff: StaffUser,
    status: RecoveryStatus | None,
    limit: int,
    offset: int,
) -> Page[OverpaymentClaim]:
    query = scope.scoped(select(OverpaymentClaim), OverpaymentClaim.pensioner_id, staff)
    if status:
        query = query.where(OverpaymentClaim.status == status)
    query = query.order_by(col(OverpaymentClaim.created_at).desc())
    return paginate(session=session, query=query, limit=limit, offset=offset)


def events(*, session: Session, claim_id: uuid.UUID) -> list[RecoveryEvent]:
    return list(
        session.exec(
            select(RecoveryEvent)
            .where(RecoveryEvent.claim_id == claim_id)
            .order_by(col(RecoveryEvent.occurred_at))
        ).all()
    )
