"""Money flows: billing segments, invoices computed from them, payments, credits and refunds.

Every use case that changes what an organization is charged calls in here, in its own
transaction: the segments change, the invoice generator (`domain.invoicing`) computes the lines,
an invoice or credit note is issued with a gap-free number, the ledger records it, and the
payment method is charged or refunded. A failed charge raises, and the whole change rolls back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from abonnement.domain import invoicing as inv
from abonnement.domain import ledger
from abonnement.domain.catalog import PurchaseChannel
from abonnement.domain.currencies import currency
from abonnement.domain.errors import Code, error
from abonnement.domain.invoices import due_date, tax_rate_for, totals
from abonnement.domain.money import Money
from abonnement.domain.periods import Period
from abonnement.domain.subscriptions import Status
from abonnement.payments import get_processor
from abonnement.payments.base import PaymentRequest, Purpose
from abonnement.services import events
from abonnement.services.context import Context
from abonnement.store import models as m

INVOICE_PREFIX = "INV-"
_BILLED_CHANNELS = (PurchaseChannel.ONLINE, PurchaseChannel.PREPAID)


# billing accounts --------------------------------------------------------------------------------
def open_account(ctx: Context, org: m.Organization) -> m.BillingAccount:
    """The organization's billing account, created with its currency, country and tax rate."""
    account = ctx.uow.session.scalars(
        select(m.BillingAccount).where(m.BillingAccount.organization_id == org.id)
    ).one_or_none()
    if account is None:
        rate = tax_rate_for(org.country)
        account = m.BillingAccount(
            organization_id=org.id,
            currency=org.currency,
            country=org.country,
            tax_rate_bp=int(rate * 10000),
            payment_terms_days=30,
            bill_to_name=org.name,
            bill_to_address="",
            created_at=ctx.now(),
        )
        ctx.uow.session.add(account)
        ctx.uow.session.flush()
    return account


# segments: what is charged, day by day -----------------------------------------------------------
def charged_quantity(sub: m.Subscription) -> int:
    """Licenses the vendor charges for: prepaid (key) seats never are; partners bill their own."""
    if sub.channel not in _BILLED_CHANNELS or sub.status is Status.TRIAL:
        return 0
    return max(sub.quantity - sub.prepaid_quantity, 0)


def _segments(ctx: Context, sub_id: int) -> list[m.BillingSegment]:
    return list(
        ctx.uow.session.scalars(
            select(m.BillingSegment)
            .where(m.BillingSegment.subscription_id == sub_id)
            .order_by(m.BillingSegment.start, m.BillingSegment.id)
        )
    )


def unit_price(sub: m.Subscription) -> Money:
    price = next((p for p in sub.offer.prices if p.currency == sub.currency), None)
    if price is None:
        raise error(Code.CURRENCY_NOT_OFFERED, offer=sub.offer.name, currency=sub.currency)
    return Money.of(price.amount_minor, sub.currency)


def _end_open_segment(ctx: Context, sub: m.Subscription, day: date) -> m.BillingSegment | None:
    """Close the running segment on `day` (one that starts that day is replaced: removed)."""
    current = next((s for s in _segments(ctx, sub.id) if s.end is None), None)
    if current is not None:
        if current.start >= day:
            ctx.uow.session.delete(current)
        else:
            current.end = day
        ctx.uow.session.flush()
    return current


def set_segment(ctx: Context, sub: m.Subscription, day: date) -> None:
    """Record the subscription's charged quantity from `day` on (the day belongs to the new
    quantity). A quantity of zero ends the service on that day."""
    quantity = charged_quantity(sub)
    current = next((s for s in _segments(ctx, sub.id) if s.end is None), None)
    if current is not None and current.quantity == quantity:
        return
    _end_open_segment(ctx, sub, day)
    if quantity > 0:
        ctx.uow.session.add(
            m.BillingSegment(
                subscription_id=sub.id,
                start=day,
                end=None,
                quantity=quantity,
                unit_price_minor=unit_price(sub).minor,
            )
        )
        ctx.uow.session.flush()


