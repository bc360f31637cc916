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
from sqlalchemy import func, insert, select, update

from abonnement.domain import invoicing as inv
from abonnement.domain import lifecycle as lc
from abonnement.domain.currencies import currency
from abonnement.domain.invoices import Totals, due_date
from abonnement.domain.money import Money
from abonnement.payments import get_processor
from abonnement.payments.base import PaymentRequest, Purpose
from abonnement.services.billing import INVOICE_PREFIX, run_charge_reference
from abonnement.services.billing_batch_bulk import Bulk, Prepared, prepare
from abonnement.services.billing_batch_rows import Org, Sub, chunks, table_of
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
    #: "statement" (charged, its credit refunded) or "cancellation" (a final invoice: what it
    #: comes to is settled by the statement, `billing.on_service_end`)
    reason: str = "statement"
    invoice: dict[str, Any] = field(default_factory=dict)
    payments: list[dict[str, Any]] = field(default_factory=list)  # charges, then refunds


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


def ready_lines(statements: list[Statement], sqlite: bool) -> tuple[list[int], Prepared]:
    """The statements' invoice lines as the database stores them, but for the invoice they
    belong to (its id is taken under the lock): each line's statement, by its place."""
    owners: list[int] = []
    rows: list[dict[str, Any]] = []
    for k, st in enumerate(statements):
        for line in st.lines:
            owners.append(k)
            rows.append(
                {
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
    return owners, prepare(m.InvoiceLine, rows, sqlite)


def write_statements(
    ctx: Context,
    bulk: Bulk,
    statements: list[Statement],
    lines: tuple[list[int], Prepared] | None = None,
) -> list[dict[str, Any]]:
    """`billing.statement` for many organizations: numbered invoices with their lines (made
    ready beforehand, `ready_lines`, or here), the ledger entries, the renewal charges (a
    decline opens dunning). Returns the events.

    On PostgreSQL the invoices are numbered last: the counter row that keeps the numbers
    gap-free is locked from then until the commit, and every other transaction that issues an
    invoice (another worker's batch, a purchase) waits for it, so nothing that can be done
    before — the rows, the charges — is done while it is held. Until then an invoice carries a
    provisional number of its own (`~` and its id), which no other transaction ever sees."""
    invoice_ids = bulk.ids(m.Invoice, len(statements))
    # On SQLite the batch holds the one write lock of the database from its first write to the
    # commit, counter or not: its invoices take their numbers at once, and are written with them.
    numbers = _numbers(ctx, len(statements)) if bulk.sqlite else None
    invoices: list[dict[str, Any]] = []
    for k, (st, invoice_id) in enumerate(zip(statements, invoice_ids, strict=True)):
        account = st.org.account
        cur = currency(account.currency)
        sums = st.sums  # worked out when the day was staged
        st.invoice = {
            "id": invoice_id,
            "number": numbers[k] if numbers else f"~{invoice_id}",
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
            "reason": st.reason,
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
    bulk.insert(m.Invoice, invoices)
    owners, ready = lines if lines is not None else ready_lines(statements, bulk.sqlite)
    bulk.insert(
        m.InvoiceLine,
        Prepared(
            ["invoice_id", *ready.names],
            [(invoice_ids[k], *row) for k, row in zip(owners, ready.values, strict=True)],
        ),
    )
    # billing.collect for a renewal: method after method until one is not declined; what the
    # organization owes counts its final invoices of the day, issued before the statement
    owed: dict[int, int] = {}
    credit: list[tuple[Statement, int]] = []
    for st in statements:
        total = st.invoice["total_minor"]
        balance = owed[st.org.id] = owed.get(st.org.id, st.org.receivable) + total
        if st.reason != "statement":
            continue
        amount = min(balance, total)
        if balance > 0 and amount > 0:
            for attempt, method in enumerate(list(st.org.methods) or [None]):
                st.payments.append(_charge(st, method, amount, attempt))
                if st.payments[-1]["status"] != "declined":
                    break
            if st.payments[-1]["status"] == "succeeded":
                owed[st.org.id] -= amount
        if owed[st.org.id] < 0:
            credit.append((st, -owed[st.org.id]))
    _refund(bulk, credit)
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
            if payment["status"] != "succeeded":
                continue
            amount = payment["amount_minor"]
            if payment["kind"] == "refund":  # ledger.refund_paid
                kind, postings = "refund", [("receivable", amount), ("cash", -amount)]
            else:  # ledger.payment_received
                kind, postings = "payment", [("cash", amount), ("receivable", -amount)]
            ledger += _postings(st, kind, postings, payment_id=payment["id"])
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
    bulk.insert(m.AuditRecord, [_refund_audit(ctx, st, p) for st, p in _refunds(statements)])
    if numbers is None:
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
                "reason": st.reason,
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
    for st, refund in _refunds(statements):  # billing_run.do_day: the credit refunded
        if refund["status"] == "succeeded":
            events.append(
                event_row(
                    st.org.id,
                    lc.EventType.CREDIT_REFUNDED,
                    refund["id"],
                    st.day,
                    st.at,
                    amount=refund["amount_minor"],
                )
            )
    return events


def _refunds(statements: list[Statement]) -> list[tuple[Statement, dict[str, Any]]]:
    return [(st, p) for st in statements for p in st.payments if p["kind"] == "refund"]


def _refund(bulk: Bulk, credit: list[tuple[Statement, int]]) -> None:
    """`billing.refund_credit` for the statements that leave their organization credit (R13):
    it goes back to the charges it was paid with, newest first, never more than each charge
    minus what was refunded of it. The charges are read here, under the lock the batch holds;
    a charge of this batch never comes to a refund (it is for no more than is owed)."""
    if not credit:
        return
    p = table_of(m.Payment)
    charges: dict[int, list[Any]] = {}
    accounts = [st.org.account.id for st, _ in credit]
    for chunk in chunks(accounts):
        for row in bulk.connection.execute(
            select(p.c.id, p.c.billing_account_id, p.c.amount_minor, p.c.payment_method_id)
            .add_columns(p.c.processor, p.c.processor_ref)
            .where(
                p.c.billing_account_id.in_(chunk),
                p.c.kind == "charge",
                p.c.status == "succeeded",
            )
            .order_by(p.c.id.desc())
        ):
            charges.setdefault(row.billing_account_id, []).append(row)
    refunded: dict[int, int] = {}
    for chunk in chunks([c.id for rows in charges.values() for c in rows]):
        for charge_id, total in bulk.connection.execute(
            select(p.c.refund_of_id, func.sum(p.c.amount_minor))
            .where(p.c.refund_of_id.in_(chunk), p.c.status == "succeeded")
            .group_by(p.c.refund_of_id)
        ):
            refunded[charge_id] = int(total or 0)
    for st, left in credit:
        account = st.org.account
        for charge in charges.get(account.id, []):
            if left <= 0:
                break
            already = refunded.get(charge.id, 0)
            room = charge.amount_minor - already
            if room <= 0 or charge.processor_ref is None:
                continue
            amount = Money.of(min(room, left), account.currency)
            result = get_processor(charge.processor).refund(
                charge.processor_ref, amount, f"refund:{charge.id}:{already}:{amount.minor}"
            )
            st.payments.append(
                {
                    "billing_account_id": account.id,
                    "invoice_id": None,
                    "payment_method_id": charge.payment_method_id,
                    "kind": "refund",
                    "purpose": Purpose.REFUND.value,
                    "status": result.status.value,
                    "amount_minor": amount.minor,
                    "currency": account.currency,
                    "processor": charge.processor,
                    "processor_ref": result.processor_ref,
                    "decline_code": None,
                    "refund_of_id": charge.id,
                    "created_at": st.at,
                }
            )
            if result.status.value == "succeeded":
                left -= amount.minor


def _refund_audit(ctx: Context, st: Statement, refund: dict[str, Any]) -> dict[str, Any]:
    """The `credit.refund` audit record `billing.refund_credit` writes."""
    return {
        "organization_id": st.org.id,
        "actor": ctx.actor.label,
        "actor_user_id": ctx.actor.user_id,
        "action": "credit.refund",
        "entity": "payment",
        "entity_id": str(refund["id"]),
        "before": None,
        "after": {
            "status": refund["status"],
            "amount": refund["amount_minor"],
            "currency": refund["currency"],
            "refund_of": refund["refund_of_id"],
        },
        "at": st.at,
    }


def _numbers(ctx: Context, count: int) -> list[str]:
    """`billing._next_numbers` for `count` invoices, in their order: the counter is locked here
    and stays locked until the batch commits."""
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
        .values(last_number=first + count - 1)
    )
    return [f"{INVOICE_PREFIX}{first + k:06d}" for k in range(count)]


def _number(ctx: Context, bulk: Bulk, statements: list[Statement]) -> None:
    """The batch's invoices, written with provisional numbers, take their own (PostgreSQL:
    last, so the counter is held only from here to the commit)."""
    for st, number in zip(statements, _numbers(ctx, len(statements)), strict=True):
        st.invoice["number"] = number
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
    """The event `services.events` writes for an inserted charge or refund."""
    if payment["kind"] == "refund":
        if payment["status"] != "succeeded":
            return []
        kind = "payment.refunded"
    elif payment["status"] == "succeeded":
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
                "invoice": st.invoice["number"] if payment["invoice_id"] else None,
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
