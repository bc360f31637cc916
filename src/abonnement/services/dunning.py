"""Dunning: a declined renewal charge is tried again +1, +3, +7, +14 and +30 days after the
decline (every payment method on file, default first); when the last retry fails too, the
subscriptions on the invoice are disabled (admins only; the service ends that day, so the days
after it are credited) and the debt stays on the account.

A case is opened by the statement that got the decline, in the same transaction; each retry
moves the case's `retries` and `next_attempt_on` in the transaction that made it, so a retry is
made once.
"""

from __future__ import annotations

from sqlalchemy import select

from abonnement.domain import lifecycle as lc
from abonnement.domain.subscriptions import Status
from abonnement.payments.base import Purpose
from abonnement.services import billing
from abonnement.services.context import Context
from abonnement.services.lifecycle import Day
from abonnement.store import models as m


def open_cases(ctx: Context, organization_id: int) -> list[m.DunningCase]:
    return list(
        ctx.uow.session.scalars(
            select(m.DunningCase)
            .where(m.DunningCase.organization_id == organization_id, m.DunningCase.status == "open")
            .order_by(m.DunningCase.id)
        )
    )


def _last_charge(ctx: Context, invoice: m.Invoice) -> m.Payment | None:
    return ctx.uow.session.scalars(
        select(m.Payment)
        .where(m.Payment.invoice_id == invoice.id, m.Payment.kind == "charge")
        .order_by(m.Payment.id.desc())
        .limit(1)
    ).first()


def open_case_if_declined(d: Day, invoice: m.Invoice) -> m.DunningCase | None:
    """After a renewal charge: a decline opens a case, with its first retry tomorrow."""
    payment = _last_charge(d.ctx, invoice)
    if payment is None or payment.status != "declined":
        return None
    case = m.DunningCase(
        organization_id=d.org.id,
        invoice_id=invoice.id,
        declined_on=d.day,
        retries=0,
        next_attempt_on=lc.dunning_attempt_on(d.day, 0),
        status="open",
    )
    d.ctx.uow.session.add(case)
    d.ctx.uow.session.flush()
    d.emit(
        lc.EventType.PAYMENT_FAILED,
        invoice.number,
        amount=payment.amount_minor,
        currency=payment.currency,
        decline_code=payment.decline_code,
        next_attempt_on=str(case.next_attempt_on),
    )
    return case


def retry_due(d: Day) -> None:
    for case in open_cases(d.ctx, d.org.id):
        if case.next_attempt_on is not None and case.next_attempt_on <= d.day:
            _retry(d, case)


def _retry(d: Day, case: m.DunningCase) -> None:
    invoice = d.ctx.uow.session.get(m.Invoice, case.invoice_id)
    assert invoice is not None
    account = billing.open_account(d.ctx, d.org)
    payment: m.Payment | None = None
    if billing.receivable(d.ctx, account).minor > 0:
        payment = billing.collect(d.ctx, d.org, invoice, Purpose.RENEWAL)
    case.retries += 1
    if payment is None or payment.status != "declined":
        # Paid (or settled by credit, or a transfer under way): the case is closed.
        case.status = "recovered"
        case.next_attempt_on = None
        case.closed_on = d.day
        d.emit(
            lc.EventType.PAYMENT_RECOVERED,
            invoice.number,
            retries=case.retries,
            amount=payment.amount_minor if payment else 0,
        )
        return
    case.next_attempt_on = lc.dunning_attempt_on(case.declined_on, case.retries)
    d.emit(
        lc.EventType.PAYMENT_RETRY_FAILED,
        invoice.number,
        retries=case.retries,
        decline_code=payment.decline_code,
        next_attempt_on=str(case.next_attempt_on) if case.next_attempt_on else None,
    )
    if lc.dunning_exhausted(case.retries):
        case.status = "failed"
        case.closed_on = d.day
        _disable_unpaid(d, invoice)


def _disable_unpaid(d: Day, invoice: m.Invoice) -> None:
    """Failed payments are retried for up to 30 days, then the subscription is disabled."""
    sub_ids = sorted({line.subscription_id for line in invoice.lines})
    for sub_id in sub_ids:
        sub = d.ctx.uow.subscriptions.get(sub_id, lock=True)
        if sub is None or sub.status is not Status.ACTIVE:
            continue
        sub.recurring_billing = False
        sub.pending_quantity = None
        sub.pending_effective = None
        billing.on_service_end(d.ctx, d.org, sub, refund_now=False, reason="cancellation")
        d.change_status(
            sub, Status.DISABLED, lc.EventType.DISABLED, reason="nonpayment", invoice=invoice.number
        )
