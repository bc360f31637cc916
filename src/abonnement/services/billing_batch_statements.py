"""The billing batch's statements: the invoices of many organization-days, numbered, with their
lines, ledger entries, renewal charges and dunning cases (`billing.statement`, for a batch), and
the events that announce them. `billing_batch` stages the days and calls `write_statements` in the
batch's transaction; a test holds what it writes to what the one-by-one path writes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import insert, select, update

from abonnement.domain import invoicing as inv
from abonnement.domain import lifecycle as lc
from abonnement.domain.currencies import currency
from abonnement.domain.invoices import Totals, due_date
from abonnement.domain.money import Money
from abonnement.payments import get_processor
from abonnement.payments.base import PaymentRequest, Purpose
from abonnement.services.billing import INVOICE_PREFIX, run_charge_reference
from abonnement.services.billing_batch_bulk import Bulk
from abonnement.services.billing_batch_rows import Org, Sub, table_of
from abonnement.services.context import Context
from abonnement.store import models as m


@dataclass
class Statement:
    """One organization-day's statement as the batch stages it: its lines and totals, worked
    out with the day; its invoice and payments as rows, once written."""

    org: Org
    day: date
    at: datetime
    lines: list[inv.Line]
    subs: dict[int, Sub]
    audit: dict[str, Any]  # its audit record, in the organization's order
    sums: Totals
    invoice: dict[str, Any] = field(default_factory=dict)
    payments: list[dict[str, Any]] = field(default_factory=list)


def event_row(
    org_id: int,
    kind: lc.EventType,
    subject_id: object,
    day: date,
    at: datetime,
    *,
    token: str = "",
    **payload: Any,
) -> dict[str, Any]:
    """`lifecycle.Day.emit`, as a row."""
    return {
        "organization_id": org_id,
        "type": kind.value,
        "subject_id": str(subject_id),
        "key": f"{kind.value}:{subject_id}:{day.isoformat()}{':' + token if token else ''}",
        "payload": {"date": day.isoformat(), **payload},
        "created_at": at,
    }


def write_statements(ctx: Context, bulk: Bulk, statements: list[Statement]) -> list[dict[str, Any]]:
    """`billing.statement` for many organizations: numbered invoices with their lines, the
    ledger entries, the renewal charges (a decline opens dunning). Returns the events.

    The invoices are numbered last: the counter row that keeps the numbers gap-free is locked
    from then until the commit, and every other transaction that issues an invoice (another
    worker's batch, a purchase) waits for it, so nothing that can be done before — the rows,
    the charges — is done while it is held. Until then an invoice carries a provisional
    number of its own (`~` and its id), which no other transaction ever sees."""
    invoice_ids = bulk.ids(m.Invoice, len(statements))
    invoices: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for st, invoice_id in zip(statements, invoice_ids, strict=True):
        account = st.org.account
        cur = currency(account.currency)
        sums = st.sums  # worked out when the day was staged
        st.invoice = {
            "id": invoice_id,
            "number": f"~{invoice_id}",
            "kind": "credit_note" if sums.total.minor < 0 else "invoice",
            "billing_account_id": account.id,
            "organization_id": st.org.id,
            "issue_date": st.day,
            "due_date": due_date(st.day, account.payment_terms_days),
            "period_start": min(line.start for line in st.lines),
            "period_end": max(line.end for line in st.lines),
            "currency": cur.code,
            "subtotal_minor": sums.subtotal.minor,
            "tax_rate_bp": account.tax_rate_bp,
            "tax_minor": sums.tax.minor,
            "total_minor": sums.total.minor,
            "reason": "statement",
            "sold_to": {
                "organization_id": st.org.id,
                "name": st.org.name,
                "country": st.org.country,
            },
            "bill_to": {
                "name": account.bill_to_name,
                "address": account.bill_to_address,
                "country": account.country,
            },
            "created_at": st.at,
        }
        invoices.append(st.invoice)
        for line in st.lines:
            lines.append(
                {
                    "invoice_id": invoice_id,
                    "subscription_id": line.subscription_id,
                    "kind": line.kind.value,
                    "description": st.subs[line.subscription_id].offer.name,
                    "period_start": line.period.start,
                    "period_end": line.period.end,
                    "start": line.start,
                    "end": line.end,
                    "quantity": line.quantity,
                    "unit_price_minor": line.unit_price.minor,
                    "amount_minor": line.amount.minor,
                    "reverses_id": line.reverses,
                }
            )
    bulk.insert(m.Invoice, invoices)
    bulk.insert(m.InvoiceLine, lines)
    # billing.collect for a renewal: method after method until one is not declined
    for st in statements:
        total = st.invoice["total_minor"]
        owed = st.org.receivable + total
        amount = min(owed, total)
        if owed <= 0 or amount <= 0:
            continue
        for attempt, method in enumerate(list(st.org.methods) or [None]):
            st.payments.append(_charge(st, method, amount, attempt))
            if st.payments[-1]["status"] != "declined":
                break
    payment_ids = iter(bulk.ids(m.Payment, sum(len(st.payments) for st in statements)))
    ledger: list[dict[str, Any]] = []
    cases: list[dict[str, Any]] = []
    for st in statements:
        invoice = st.invoice
        ledger += _postings(
            st,
            "invoice",
            [
                ("receivable", invoice["subtotal_minor"] + invoice["tax_minor"]),
                ("revenue", -invoice["subtotal_minor"]),
                ("tax_payable", -invoice["tax_minor"]),
            ],
            invoice_id=invoice["id"],
        )
        for payment in st.payments:
            payment["id"] = next(payment_ids)
            if payment["status"] == "succeeded":
                amount = payment["amount_minor"]
                ledger += _postings(
                    st,
                    "payment",
                    [("cash", amount), ("receivable", -amount)],
                    payment_id=payment["id"],
                )
        if st.payments and st.payments[-1]["status"] == "declined":
            cases.append(  # dunning.open_case_if_declined
                {
                    "organization_id": st.org.id,
                    "invoice_id": invoice["id"],
                    "declined_on": st.day,
                    "retries": 0,
                    "next_attempt_on": lc.dunning_attempt_on(st.day, 0),
                    "status": "open",
                }
            )
    bulk.insert(m.Payment, [p for st in statements for p in st.payments])
    bulk.insert(m.LedgerEntry, ledger)
    bulk.insert(m.DunningCase, cases)
    _number(ctx, bulk, statements)
    # what names the numbers: the audit records and the events
    events: list[dict[str, Any]] = []
    announce = _payments_announced()
    for st in statements:
        invoice = st.invoice
        st.audit.update(
            action=f"{invoice['kind']}.issue",
            entity_id=invoice["number"],
            after={
                "total": invoice["total_minor"],
                "currency": invoice["currency"],
                "reason": "statement",
            },
        )
        if announce:
            for payment in st.payments:
                events += _payment_event(st, payment)
        events.append(
            event_row(
                st.org.id,
                lc.EventType.INVOICE_ISSUED,
                invoice["number"],
                st.day,
                st.at,
                total=invoice["total_minor"],
            )
        )
        if not st.payments or st.payments[-1]["status"] != "declined":
            continue
        last = st.payments[-1]
        events.append(
            event_row(
                st.org.id,
                lc.EventType.PAYMENT_FAILED,
                invoice["number"],
                st.day,
                st.at,
                amount=last["amount_minor"],
                currency=last["currency"],
                decline_code=last["decline_code"],
                next_attempt_on=str(lc.dunning_attempt_on(st.day, 0)),
            )
        )
    return events


def _number(ctx: Context, bulk: Bulk, statements: list[Statement]) -> None:
    """`billing._next_numbers` for the batch's invoices, in their order: the counter is locked
    here and stays locked until the batch commits."""
    session = ctx.uow.session
    counter = session.execute(
        select(m.InvoiceCounter.last_number).where(m.InvoiceCounter.id == 1).with_for_update()
    ).scalar_one_or_none()
    first = (counter or 0) + 1
    if counter is None:
        session.execute(insert(table_of(m.InvoiceCounter)).values(id=1, last_number=0))
    session.execute(
        update(table_of(m.InvoiceCounter))
        .where(m.InvoiceCounter.id == 1)
        .values(last_number=first + len(statements) - 1)
    )
    for k, st in enumerate(statements):
        st.invoice["number"] = f"{INVOICE_PREFIX}{first + k:06d}"
    bulk.update_each(
        m.Invoice, "number", [(st.invoice["id"], st.invoice["number"]) for st in statements]
    )


def _payments_announced() -> bool:
    """Whether payments announce themselves to the webhook outbox (`services.events`, a
    listener on inserted payments). The batch writes those events itself, in bulk, as the
    listener would (a test holds the two equal); any other listener would be bypassed, so the
    batch refuses to run beside one it does not know."""
    listeners = list(m.Payment.__mapper__.dispatch.after_insert)
    if not listeners:
        return False
    from abonnement.services import events

    known = getattr(events, "_payment_inserted", None)
    if (
        len(listeners) != 1
        or known is None
        or not sa_event.contains(m.Payment, "after_insert", known)
    ):
        raise RuntimeError("payments have listeners the billing batch does not know")
    return True


def _payment_event(st: Statement, payment: dict[str, Any]) -> list[dict[str, Any]]:
    """The event `services.events` writes for an inserted charge."""
    if payment["status"] == "succeeded":
        kind = "payment.succeeded"
    elif payment["status"] in ("declined", "failed"):
        kind = "payment.failed"
    else:  # pending: a transfer against an invoice
        return []
    return [
        {
            "organization_id": st.org.id,
            "type": kind,
            "subject_id": str(payment["id"]),
            "key": f"{kind}:{payment['id']}",
            "payload": {
                "object": "payment",
                "id": payment["id"],
                "kind": payment["kind"],
                "purpose": payment["purpose"],
                "status": payment["status"],
                "amount": payment["amount_minor"],
                "currency": payment["currency"],
                "invoice": st.invoice["number"],
                "decline_code": payment["decline_code"],
                "refund_of": payment["refund_of_id"],
            },
            "created_at": payment["created_at"],
        }
    ]


def _postings(
    st: Statement,
    kind: str,
    postings: list[tuple[str, int]],
    *,
    invoice_id: int | None = None,
    payment_id: int | None = None,
) -> list[dict[str, Any]]:
    """`billing._post`: one balanced ledger transaction."""
    transaction = str(uuid.uuid4())
    return [
        {
            "billing_account_id": st.org.account.id,
            "transaction": transaction,
            "kind": kind,
            "account": name,
            "amount_minor": amount,
            "currency": st.org.account.currency,
            "invoice_id": invoice_id,
            "payment_id": payment_id,
            "at": st.at,
        }
        for name, amount in postings
    ]


def _charge(st: Statement, method: Any, amount_minor: int, attempt: int) -> dict[str, Any]:
    """`billing._charge` for a renewal: the processor is asked with the same idempotency key,
    so a charge it took before a crash is found again on the rerun, not taken twice."""
    account = st.org.account
    payment: dict[str, Any] = {
        "billing_account_id": account.id,
        "invoice_id": st.invoice["id"],
        "payment_method_id": method.id if method is not None else None,
        "kind": "charge",
        "purpose": Purpose.RENEWAL.value,
        "status": "pending",
        "amount_minor": amount_minor,
        "currency": account.currency,
        "processor": "none",
        "processor_ref": None,
        "decline_code": None,
        "refund_of_id": None,
        "created_at": st.at,
    }
    if method is None or method.kind == "invoice" or not method.processor_token:
        return payment  # paid by transfer against the invoice
    amount = Money.of(amount_minor, account.currency)
    first = min(line.subscription_id for line in st.lines)
    reference = run_charge_reference("statement", st.day, first)
    key = f"{account.id}:{reference}:{Purpose.RENEWAL.value}:{amount.minor}:{method.id}:{attempt}"
    result = get_processor(method.processor or "sandbox").charge(
        PaymentRequest(
            amount=amount,
            token=method.processor_token,
            purpose=Purpose.RENEWAL,
            idempotency_key=key,
            description=reference,
        )
    )
    payment["processor"] = method.processor or "sandbox"
    payment["processor_ref"] = result.processor_ref
    payment["status"] = result.status.value
    payment["decline_code"] = str(result.decline_code) if result.decline_code else None
    return payment
