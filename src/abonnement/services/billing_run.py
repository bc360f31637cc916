"""The billing run: moves every organization's subscriptions through time, up to an instant.

For each organization it visits, in order, the days on which something is due (a term ends, a
billing date comes, a trial ends, a credit check completes, a retry is due, a lifecycle or grace
period ends, credit falls due for refund) and does that day's steps (`domain.lifecycle.Step`).

Exactly once: an organization's work for one day is one transaction, and that transaction also
moves the organization's cursor (`billing_cursors.processed_through`) to the day. A rerun for the
same instant finds nothing after the cursor; a run killed mid-day loses that day's transaction
as a whole, and the rerun does the day again from the start. The organization row is locked
(FOR UPDATE on PostgreSQL; SQLite writers queue on BEGIN IMMEDIATE) before the cursor is read, so
two runs never do the same day. Steps are guarded by the state they change as well, and each
event has a unique key, so a repeated day would fail instead of charging twice.

Organizations with a test clock attached live on that clock: `clocks.advance` runs their days,
the plain run leaves them alone.

Most days are alike (subscriptions renew, the statement charges the new period): `run` has
`billing_batch` do those for many organizations per transaction, each organization-day still
whole and with its cursor, and does the rest here, one organization at a time.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from abonnement.clock import FixedClock, local_date
from abonnement.domain import lifecycle as lc
from abonnement.domain.periods import Frequency, period_containing
from abonnement.domain.subscriptions import Status
from abonnement.services import billing, billing_batch, dunning
from abonnement.services import lifecycle as steps
from abonnement.services.context import Context, invalid
from abonnement.services.lifecycle import Day
from abonnement.services.schemas import View
from abonnement.store import models as m

#: Called after each organization with (organizations done, organizations in the run).
Progress = Callable[[int, int], None]


class FailureView(View):
    organization_id: int
    error: str


class RunSummary(View):
    until: datetime
    organizations: int  # organizations the run looked at
    days: int  # organization-days done (each one transaction)
    invoices: int
    events: dict[str, int]  # event type -> count
    skipped_test_clocks: list[int]  # organizations on a test clock (advance those instead)
    failed: list[FailureView]


@dataclass
class Tally:
    days: int = 0
    invoices: int = 0
    events: Counter[str] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        self.days += other.days
        self.invoices += other.invoices
        self.events.update(other.events)


# the run ----------------------------------------------------------------------------------------
def run(
    ctx: Context,
    until: datetime | None = None,
    organization_id: int | None = None,
    *,
    progress: Progress | None = None,
    partition: tuple[int, int] | None = None,
    batch: int = billing_batch.BATCH_SIZE,
) -> RunSummary:
    """Bill every organization (or one) up to `until` (default: now). Commits as it goes: one
    transaction per organization per day. An organization that fails is rolled back to its last
    finished day, reported, and done by the next run; the others go on.

    `partition=(k, n)` takes only the organizations whose id is k modulo n: n workers (processes
    or machines) with k = 0 … n-1 share a run without overlap. Should two ever take the same
    organization, its row lock and cursor still let only one do each day.

    The common days (renewals and the statement they bring) are done `batch` organizations at a
    time (`billing_batch`); `batch=0` does every organization one by one."""
    ctx.require_operator("bill")
    if partition is not None and not 0 <= partition[0] < partition[1]:
        raise invalid("partition", "use K/N with 0 <= K < N")
    now = ctx.clock.now()
    until = until or now
    if until.tzinfo is None:
        raise invalid("until", "give a time zone (e.g. 2026-04-02T00:00:00+00:00)")
    if until > now:
        raise invalid("until", "it is in the future; attach a test clock to move ahead of time")
    on_test_clock = set(ctx.uow.session.scalars(select(m.TestClock.organization_id)))
    if organization_id is not None:
        org = ctx.organization(organization_id)
        if org.id in on_test_clock:
            raise invalid("organization", "it has a test clock: advance the clock instead")
        ids = [org.id]
    else:
        ids = list(ctx.uow.session.scalars(select(m.Organization.id).order_by(m.Organization.id)))
    ids = [i for i in ids if i not in on_test_clock]
    if partition is not None:
        ids = [i for i in ids if i % partition[1] == partition[0]]
    ctx.uow.rollback()  # only read so far: let go of SQLite's lock while the batches read
    with fewer_collections():
        return _run(ctx, ids, until, on_test_clock, progress, batch)


#: The cyclic garbage collector's thresholds during a billing run (`fewer_collections`).
RUN_GC_THRESHOLDS = (100_000, 50, 1000)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """A billing run allocates millions of short-lived values that hold no cycles (rows, dicts,
    invoice lines), which reference counting frees at once; at the interpreter's default
    thresholds (700 allocations) the cyclic collector would still go over the heap thousands of
    times, a fifth of a run's CPU (7.3 of 34 s at N = 100,000). During the run it collects
    every 100,000 allocations instead; the thresholds are restored afterwards."""
    before = gc.get_threshold()
    gc.set_threshold(*RUN_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _run(
    ctx: Context,
    ids: list[int],
    until: datetime,
    on_test_clock: set[int],
    progress: Progress | None,
    batch: int,
) -> RunSummary:
    total = Tally()
    failed: list[FailureView] = []
    done = 0
    step = max(batch, 1)
    for start in range(0, len(ids), step):
        chunk = ids[start : start + step]
        rest = chunk
        if batch > 0:
            # The common days of many organizations at once; the others one by one.
            try:
                outcome = billing_batch.run(ctx, chunk, until)
            except Exception:  # the batch is rolled back: its organizations go one by one
                ctx.uow.rollback()
            else:
                total.add(Tally(outcome.days, outcome.invoices, Counter(outcome.events)))
                rest = outcome.rest
            ctx.uow.session.expunge_all()
        for org_id in rest:
            try:
                total.add(run_organization(ctx, org_id, until))
            except Exception as exc:  # one organization's failure must not stop the others
                ctx.uow.rollback()
                failed.append(
                    FailureView(organization_id=org_id, error=f"{type(exc).__name__}: {exc}")
                )
            ctx.uow.session.expunge_all()  # a long run keeps no rows in memory
        done += len(chunk)
        if progress is not None:
            progress(done, len(ids))
    return RunSummary(
        until=until,
        organizations=len(ids),
        days=total.days,
        invoices=total.invoices,
        events=dict(sorted(total.events.items())),
        skipped_test_clocks=sorted(on_test_clock),
        failed=failed,
    )


def combine(summaries: list[RunSummary]) -> RunSummary:
    """One summary for the partitions of one run."""
    events: Counter[str] = Counter()
    for summary in summaries:
        events.update(summary.events)
    return RunSummary(
        until=summaries[0].until,
        organizations=sum(s.organizations for s in summaries),
        days=sum(s.days for s in summaries),
        invoices=sum(s.invoices for s in summaries),
        events=dict(sorted(events.items())),
        skipped_test_clocks=sorted({i for s in summaries for i in s.skipped_test_clocks}),
        failed=[f for s in summaries for f in s.failed],
    )


def moment(day: date, time_zone: str) -> datetime:
    """The instant a day starts in an organization's time zone: the billing run's "now"."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(time_zone))