def plan(ctx: Context, sub: m.Subscription) -> inv.BillingPlan:
    segments = _segments(ctx, sub.id)
    cur = currency(sub.currency)
    anchor = segments[0].start if segments else sub.term_start
    return inv.BillingPlan(
        subscription_id=sub.id,
        anchor=min(anchor, sub.term_start) if segments else anchor,
        frequency=sub.offer.billing_frequency,
        segments=tuple(
            inv.Segment(s.start, s.end, s.quantity, Money(s.unit_price_minor, cur))
            for s in segments
        ),
    )


def issued_lines(ctx: Context, sub: m.Subscription) -> list[inv.Line]:
    cur = currency(sub.currency)
    rows = ctx.uow.session.scalars(
        select(m.InvoiceLine)
        .where(m.InvoiceLine.subscription_id == sub.id)
        .order_by(m.InvoiceLine.id)
    )
    return [
        inv.Line(
            subscription_id=row.subscription_id,
            kind=inv.LineKind(row.kind),
            period=Period(row.period_start, row.period_end),
            start=row.start,
            end=row.end,
            quantity=row.quantity,
            unit_price=Money(row.unit_price_minor, cur),
            amount=Money(row.amount_minor, cur),
            ref=row.id,
            reverses=row.reverses_id,
        )
        for row in rows
    ]


def due_lines(ctx: Context, sub: m.Subscription, as_of: date) -> list[inv.Line]:
    """What the generator says this subscription's invoices lack, as of a day."""
    return inv.generate(plan(ctx, sub), as_of, issued_lines(ctx, sub))


# invoices ----------------------------------------------------------------------------------------
_TO_NUMBER = "abonnement_invoices_to_number"
_LATER = "abonnement_invoices_numbered_together"  # inside `numbered_together`
PROVISIONAL = "~"  # the start of a number an invoice holds only until its real one is taken


def preview_numbers(ctx: Context, count: int) -> list[str]:
    """The numbers the next `count` invoices would get if they were issued now, read without
    locking the counter (a preview shows them; the invoices it shows are never issued)."""
    last = ctx.uow.session.scalar(
        select(m.InvoiceCounter.last_number).where(m.InvoiceCounter.id == 1)
    )
    return [f"{INVOICE_PREFIX}{(last or 0) + k:06d}" for k in range(1, count + 1)]


def _next_numbers(ctx: Context, count: int) -> list[str]:
    """Gap-free: the counter row is locked until the transaction that uses the numbers ends."""
    counter = ctx.uow.session.scalars(
        select(m.InvoiceCounter).where(m.InvoiceCounter.id == 1).with_for_update()
    ).one_or_none()
    if counter is None:
        counter = m.InvoiceCounter(id=1, last_number=0)
        ctx.uow.session.add(counter)
    first = counter.last_number + 1
    counter.last_number += count
    ctx.uow.session.flush()
    return [f"{INVOICE_PREFIX}{n:06d}" for n in range(first, first + count)]


def number_invoices(ctx: Context) -> None:
    """The gap-free numbers of the invoices this transaction issued, taken once their money has
    moved: the counter is one row that every invoice of the vendor's locks until its
    transaction ends, so it is taken after the payment processor was asked for the charges and
    refunds (a network call with a real processor), and held only for what names the numbers —
    the invoices' audit records and events, the events of the payments against them — and the
    commit. Each moment that issues an invoice calls this when its money has moved; the unit of
    work calls it before committing, for whatever is left."""
    if not ctx.uow.session.info.get(_LATER):
        _number_now(ctx)


