"""The billing run's common day, done for many organizations at once.

Most organization-days of a run are alike: active subscriptions renew, the monthly statement
charges the new period (and restates changes, R7) and the card on file pays it. This module does
those days for a batch of organizations with a handful of set-based reads and bulk writes, where
the one-by-one path (`billing_run.run_organization`) spends dozens of round trips per
organization. It writes exactly the rows the one-by-one path writes — subscriptions, audit
records, invoices and their lines, ledger entries, payments, dunning cases, events, cursors — and
a test holds the two to that.

Exactly once stays as it is: every organization-day of a batch is done in one transaction that
also moves that organization's cursor, after the organizations' rows (and their subscriptions')
are locked in id order. A batch that fails is rolled back as a whole and its organizations go the
one-by-one way, which reports the one that fails.

Anything else an organization has due that day — a trial ending, a credit check, dunning, a term
ending without renewal, a reduction at renewal, the lifecycle after the end, a grace period,
credit to refund, a statement that comes to a credit note — sends the organization to the
one-by-one path, which knows every step; the batch leaves it untouched.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import insert, select, update

from abonnement.clock import local_date
from abonnement.domain import invoicing as inv
from abonnement.domain import lifecycle as lc
from abonnement.domain.currencies import currency
from abonnement.domain.invoices import Totals, due_date, totals
from abonnement.domain.money import Money
from abonnement.domain.periods import Frequency, Period, period_containing
from abonnement.domain.subscriptions import Status, transition
from abonnement.payments import get_processor
from abonnement.payments.base import PaymentRequest, Purpose
from abonnement.services.billing import INVOICE_PREFIX, run_charge_reference
from abonnement.services.billing_batch_bulk import Bulk
from abonnement.services.billing_batch_rows import Org, Sub, load, table_of
from abonnement.services.context import Context
from abonnement.store import models as m

#: Organizations per batch (one transaction); each pass of a batch does one day of each.
BATCH_SIZE = 500


@dataclass
class Outcome:
    """What a batch did, and the organizations it leaves to the one-by-one path."""

    days: int = 0
    invoices: int = 0
    events: list[str] = field(default_factory=list)
    rest: list[int] = field(default_factory=list)


@dataclass
class _Writes:
    """Everything one pass writes, in the order the one-by-one path would write it."""

    sub_updates: list[dict[str, Any]] = field(default_factory=list)
    segments_ended: list[dict[str, Any]] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    statements: list[_Statement] = field(default_factory=list)
    cursors_new: list[dict[str, Any]] = field(default_factory=list)
    cursors_moved: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Statement:
    org: Org
    day: date
    at: datetime
    lines: list[inv.Line]
    subs: dict[int, Sub]
    audit: dict[str, Any]  # its audit record, in the organization's order
    sums: Totals
    invoice: dict[str, Any] = field(default_factory=dict)
    payments: list[dict[str, Any]] = field(default_factory=list)


# what is due: billing_run.next_day, on values -----------------------------------------------------
_period_containing = functools.lru_cache(maxsize=65536)(period_containing)


def _next_billing_date(sub: Sub, after: date) -> date | None:
    plan = sub.plan
    assert plan is not None
    if not plan.segments:
        return None
    start = max(after, plan.segments[0].start)
    following = _period_containing(plan.anchor, Frequency.MONTHLY, start).end
    end = plan.service_end
    return following if end is None or following < end else None


_MOVED_BY_TIME = (Status.EXPIRED, Status.DISABLED)  # the statuses `lc.ended_step` moves on


def _ended_due(org: Org, sub: Sub) -> lc.StatusChange | None:
    if sub.status not in _MOVED_BY_TIME:
        return None  # what `lc.ended_step` says, without the local date it would not use
    return lc.ended_step(
        sub.status,
        local_date(sub.status_changed_at, org.time_zone),
        sub.offer.expired_days,
        sub.offer.disabled_days,
    )


_Renewal = tuple[lc.Renewal, int | None, date | None]  # a renewal, and what is pending after it


class _OneByOne(Exception):
    """This organization's day needs a step the batch does not take."""


