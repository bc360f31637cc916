"""The billing run's common day, done for many organizations at once.

Most organization-days of a run are alike: active subscriptions renew or, with recurring
billing off, expire with a final invoice for what their changes leave (R11), the monthly
statement charges the new period (and restates changes, R7) and the card on file pays it, or the
credit it comes to goes back to the cards it was paid with (R13). This module does
those days for a batch of organizations with a handful of set-based reads and bulk writes, where
the one-by-one path (`billing_run.run_organization`) spends dozens of round trips per
organization. It writes exactly the rows the one-by-one path writes — subscriptions, audit
records, invoices and their lines, ledger entries, payments, dunning cases, events, cursors — and
a test holds the two to that.

Exactly once stays as it is: every organization-day of a batch is done in one transaction that
also moves that organization's cursor, after the organizations' rows (and their subscriptions')
are locked in id order. A batch that fails is rolled back as a whole and its organizations go the
one-by-one way, which reports the one that fails.

Anything else an organization has due that day — a trial ending, a credit check, dunning, a
reduction at renewal, the lifecycle after the end, a grace period, credit held from before, credit
with no statement to refund it on — sends the organization to the one-by-one path, which knows
every step; the batch leaves it untouched.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from abonnement.clock import local_date
from abonnement.domain import invoicing as inv
from abonnement.domain import lifecycle as lc
from abonnement.domain.currencies import currency
from abonnement.domain.invoices import Totals, totals
from abonnement.domain.periods import Frequency, Period, period_containing
from abonnement.domain.subscriptions import Status, transition
from abonnement.services.billing_batch_bulk import Bulk, Prepared, prepare
from abonnement.services.billing_batch_rows import Org, Sub, chunks, load, table_of
from abonnement.services.billing_batch_statements import (
    Statement,
    event_row,
    ready_lines,
    write_statements,
)
from abonnement.services.context import Context
from abonnement.store import models as m

#: Organizations per batch (one transaction); each pass of a batch does one day of each. Smaller
#: batches hold SQLite's one write lock for less time at once, so `--workers` wait less for it:
#: with two workers 200 was 2.5–9 % faster there than 500 (paired runs, README "Benchmarks"),
#: and no different on PostgreSQL; 1,500 was slower, 100 no faster.
BATCH_SIZE = 200

#: The statements' events the run's summary counts (the payments' own are the outbox's).
_ANNOUNCED = (
    lc.EventType.INVOICE_ISSUED.value,
    lc.EventType.PAYMENT_FAILED.value,
    lc.EventType.CREDIT_REFUNDED.value,
)


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
    statements: list[Statement] = field(default_factory=list)
    cursors_new: list[dict[str, Any]] = field(default_factory=list)
    cursors_moved: list[dict[str, Any]] = field(default_factory=list)
    #: the audit records and events that name no invoice number, made ready for the database
    #: before the write lock is taken (`prepare`): only the writing waits for it
    ready: tuple[Prepared, Prepared] | None = None
    lines: tuple[list[int], Prepared] | None = None  # the statements' lines (`ready_lines`)

    def prepare(self, sqlite: bool) -> None:
        numbered = {id(st.audit) for st in self.statements}
        audits = [a for a in self.audits if id(a) not in numbered]
        self.ready = (
            prepare(m.AuditRecord, audits, sqlite),
            prepare(m.Event, self.events, sqlite),
        )
        self.lines = ready_lines(self.statements, sqlite)


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
    finals: list[tuple[Sub, list[inv.Line]]] = []  # what ending the service leaves to invoice
    for sub in org.subs:
        if sub.status is not Status.ACTIVE or sub.term_end > day:
            continue
        plan = sub.plan
        assert plan is not None
        if not sub.recurring_billing:
            final = _stage_expiry(sub, plan, day)
            if final:
                finals.append((sub, final))
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
    # the final invoices of the subscriptions that end (billing.on_service_end): issued, not
    # charged; what they come to is owed, or credit, on the statement
    subs = {s.id: s for s in org.subs}
    issued: list[Statement] = []
    balance = org.receivable
    for sub, final in finals:
        sums = _totals(org, final)
        issued.append(Statement(org, day, at, final, subs, {}, sums, reason="cancellation"))
        balance += sums.total.minor
        sub.issued = [*sub.issued, *final]
    # the statement (billing_run._statement), on the renewed subscriptions
    billing_date = any(
        cursor < b <= day for b in (_next_billing_date(s, cursor) for s in org.subs) if b
    )
    lines: list[inv.Line] = []
    if billing_date:
        for sub in org.subs:
            assert sub.plan is not None
            lines.extend(inv.generate(sub.plan, day, sub.issued))
    if lines:
        if any(line.subscription_id == sub.id for sub, _ in finals for line in lines):
            raise _OneByOne  # not in this shape: a final invoice leaves nothing more
        # charged, or refunded when it comes to credit (R13): `write_statements`
        issued.append(Statement(org, day, at, lines, subs, {}, _totals(org, lines)))
    elif balance < 0:
        raise _OneByOne  # credit without a statement: refunded on its own day (R13)
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
                event_row(
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
    for statement in issued:  # in the order the one-by-one path issues them
        statement.audit = _audit(ctx, org.id, "invoice.issue", "invoice", "", at)
        w.audits.append(statement.audit)
        w.statements.append(statement)
    cursor_row = {"organization_id": org.id, "processed_through": day, "updated_at": at}
    (w.cursors_moved if org.cursor is not None else w.cursors_new).append(cursor_row)
    org.cursor = day
    return events


def _totals(org: Org, lines: list[inv.Line]) -> Totals:
    """`billing.issue`'s sums of an invoice's lines in the account's currency and tax rate."""
    if org.account is None:
        raise _OneByOne  # the account is opened on the way
    cur = currency(org.account.currency)
    rate = Decimal(org.account.tax_rate_bp) / Decimal(10000)
    return totals([line.amount for line in lines], rate, cur)


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