@contextmanager
def numbered_together(ctx: Context) -> Iterator[None]:
    """For a use case with several moments that move money (a plan switch ends one
    subscription and buys another): their invoices are numbered once, after the last of them
    has moved its money, so the counter is not held while the processor is asked."""
    info = ctx.uow.session.info
    outer = info.get(_LATER, False)
    info[_LATER] = True
    try:
        yield
    finally:
        info[_LATER] = outer
    if not outer:
        _number_now(ctx)


def _number_now(ctx: Context) -> None:
    pending: list[m.Invoice] = ctx.uow.session.info.pop(_TO_NUMBER, [])
    if not pending:
        return
    for invoice, number in zip(pending, _next_numbers(ctx, len(pending)), strict=True):
        invoice.number = number
    ctx.uow.session.flush()
    for invoice in pending:
        ctx.audit(
            f"{invoice.kind}.issue",
            "invoice",
            invoice.number,
            organization_id=invoice.organization_id,
            after={
                "total": invoice.total_minor,
                "currency": invoice.currency,
                "reason": invoice.reason,
            },
        )
    events.release_payment_events(ctx.uow.session)


def run_charge_reference(reason: str, day: date, first_subscription_id: int) -> str:
    """What the processor knows a billing run's charge by (its idempotency key and
    description): what the invoice bills — why, on which day, from which subscription on —
    rather than its number. A number is final only when its transaction commits, and a run
    killed after the processor took the charge may, beside other workers, number the same
    invoice differently when it is done again: the processor must still be asked with the
    same key, so the customer is charged once. A run bills an organization's day once, and a
    trial converts once, so no two of a run's invoices bill the same. (A request's charges go
    by the request, `app.ChargeScope`: two alike increases on one day are two charges.)"""
    return f"{reason}-{day.isoformat()}-{first_subscription_id}"


def _post(
    ctx: Context,
    account: m.BillingAccount,
    tx: ledger.Transaction,
    *,
    invoice_id: int | None = None,
    payment_id: int | None = None,
) -> None:
    transaction = str(uuid.uuid4())
    for posting in tx.postings:
        ctx.uow.session.add(
            m.LedgerEntry(
                billing_account_id=account.id,
                transaction=transaction,
                kind=tx.kind.value,
                account=posting.account.value,
                amount_minor=posting.amount.minor,
                currency=posting.amount.currency.code,
                invoice_id=invoice_id,
                payment_id=payment_id,
                at=ctx.now(),
            )
        )
    ctx.uow.session.flush()


def issue(
    ctx: Context,
    org: m.Organization,
    lines: Sequence[inv.Line],
    *,
    reason: str,
    day: date,
) -> m.Invoice | None:
    """Issue an invoice (or a credit note when it comes to less than zero) for the lines."""
    if not lines:
        return None
    account = open_account(ctx, org)
    cur = currency(account.currency)
    rate = Decimal(account.tax_rate_bp) / Decimal(10000)
    sums = totals([line.amount for line in lines], rate, cur)
    subs = {
        s.id: s
        for s in ctx.uow.session.scalars(
            select(m.Subscription).where(
                m.Subscription.id.in_({line.subscription_id for line in lines})
            )
        )
    }
    invoice = m.Invoice(
        number=f"{PROVISIONAL}{uuid.uuid4().hex[:24]}",  # its own is taken later: number_invoices
        kind="credit_note" if sums.total.minor < 0 else "invoice",
        billing_account_id=account.id,
        organization_id=org.id,
        issue_date=day,
        due_date=due_date(day, account.payment_terms_days),
        period_start=min(line.start for line in lines),
        period_end=max(line.end for line in lines),
        currency=cur.code,
        subtotal_minor=sums.subtotal.minor,
        tax_rate_bp=account.tax_rate_bp,
        tax_minor=sums.tax.minor,
        total_minor=sums.total.minor,
        reason=reason,
        sold_to={"organization_id": org.id, "name": org.name, "country": org.country},
        bill_to={
            "name": account.bill_to_name,
            "address": account.bill_to_address,
            "country": account.country,
        },
        created_at=ctx.now(),
    )
    ctx.uow.session.add(invoice)
    ctx.uow.session.flush()
    for line in lines:
        ctx.uow.session.add(
            m.InvoiceLine(
                invoice_id=invoice.id,
                subscription_id=line.subscription_id,
                kind=line.kind.value,
                description=subs[line.subscription_id].offer.name,
                period_start=line.period.start,
                period_end=line.period.end,
                start=line.start,
                end=line.end,
                quantity=line.quantity,
                unit_price_minor=line.unit_price.minor,
                amount_minor=line.amount.minor,
                reverses_id=line.reverses,
            )
        )
    ctx.uow.session.flush()
    ctx.uow.session.refresh(invoice)
    _post(ctx, account, ledger.invoice_issued(sums.subtotal, sums.tax), invoice_id=invoice.id)
    if ctx.dry_run:  # a preview: it is rolled back, so it takes no number (`invoices.preview`)
        return invoice
    ctx.uow.session.info.setdefault(_TO_NUMBER, []).append(invoice)
    events.hold_payment_events(ctx.uow.session, invoice.id)
    ctx.uow.before_commit("number_invoices", lambda: _number_now(ctx))
    return invoice