def _next_day(org: Org, cursor: date, last: date) -> date | None:
    after = cursor + timedelta(days=1)
    due: list[date] = []
    for sub in org.subs:
        if sub.credit_check_pending:
            raise _OneByOne
        if sub.status in (Status.TRIAL, Status.ACTIVE):
            due.append(max(sub.term_end, after))
        ended = _ended_due(org, sub)
        if ended is not None:
            due.append(max(ended.on, after))
        billing_date = _next_billing_date(sub, cursor)
        if billing_date is not None:
            due.append(billing_date)
    day = min(due, default=None)
    return day if day is not None and day <= last else None


# one organization's day, staged -----------------------------------------------------------------
@functools.lru_cache(maxsize=4096)  # the organizations of a batch share a few days and zones
def _moment(day: date, time_zone: str) -> datetime:
    from abonnement.services.billing_run import moment

    return moment(day, time_zone)


def _stage_day(ctx: Context, org: Org, day: date, cursor: date, w: _Writes) -> list[str]:
    """The writes of the organization's day, or _OneByOne before any of them is staged."""
    at = _moment(day, org.time_zone)
    for sub in org.subs:
        if sub.status is Status.TRIAL and sub.term_end <= day:
            raise _OneByOne  # end_trials
        ended = _ended_due(org, sub)
        if ended is not None and ended.on <= day:
            raise _OneByOne  # move_ended
    # end_terms: renewals and expiries, worked out before anything is staged
    renewals: list[tuple[Sub, list[_Renewal]]] = []
    for sub in org.subs:
        if sub.status is not Status.ACTIVE or sub.term_end > day:
            continue
        plan = sub.plan
        assert plan is not None
        if not sub.recurring_billing:
            _stage_expiry(sub, plan, day)
            renewals.append((sub, []))
            continue
        anchor = plan.anchor if plan.segments else sub.term_start
        steps: list[_Renewal] = []
        term = Period(sub.term_start, sub.term_end)
        pending_q, pending_e = sub.pending_quantity, sub.pending_effective
        while term.end <= day:
            renewal = lc.renew(anchor, sub.offer.term, term, sub.quantity, pending_q, pending_e)
            if renewal.reduced_from is not None:
                raise _OneByOne  # a reduction at renewal: segments and grace
            term = renewal.term
            if pending_e is None or pending_e <= renewal.term.start:
                pending_q, pending_e = None, None
            steps.append((renewal, pending_q, pending_e))
        renewals.append((sub, steps))
    # the statement (billing_run._statement), on the renewed subscriptions
    billing_date = any(
        cursor < b <= day for b in (_next_billing_date(s, cursor) for s in org.subs) if b
    )
    lines: list[inv.Line] = []
    if billing_date:
        for sub in org.subs:
            assert sub.plan is not None
            lines.extend(inv.generate(sub.plan, day, sub.issued))
    statement: _Statement | None = None
    if lines:
        if org.account is None:
            raise _OneByOne  # the account is opened on the way
        cur = currency(org.account.currency)
        rate = Decimal(org.account.tax_rate_bp) / Decimal(10000)
        sums = totals([line.amount for line in lines], rate, cur)
        if sums.total.minor <= 0:
            raise _OneByOne  # a credit note: refunds
        statement = _Statement(org, day, at, lines, {s.id: s for s in org.subs}, {}, sums)
    # nothing refuses the day any more: stage it
    events: list[str] = []
    for sub, steps in renewals:
        if not steps:  # recurring billing off: the subscription expires with its term
            _expire(ctx, org, sub, day, at, w)
            events.append(lc.EventType.EXPIRED.value)
            continue
        after = sub.snapshot()
        for renewal, pending_q, pending_e in steps:
            before = after
            sub.term_start, sub.term_end = renewal.term.start, renewal.term.end
            sub.pending_quantity, sub.pending_effective = pending_q, pending_e
            after = {  # `snapshot` after the renewal: its term and what is pending changed
                **before,
                "term_start": sub.term_start.isoformat(),
                "term_end": sub.term_end.isoformat(),
                "pending_quantity": pending_q,
                "pending_effective": pending_e.isoformat() if pending_e else None,
            }
            w.audits.append(_audit(ctx, org.id, "subscription.renew", "subscription", sub.id, at))
            w.audits[-1].update(before=before, after=after)
            start = renewal.term.start.isoformat()
            w.events.append(
                _event(
                    org.id,
                    lc.EventType.RENEWED,
                    sub.id,
                    day,
                    at,
                    token=start,
                    term_start=start,
                    term_end=renewal.term.end.isoformat(),
                    quantity=sub.quantity,
                )
            )
            events.append(lc.EventType.RENEWED.value)
        w.sub_updates.append(_sub_update(sub, status=False))
    if statement is not None:
        statement.audit = _audit(ctx, org.id, "invoice.issue", "invoice", "", at)
        w.audits.append(statement.audit)
        w.statements.append(statement)
    cursor_row = {"organization_id": org.id, "processed_through": day, "updated_at": at}
    (w.cursors_moved if org.cursor is not None else w.cursors_new).append(cursor_row)
    org.cursor = day
    return events