def _stage_expiry(sub: Sub, plan: inv.BillingPlan, day: date) -> list[inv.Line]:
    """`billing.on_service_end` at the end of the term, worked out: the running segment ends
    today, and what that leaves to invoice (restated changes, R7/R12) are the lines of the
    final invoice. (A segment that starts today is removed instead: the one-by-one path.)"""
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
    sub.plan = ended
    return inv.generate(ended, day, sub.issued)


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
        event_row(
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


# writing ----------------------------------------------------------------------------------------
def _write(ctx: Context, w: _Writes, outcome: Outcome) -> None:
    """The pass's rows. What names an invoice number (the invoices' audit records and events)
    goes last, after the numbering, which holds the counter until the commit (`_number`)."""
    session = ctx.uow.session
    bulk = Bulk(session)
    bulk.update(m.Subscription, "id", w.sub_updates)
    bulk.update(m.BillingSegment, "id", w.segments_ended)
    if w.ready is None:
        w.prepare(bulk.sqlite)
    assert w.ready is not None
    bulk.insert(m.AuditRecord, w.ready[0])
    bulk.insert(m.Event, w.ready[1])
    bulk.insert(m.BillingCursor, w.cursors_new)
    bulk.update(m.BillingCursor, "organization_id", w.cursors_moved)
    if w.statements:
        events = write_statements(ctx, bulk, w.statements, w.lines)
        outcome.invoices += len(w.statements)
        outcome.events.extend(e["type"] for e in events if e["type"] in _ANNOUNCED)
        bulk.insert(m.AuditRecord, [st.audit for st in w.statements])
        bulk.insert(m.Event, events)


# the batch --------------------------------------------------------------------------------------
@dataclass
class _Pass:
    """One pass of a batch, staged: what it writes, the days it does, the organizations that
    have another day to do and those it leaves to the one-by-one path."""

    writes: _Writes = field(default_factory=_Writes)
    staged: list[list[str]] = field(default_factory=list)  # each day's events
    todo: list[int] = field(default_factory=list)
    rest: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Seen:
    """What a pass read apart from the write lock (SQLite): the newest audit record then, and
    the organizations' cursors. Every change to what a billing day reads leaves an audit record
    of its organization, or of none (the catalog); a cursor can move without one."""

    last_audit: int
    cursors: dict[int, date | None]


def run(ctx: Context, ids: list[int], until: datetime) -> Outcome:
    """Bill a batch of organizations up to `until`, a day of each per transaction (committed
    here), for as long as their days are the common kind. The rest are returned, untouched
    since their last finished day, for the one-by-one path.

    On PostgreSQL a pass locks the organizations' rows as it reads them. SQLite has one lock
    for the whole database, so a pass reads and works out its days in a snapshot of its own,
    without the lock, while other workers write; once it holds the lock it checks that nothing
    it read has changed since (no newer audit record of its organizations or of the catalog,
    the same cursors) and writes, or, should anything have changed, reads and stages again
    under the lock. So `--workers` compute side by side and queue only for their writes."""
    outcome = Outcome()
    session = ctx.uow.session
    apart = session.get_bind().dialect.name == "sqlite"
    todo = list(ids)
    while todo:
        seen: _Seen | None = None
        if apart:
            with ctx.uow.reader() as reader:
                last = reader.scalar(select(func.max(m.AuditRecord.id))) or 0
                orgs = load(reader, todo)
            seen = _Seen(last, {org_id: org.cursor for org_id, org in orgs.items()})
        else:
            orgs = load(session, todo)
        staged = _stage_pass(ctx, orgs, until)
        if apart:
            staged.writes.prepare(sqlite=True)
        if seen is not None and _changed(session, seen):
            staged = _stage_pass(ctx, load(session, todo), until)
        _write(ctx, staged.writes, outcome)
        ctx.uow.commit()
        outcome.rest.extend(staged.rest)
        for events in staged.staged:
            outcome.days += 1
            outcome.events.extend(events)
        todo = staged.todo
    return outcome


def _changed(session: Session, seen: _Seen) -> bool:
    """Whether anything a pass read apart has changed since: under the write lock (the first
    statement of the unit of work's transaction takes it), a few indexed reads."""
    a = table_of(m.AuditRecord)
    c = table_of(m.BillingCursor)
    for chunk in chunks(list(seen.cursors)):
        newer = session.execute(
            select(a.c.id)
            .where(
                a.c.id > seen.last_audit,
                or_(a.c.organization_id.is_(None), a.c.organization_id.in_(chunk)),
            )
            .limit(1)
        ).first()
        if newer is not None:
            return True
        now = {
            org_id: through
            for org_id, through in session.execute(
                select(c.c.organization_id, c.c.processed_through).where(
                    c.c.organization_id.in_(chunk)
                )
            )
        }
        if any(now.get(org_id) != seen.cursors[org_id] for org_id in chunk):
            return True
    return False


def _stage_pass(ctx: Context, orgs: dict[int, Org], until: datetime) -> _Pass:
    """A day of each organization: staged, or left to the one-by-one path."""
    p = _Pass()
    writes = p.writes
    for org_id in sorted(orgs):
        org = orgs[org_id]
        if org.busy or org.receivable < 0:  # dunning, grace, test clock; credit to refund
            p.rest.append(org.id)
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
            p.rest.append(org.id)
            continue
        p.staged.append(events)
        if day < last:
            p.todo.append(org.id)
    return p