# balances, payments, refunds ---------------------------------------------------------------------
def receivable(ctx: Context, account: m.BillingAccount) -> Money:
    """What the organization owes (below zero: credit it has)."""
    total = ctx.uow.session.scalar(
        select(func.coalesce(func.sum(m.LedgerEntry.amount_minor), 0)).where(
            m.LedgerEntry.billing_account_id == account.id,
            m.LedgerEntry.account == ledger.Account.RECEIVABLE.value,
        )
    )
    return Money.of(int(total or 0), account.currency)


_DECLINES = {
    "insufficient_funds": Code.PAYMENT_INSUFFICIENT_FUNDS,
    "processing_error": Code.PAYMENT_PROCESSING_ERROR,
}


def collect(
    ctx: Context,
    org: m.Organization,
    invoice: m.Invoice | None,
    purpose: Purpose,
) -> m.Payment | None:
    """Charge the default payment method for what is owed now (credit is used first).

    Purchases and changes fail as a whole when the charge is declined; renewals record the
    decline and leave the invoice open for dunning.
    """
    account = open_account(ctx, org)
    owed = receivable(ctx, account)
    if owed.minor <= 0:
        return None
    amount = (
        owed
        if invoice is None
        else Money.of(min(owed.minor, invoice.total_minor), account.currency)
    )
    if amount.minor <= 0:
        return None
    methods = list(ctx.uow.payment_methods.active(org.id))
    # Renewals fall back to the backup payment method when the default one is declined.
    candidates: list[m.PaymentMethod | None] = list(
        methods if purpose is Purpose.RENEWAL else methods[:1]
    ) or [None]
    payment: m.Payment | None = None
    for method in candidates:
        payment = _charge(ctx, account, invoice, method, amount, purpose)
        if payment.status != "declined":
            break
    assert payment is not None
    if payment.status == "declined" and purpose in (Purpose.PURCHASE, Purpose.CHANGE):
        code = _DECLINES.get(payment.decline_code or "", Code.PAYMENT_DECLINED)
        raise error(code, amount=str(amount))
    return payment