def _sub_update(sub: Sub, *, status: bool = True) -> dict[str, Any]:
    """The subscription's changed columns (a renewal leaves its status as it was)."""
    row: dict[str, Any] = {"id": sub.id}
    if status:
        row.update(status=sub.status, status_changed_at=sub.status_changed_at)
    row.update(
        term_start=sub.term_start,
        term_end=sub.term_end,
        pending_quantity=sub.pending_quantity,
        pending_effective=sub.pending_effective,
    )
    return row


def _stage_expiry(sub: Sub, plan: inv.BillingPlan, day: date) -> None:
    """`billing.on_service_end` at the end of the term, worked out: the running segment ends
    today. Should that leave anything to invoice (or the segment start today), the one-by-one
    path issues it."""
    if sub.open_segment is None or sub.open_segment[1] >= day:
        raise _OneByOne
    segments = plan.segments
    last = segments[-1]
    ended = inv.BillingPlan(
        plan.subscription_id,
        plan.anchor,
        plan.frequency,
        (*segments[:-1], inv.Segment(last.start, day, last.quantity, last.unit_price)),
    )
    if inv.generate(ended, day, sub.issued):
        raise _OneByOne  # a final invoice or credit note
    sub.plan = ended


def _expire(ctx: Context, org: Org, sub: Sub, day: date, at: datetime, w: _Writes) -> None:
    """`lifecycle.end_terms` for recurring billing off: the running segment ends, and the
    subscription is Expired (`Day.change_status`)."""
    assert sub.open_segment is not None
    w.segments_ended.append({"id": sub.open_segment[0], "end": day})
    before = sub.snapshot()
    previous = sub.status
    sub.status = transition(sub.status, Status.EXPIRED)
    sub.status_changed_at = at
    w.audits.append(_audit(ctx, org.id, "subscription.expired", "subscription", sub.id, at))
    w.audits[-1].update(before=before, after=sub.snapshot())
    w.events.append(
        _event(
            org.id,
            lc.EventType.EXPIRED,
            sub.id,
            day,
            at,
            previous=previous.value,
            status=Status.EXPIRED.value,
            term_end=str(sub.term_end),
        )
    )
    w.sub_updates.append(_sub_update(sub))


def _audit(
    ctx: Context, org_id: int, action: str, entity: str, entity_id: object, at: datetime
) -> dict[str, Any]:
    return {
        "organization_id": org_id,
        "actor": ctx.actor.label,
        "actor_user_id": ctx.actor.user_id,
        "action": action,
        "entity": entity,
        "entity_id": str(entity_id),
        "before": None,
        "after": None,
        "at": at,
    }