def cursor_of(ctx: Context, org: m.Organization) -> date:
    """The last day done for the organization (before any run: the day it was created)."""
    row = ctx.uow.session.get(m.BillingCursor, org.id, populate_existing=True)
    return row.processed_through if row else local_date(org.created_at, org.time_zone)


def run_organization(ctx: Context, organization_id: int, until: datetime) -> Tally:
    """Every day due for one organization up to `until`, in order, each in its own transaction
    (committed here)."""
    tally = Tally()
    while True:
        org = ctx.uow.session.scalars(
            select(m.Organization)
            .where(m.Organization.id == organization_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        subs = _lock_subscriptions(ctx, org.id)
        cursor = cursor_of(ctx, org)
        last = local_date(until, org.time_zone)
        day = next_day(ctx, org, subs, cursor, last)
        if day is None:
            if cursor < last:  # nothing else is due up to `last`: those days are done too
                idle = Day(Context(ctx.uow, ctx.clock, ctx.actor, clock_pinned=True), org, last)
                _move_cursor(idle, moment(last, org.time_zone))
                ctx.uow.commit()
            else:
                ctx.uow.rollback()
            return tally
        at = moment(day, org.time_zone)
        d = Day(Context(ctx.uow, FixedClock(at), ctx.actor, clock_pinned=True), org, day)
        tally.invoices += do_day(d, subs, cursor)
        _move_cursor(d, at)
        ctx.uow.commit()
        tally.days += 1
        tally.events.update(e.type for e in d.events)


def _lock_subscriptions(ctx: Context, organization_id: int) -> list[m.Subscription]:
    return list(
        ctx.uow.session.scalars(
            select(m.Subscription)
            .where(m.Subscription.organization_id == organization_id)
            .order_by(m.Subscription.id)
            .with_for_update(of=m.Subscription)
            .execution_options(populate_existing=True)
        )
    )


def _move_cursor(d: Day, at: datetime) -> None:
    session = d.ctx.uow.session
    row = session.get(m.BillingCursor, d.org.id)
    if row is None:
        session.add(
            m.BillingCursor(organization_id=d.org.id, processed_through=d.day, updated_at=at)
        )
    else:
        row.processed_through = d.day
        row.updated_at = at
    clock = session.scalars(
        select(m.TestClock).where(m.TestClock.organization_id == d.org.id)
    ).one_or_none()
    if clock is not None and clock.now < at:
        clock.now = at  # a test clock stands at the last day done, should the advance stop
    session.flush()


# one day ----------------------------------------------------------------------------------------
def do_day(d: Day, subs: list[m.Subscription], cursor: date) -> int:
    """The day's steps, in the order of `domain.lifecycle.Step`. Returns the invoices issued.

    The day's invoices are numbered together once all its money has moved (charges, refunds:
    `billing.numbered_together`), so the counter every invoice locks is not held while the
    processor is asked; what names their numbers (their events, a dunning case for a declined
    charge) is written after that, in the order the invoices were issued."""
    steps.complete_credit_checks(d, subs)
    with billing.numbered_together(d.ctx):
        dunning.retry_due(d)
        trials = steps.end_trials(d, subs)
        finals = steps.end_terms(d, subs)
        steps.move_ended(d, subs)
        steps.end_graces(d)
        statement = _statement(d, subs, cursor)
    for invoice in trials:
        d.emit(lc.EventType.INVOICE_ISSUED, invoice.number, total=invoice.total_minor)
        dunning.open_case_if_declined(d, invoice)
    for invoice in finals:  # not charged: what they come to is the statement's to settle
        d.emit(lc.EventType.INVOICE_ISSUED, invoice.number, total=invoice.total_minor)
    if statement is None:
        return len(trials) + len(finals)
    issued, refunds = statement
    if issued is not None:
        d.emit(lc.EventType.INVOICE_ISSUED, issued.number, total=issued.total_minor)
        dunning.open_case_if_declined(d, issued)
    for refund in refunds:
        d.emit(lc.EventType.CREDIT_REFUNDED, refund.id, amount=refund.amount_minor)
    return len(trials) + len(finals) + (issued is not None)


def _statement(
    d: Day, subs: list[m.Subscription], cursor: date
) -> tuple[m.Invoice | None, list[m.Payment]] | None:
    """On a billing date: one statement for the organization (every subscription's due lines,
    R7), charged (a decline opens dunning, `do_day`) and leftover credit refunded (R13). On the
    day credit falls due with nothing to bill, the credit alone is refunded. Returns the
    statement and the refunds made, or None when the day has neither."""
    billing_date = any(
        cursor < b <= d.day for b in (next_billing_date(d.ctx, s, cursor) for s in subs) if b
    )
    refund_due = credit_refund_due(d.ctx, d.org, subs)
    refund_today = refund_due is not None and cursor < refund_due <= d.day
    if not (billing_date or refund_today):
        return None
    first_new = _last_payment_id(d.ctx) + 1
    invoice: m.Invoice | None = None
    if any(billing.due_lines(d.ctx, sub, d.day) for sub in subs):
        invoice = billing.statement(d.ctx, d.org, d.day)
    elif refund_today:
        billing.refund_credit(d.ctx, d.org)
    refunds = d.ctx.uow.session.scalars(
        select(m.Payment)
        .join(m.BillingAccount, m.BillingAccount.id == m.Payment.billing_account_id)
        .where(
            m.BillingAccount.organization_id == d.org.id,
            m.Payment.id >= first_new,
            m.Payment.kind == "refund",
            m.Payment.status == "succeeded",
        )
    )
    return invoice, list(refunds)


def _last_payment_id(ctx: Context) -> int:
    return int(ctx.uow.session.scalar(select(func.coalesce(func.max(m.Payment.id), 0))) or 0)


# what is due when -------------------------------------------------------------------------------
def next_billing_date(ctx: Context, sub: m.Subscription, after: date) -> date | None:
    """The subscription's first statement date after `after` while it is in service. Statement
    dates are the monthly anniversaries of its anchor, on annual billing too: a new year is
    charged on its first day, and changes during the year are restated within a month (R7)."""
    plan = billing.plan(ctx, sub)
    if not plan.segments:
        return None
    start = max(after, plan.segments[0].start)
    following = period_containing(plan.anchor, Frequency.MONTHLY, start).end
    end = plan.service_end
    return following if end is None or following < end else None


def credit_refund_due(ctx: Context, org: m.Organization, subs: list[m.Subscription]) -> date | None:
    """R11/R13: the day credit the organization holds goes back, if it holds any."""
    account = ctx.uow.session.scalars(
        select(m.BillingAccount).where(m.BillingAccount.organization_id == org.id)
    ).one_or_none()
    if account is None or billing.receivable(ctx, account).minor >= 0:
        return None
    arose = ctx.uow.session.scalar(
        select(func.max(m.Invoice.issue_date)).where(
            m.Invoice.organization_id == org.id, m.Invoice.total_minor < 0
        )
    )
    if arose is None:
        return None
    dates = []
    for sub in subs:
        plan = billing.plan(ctx, sub)
        if plan.segments:
            dates.append(period_containing(plan.anchor, plan.frequency, arose).end)
    return lc.credit_refund_due(arose, min(dates, default=None))


def next_day(
    ctx: Context, org: m.Organization, subs: list[m.Subscription], cursor: date, last: date
) -> date | None:
    """The first day after the cursor, up to `last`, on which something is due. What was due
    before the cursor (a state the run has not seen yet) is done on the day after it; billing
    dates and refund dates at or before the cursor have passed."""
    after = cursor + timedelta(days=1)
    due: list[date] = []
    for sub in subs:
        if sub.status in (Status.TRIAL, Status.ACTIVE):
            due.append(max(sub.term_end, after))
        check = steps.credit_check_due(ctx, org, sub)
        if check is not None:
            due.append(max(check, after))
        ended = steps.ended_due(org, sub)
        if ended is not None:
            due.append(max(ended.on, after))
        billing_date = next_billing_date(ctx, sub, cursor)
        if billing_date is not None:
            due.append(billing_date)
    for case in dunning.open_cases(ctx, org.id):
        if case.next_attempt_on is not None:
            due.append(max(case.next_attempt_on, after))
    for grace in steps.open_graces(ctx, org.id):
        due.append(max(grace.ends_on, after))
    refund = credit_refund_due(ctx, org, subs)
    if refund is not None and refund > cursor:
        due.append(refund)
    day = min(due, default=None)
    return day if day is not None and day <= last else None