def _charge(
    ctx: Context,
    account: m.BillingAccount,
    invoice: m.Invoice | None,
    method: m.PaymentMethod | None,
    amount: Money,
    purpose: Purpose,
) -> m.Payment:
    payment = m.Payment(
        billing_account_id=account.id,
        invoice_id=invoice.id if invoice else None,
        payment_method_id=method.id if method else None,
        kind="charge",
        purpose=purpose.value,
        amount_minor=amount.minor,
        currency=account.currency,
        processor="none",
        created_at=ctx.now(),
    )
    if ctx.dry_run or method is None or method.kind == "invoice" or not method.processor_token:
        # Paid by transfer against the invoice (or a preview): nothing is charged now.
        payment.status = "pending"
        ctx.uow.session.add(payment)
        ctx.uow.session.flush()
        return payment
    processor = get_processor(method.processor or "sandbox")
    numbered = invoice is not None and not invoice.number.startswith(PROVISIONAL)
    if invoice is not None and purpose is Purpose.RENEWAL:
        lines = invoice.lines
        reference = run_charge_reference(
            invoice.reason, invoice.issue_date, min(line.subscription_id for line in lines)
        )
    else:  # a request's charge: by the request (`app.ChargeScope`), not by a number
        reference = ctx.charge_reference() or (invoice.number if invoice else "balance")
    # An invoice issued in this transaction is numbered only once its money has moved
    # (`number_invoices`): the processor knows such a charge, and a run's, by its reference.
    description = (
        invoice.number
        if invoice is not None and numbered and purpose is not Purpose.RENEWAL
        else reference
    )
    # Each attempt gets its own key: a retry (dunning) must reach the processor again, while a
    # repeat of the same attempt (a crash and rerun) stays one charge.
    attempt = ctx.uow.session.scalar(
        select(func.count())
        .select_from(m.Payment)
        .where(
            m.Payment.billing_account_id == account.id,
            m.Payment.kind == "charge",
            m.Payment.purpose == purpose.value,
            m.Payment.invoice_id == invoice.id if invoice else m.Payment.invoice_id.is_(None),
        )
    )
    key = f"{account.id}:{reference}:{purpose.value}:{amount.minor}:{method.id}:{attempt}"
    result = processor.charge(
        PaymentRequest(
            amount=amount,
            token=method.processor_token,
            purpose=purpose,
            idempotency_key=key,
            description=description,
        )
    )
    payment.processor = method.processor or "sandbox"
    payment.processor_ref = result.processor_ref
    payment.status = result.status.value
    payment.decline_code = str(result.decline_code) if result.decline_code else None
    ctx.uow.session.add(payment)
    ctx.uow.session.flush()
    if payment.status == "succeeded":
        _post(ctx, account, ledger.payment_received(amount), payment_id=payment.id)
    return payment


def refund_credit(ctx: Context, org: m.Organization) -> list[m.Payment]:
    """R13: credit the organization holds goes back to the payment methods it was paid with,
    newest charge first, never more than each charge minus what was refunded of it."""
    account = open_account(ctx, org)
    credit = -receivable(ctx, account).minor
    if credit <= 0 or ctx.dry_run:
        return []
    charges = list(
        ctx.uow.session.scalars(
            select(m.Payment)
            .where(
                m.Payment.billing_account_id == account.id,
                m.Payment.kind == "charge",
                m.Payment.status == "succeeded",
            )
            .order_by(m.Payment.id.desc())
        )
    )
    refunds: list[m.Payment] = []
    for charge in charges:
        if credit <= 0:
            break
        already = (
            ctx.uow.session.scalar(
                select(func.coalesce(func.sum(m.Payment.amount_minor), 0)).where(
                    m.Payment.refund_of_id == charge.id, m.Payment.status == "succeeded"
                )
            )
            or 0
        )
        room = charge.amount_minor - int(already)
        if room <= 0 or charge.processor_ref is None:
            continue
        amount = Money.of(min(room, credit), account.currency)
        processor = get_processor(charge.processor)
        result = processor.refund(
            charge.processor_ref, amount, f"refund:{charge.id}:{int(already)}:{amount.minor}"
        )
        refund = m.Payment(
            billing_account_id=account.id,
            invoice_id=None,
            payment_method_id=charge.payment_method_id,
            kind="refund",
            purpose=Purpose.REFUND.value,
            status=result.status.value,
            amount_minor=amount.minor,
            currency=account.currency,
            processor=charge.processor,
            processor_ref=result.processor_ref,
            refund_of_id=charge.id,
            created_at=ctx.now(),
        )
        ctx.uow.session.add(refund)
        ctx.uow.session.flush()
        if refund.status == "succeeded":
            _post(ctx, account, ledger.refund_paid(amount), payment_id=refund.id)
            credit -= amount.minor
        ctx.audit(
            "credit.refund",
            "payment",
            refund.id,
            organization_id=org.id,
            after={
                "status": refund.status,
                "amount": refund.amount_minor,
                "currency": refund.currency,
                "refund_of": charge.id,
            },
        )
        refunds.append(refund)
    return refunds