def _event(
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


# writing ----------------------------------------------------------------------------------------
def _write(ctx: Context, w: _Writes, outcome: Outcome) -> None:
    """The pass's rows. What names an invoice number (the invoices' audit records and events)
    goes last, after the numbering, which holds the counter until the commit (`_number`)."""
    session = ctx.uow.session
    bulk = Bulk(session)
    bulk.update(m.Subscription, "id", w.sub_updates)
    bulk.update(m.BillingSegment, "id", w.segments_ended)
    numbered = {id(st.audit) for st in w.statements}
    bulk.insert(m.AuditRecord, [a for a in w.audits if id(a) not in numbered])
    bulk.insert(m.Event, w.events)
    bulk.insert(m.BillingCursor, w.cursors_new)
    bulk.update(m.BillingCursor, "organization_id", w.cursors_moved)
    if w.statements:
        events = _statements(ctx, bulk, w.statements, outcome)
        bulk.insert(m.AuditRecord, [st.audit for st in w.statements])
        bulk.insert(m.Event, events)


def _statements(
    ctx: Context, bulk: Bulk, statements: list[_Statement], outcome: Outcome
) -> list[dict[str, Any]]:
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
            _event(
                st.org.id,
                lc.EventType.INVOICE_ISSUED,
                invoice["number"],
                st.day,
                st.at,
                total=invoice["total_minor"],
            )
        )
        outcome.invoices += 1
        outcome.events.append(lc.EventType.INVOICE_ISSUED.value)
        if not st.payments or st.payments[-1]["status"] != "declined":
            continue
        last = st.payments[-1]
        events.append(
            _event(
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
        outcome.events.append(lc.EventType.PAYMENT_FAILED.value)
    return events


def _number(ctx: Context, bulk: Bulk, statements: list[_Statement]) -> None:
    """`billing._next_number` for the batch's invoices, in their order: the counter is locked
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


def _payment_event(st: _Statement, payment: dict[str, Any]) -> list[dict[str, Any]]:
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
    st: _Statement,
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


def _charge(st: _Statement, method: Any, amount_minor: int, attempt: int) -> dict[str, Any]:
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


# the batch --------------------------------------------------------------------------------------
def run(ctx: Context, ids: list[int], until: datetime) -> Outcome:
    """Bill a batch of organizations up to `until`, a day of each per transaction (committed
    here), for as long as their days are the common kind. The rest are returned, untouched
    since their last finished day, for the one-by-one path."""
    outcome = Outcome()
    todo = list(ids)
    while todo:
        orgs = load(ctx, todo)
        writes = _Writes()
        staged: list[tuple[Org, date, list[str]]] = []
        todo = []
        for org_id in sorted(orgs):
            org = orgs[org_id]
            if org.busy or org.receivable < 0:  # dunning, grace, test clock; credit to refund
                outcome.rest.append(org.id)
                continue
            cursor = org.cursor or local_date(org.created_at, org.time_zone)
            last = local_date(until, org.time_zone)
            try:
                day = _next_day(org, cursor, last)
                if day is None:
                    if cursor < last:  # nothing else is due up to `last`: those days are done
                        row = {
                            "organization_id": org.id,
                            "processed_through": last,
                            "updated_at": _moment(last, org.time_zone),
                        }
                        moved = org.cursor is not None
                        (writes.cursors_moved if moved else writes.cursors_new).append(row)
                    continue
                events = _stage_day(ctx, org, day, cursor, writes)
            except _OneByOne:
                outcome.rest.append(org.id)
                continue
            staged.append((org, day, events))
            if day < last:
                todo.append(org.id)
        _write(ctx, writes, outcome)
        ctx.uow.commit()
        for _org, _day, events in staged:
            outcome.days += 1
            outcome.events.extend(events)
    return outcome