# the moments that move money ---------------------------------------------------------------------
def on_purchase(ctx: Context, org: m.Organization, sub: m.Subscription) -> m.Invoice | None:
    """A new paid subscription: charge the first period at once."""
    today = ctx.today(org)
    set_segment(ctx, sub, today)
    invoice = issue(ctx, org, due_lines(ctx, sub, today), reason="purchase", day=today)
    collect(ctx, org, invoice, Purpose.PURCHASE)
    number_invoices(ctx)
    return invoice


def on_licenses_added(
    ctx: Context, org: m.Organization, sub: m.Subscription, added: int
) -> m.Invoice | None:
    """R6: licenses bought mid-period are charged at once, for the rest of the period; the
    next statement restates the period (R7)."""
    today = ctx.today(org)
    before = plan(ctx, sub)
    set_segment(ctx, sub, today)
    charged_before = sum(s.quantity for s in before.segments if s.end is None)
    delta = charged_quantity(sub) - charged_before
    if delta <= 0 or not before.segments:
        invoice = issue(ctx, org, due_lines(ctx, sub, today), reason="change", day=today)
    else:
        line = inv.immediate_charge(plan(ctx, sub), today, delta)
        invoice = issue(ctx, org, [line], reason="change", day=today)
    collect(ctx, org, invoice, Purpose.CHANGE)
    number_invoices(ctx)
    return invoice


def on_licenses_removed(
    ctx: Context, org: m.Organization, sub: m.Subscription, *, refund_now: bool
) -> m.Invoice | None:
    """R12: the unused time is credited on the next bill (classic); inside a windowed
    offer's window the credit is issued and refunded at once."""
    today = ctx.today(org)
    set_segment(ctx, sub, today)
    if not refund_now:
        return None
    invoice = issue(ctx, org, due_lines(ctx, sub, today), reason="change", day=today)
    refund_credit(ctx, org)
    number_invoices(ctx)
    return invoice


def on_service_end(
    ctx: Context,
    org: m.Organization,
    sub: m.Subscription,
    *,
    refund_now: bool,
    reason: str = "cancellation",
) -> m.Invoice | None:
    """R11: cancelling issues a final invoice now; its credit is used by the next invoice or
    refunded within the next billing cycle (R13), or at once for windowed refunds."""
    today = ctx.today(org)
    _end_open_segment(ctx, sub, today)
    invoice = issue(ctx, org, due_lines(ctx, sub, today), reason=reason, day=today)
    if refund_now:
        refund_credit(ctx, org)
    number_invoices(ctx)
    return invoice


def statement(ctx: Context, org: m.Organization, as_of: date) -> m.Invoice | None:
    """The periodic statement: every subscription's due lines on one invoice; what is owed is
    charged, and credit left over is refunded (R13)."""
    subs = ctx.uow.subscriptions.in_organization(org.id)
    lines: list[inv.Line] = []
    for sub in subs:
        lines.extend(due_lines(ctx, sub, as_of))
    invoice = issue(ctx, org, lines, reason="statement", day=as_of)
    collect(ctx, org, invoice, Purpose.RENEWAL)
    refund_credit(ctx, org)
    number_invoices(ctx)
    return invoice


def invoice_summary(invoice: m.Invoice) -> dict[str, Any]:
    return {
        "number": invoice.number,
        "kind": invoice.kind,
        "total": invoice.total_minor,
        "currency": invoice.currency,
    }
