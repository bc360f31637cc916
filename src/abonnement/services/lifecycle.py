"""The billing run's steps for one organization on one day, except money collection (dunning.py)
and the statement (billing_run.py): credit checks, trials, term ends (renewals and expiry), the
Expired → Disabled → Deleted lifecycle and the 90-day grace for over-assigned licenses.

Every step is guarded by the state it changes (a renewed term no longer ends today, an expired
subscription is no longer active), so repeating a day does nothing new; and every transition
leaves an event, written in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select

from abonnement.clock import local_date
from abonnement.domain import businessdays as bd
from abonnement.domain import lifecycle as lc
from abonnement.domain.periods import Period
from abonnement.domain.subscriptions import Status, transition
from abonnement.payments.base import Purpose
from abonnement.services import billing
from abonnement.services.context import Context, record_change, snapshot
from abonnement.services.subscriptions import term_end
from abonnement.store import models as m


@dataclass
class Day:
    """One organization's work for one day, in one transaction; `ctx` reads that day's clock."""

    ctx: Context
    org: m.Organization
    day: date
    events: list[m.Event] = field(default_factory=list)

    def emit(
        self, kind: lc.EventType, subject_id: object, *, token: str = "", **payload: Any
    ) -> m.Event:
        """An event for the outbox. Its key names the day (and `token`, for what may happen
        twice in a day), so doing a day twice fails loudly instead of telling the world twice."""
        event = m.Event(
            organization_id=self.org.id,
            type=kind.value,
            subject_id=str(subject_id),
            key=f"{kind.value}:{subject_id}:{self.day.isoformat()}{':' + token if token else ''}",
            payload={"date": self.day.isoformat(), **payload},
            created_at=self.ctx.now(),
        )
        self.ctx.uow.session.add(event)
        self.events.append(event)
        return event

    def change_status(
        self, sub: m.Subscription, target: Status, kind: lc.EventType, **payload: Any
    ) -> None:
        """A transition of the state machine, audited and announced."""
        before = snapshot(sub)
        previous = sub.status
        sub.status = transition(sub.status, target)
        sub.status_changed_at = self.ctx.now()
        record_change(self.ctx, f"subscription.{target.value}", sub, before)
        self.emit(kind, sub.id, previous=previous.value, status=target.value, **payload)


def status_changed_on(org: m.Organization, sub: m.Subscription) -> date:
    return local_date(sub.status_changed_at, org.time_zone)


# credit checks ----------------------------------------------------------------------------------
def credit_check_started_on(ctx: Context, org: m.Organization, sub: m.Subscription) -> date:
    """When the running credit check started. Subscriptions that started one before the column
    existed (or by a path that does not stamp it) are dated by their audit record."""
    if sub.credit_check_started_at is None:
        at = ctx.uow.session.scalar(
            select(m.AuditRecord.at)
            .where(
                m.AuditRecord.entity == "subscription",
                m.AuditRecord.entity_id == str(sub.id),
                m.AuditRecord.action.in_(("subscription.credit_check.start", "subscription.buy")),
            )
            .order_by(m.AuditRecord.id.desc())
            .limit(1)
        )
        sub.credit_check_started_at = at or sub.created_at
    return local_date(sub.credit_check_started_at, org.time_zone)


def credit_check_due(ctx: Context, org: m.Organization, sub: m.Subscription) -> date | None:
    if not sub.credit_check_pending:
        return None
    calendar = bd.calendar_for(org.country)
    return bd.credit_check_completes_on(credit_check_started_on(ctx, org, sub), calendar)


def complete_credit_checks(d: Day, subs: list[m.Subscription]) -> None:
    """R5: a credit check completes within two business days (weekends and the country's
    public holidays do not count); Buy and Remove become available again."""
    for sub in subs:
        due = credit_check_due(d.ctx, d.org, sub)
        if due is None or due > d.day:
            continue
        before = snapshot(sub)
        started = credit_check_started_on(d.ctx, d.org, sub)
        sub.credit_check_pending = False
        sub.credit_check_started_at = None
        record_change(d.ctx, "subscription.credit_check.complete", sub, before)
        d.emit(lc.EventType.CREDIT_CHECK_COMPLETED, sub.id, started_on=started.isoformat())


# trials -----------------------------------------------------------------------------------------
def end_trials(d: Day, subs: list[m.Subscription]) -> list[m.Invoice]:
    """R14: at the end of a trial, a payment method on file converts it to paid (its first
    period charged like a renewal, so a decline goes to dunning); otherwise it expires."""
    invoices: list[m.Invoice] = []
    for sub in subs:
        if sub.status is not Status.TRIAL or sub.term_end > d.day:
            continue
        has_method = bool(d.ctx.uow.payment_methods.active(d.org.id))
        if lc.trial_end_outcome(has_method) is lc.TrialEnd.EXPIRE:
            d.change_status(sub, Status.EXPIRED, lc.EventType.TRIAL_EXPIRED)
            continue
        sub.term_start = d.day
        sub.term_end = term_end(sub.offer, d.day)
        sub.recurring_billing = True
        d.change_status(
            sub,
            Status.ACTIVE,
            lc.EventType.TRIAL_CONVERTED,
            quantity=sub.quantity,
            term_end=sub.term_end.isoformat(),
        )
        billing.set_segment(d.ctx, sub, d.day)
        lines = billing.due_lines(d.ctx, sub, d.day)
        invoice = billing.issue(d.ctx, d.org, lines, reason="purchase", day=d.day)
        if invoice is not None:
            billing.collect(d.ctx, d.org, invoice, Purpose.RENEWAL)
            invoices.append(invoice)
    billing.number_invoices(d.ctx)  # the day's trials are charged: now their numbers
    return invoices


# term ends --------------------------------------------------------------------------------------
def _anchor(ctx: Context, sub: m.Subscription) -> date:
    plan = billing.plan(ctx, sub)
    return plan.anchor if plan.segments else sub.term_start


def end_terms(d: Day, subs: list[m.Subscription]) -> list[m.Invoice]:
    """Recurring-on subscriptions renew (monthly or annual; a reduction scheduled for renewal
    takes effect, and licenses assigned beyond it get a 90-day grace); recurring-off ones
    expire at the end of their term. Returns the final invoices the expiries issued (R11; the
    day's statement settles them), for their events once they are numbered."""
    finals: list[m.Invoice] = []
    for sub in subs:
        if sub.status is not Status.ACTIVE or sub.term_end > d.day:
            continue
        if lc.term_end_outcome(sub.recurring_billing) is lc.TermEnd.EXPIRE:
            final = billing.on_service_end(
                d.ctx, d.org, sub, refund_now=False, reason="cancellation"
            )
            if final is not None:
                finals.append(final)
            d.change_status(sub, Status.EXPIRED, lc.EventType.EXPIRED, term_end=str(sub.term_end))
            continue
        while sub.term_end <= d.day:
            _renew(d, sub)
    return finals


def _renew(d: Day, sub: m.Subscription) -> None:
    before = snapshot(sub)
    renewal = lc.renew(
        _anchor(d.ctx, sub),
        sub.offer.term,
        Period(sub.term_start, sub.term_end),
        sub.quantity,
        sub.pending_quantity,
        sub.pending_effective,
    )
    sub.term_start, sub.term_end = renewal.term.start, renewal.term.end
    if sub.pending_effective is None or sub.pending_effective <= renewal.term.start:
        sub.pending_quantity = None
        sub.pending_effective = None
    if renewal.reduced_from is not None:
        sub.quantity = renewal.quantity
        if sub.quantity_before_last_increase is not None:
            sub.quantity_before_last_increase = min(sub.quantity_before_last_increase, sub.quantity)
        billing.set_segment(d.ctx, sub, renewal.term.start)
    record_change(d.ctx, "subscription.renew", sub, before)
    d.emit(
        lc.EventType.RENEWED,
        sub.id,
        token=renewal.term.start.isoformat(),
        term_start=renewal.term.start.isoformat(),
        term_end=renewal.term.end.isoformat(),
        quantity=sub.quantity,
    )
    if renewal.reduced_from is not None:
        d.emit(
            lc.EventType.REDUCED,
            sub.id,
            token=renewal.term.start.isoformat(),
            previous=renewal.reduced_from,
            quantity=sub.quantity,
        )
        _start_grace(d, sub)


# licenses over the quantity ---------------------------------------------------------------------
def _start_grace(d: Day, sub: m.Subscription) -> None:
    assigned = d.ctx.uow.assignments.count(sub.id)
    if lc.excess(sub.quantity, assigned) == 0:
        return
    already = d.ctx.uow.session.scalar(
        select(m.LicenseGrace.id).where(
            m.LicenseGrace.subscription_id == sub.id, m.LicenseGrace.status == "open"
        )
    )
    if already is not None:
        return
    grace = m.LicenseGrace(
        organization_id=d.org.id,
        subscription_id=sub.id,
        started_on=d.day,
        ends_on=lc.grace_until(d.day),
        quantity=sub.quantity,
        assigned=assigned,
        status="open",
    )
    d.ctx.uow.session.add(grace)
    d.emit(
        lc.EventType.OVER_ASSIGNED,
        sub.id,
        quantity=sub.quantity,
        assigned=assigned,
        grace_until=grace.ends_on.isoformat(),
    )


def open_graces(ctx: Context, organization_id: int) -> list[m.LicenseGrace]:
    return list(
        ctx.uow.session.scalars(
            select(m.LicenseGrace)
            .where(
                m.LicenseGrace.organization_id == organization_id, m.LicenseGrace.status == "open"
            )
            .order_by(m.LicenseGrace.id)
        )
    )


def end_graces(d: Day) -> None:
    """After 90 days the over-assignment is resolved, or reported (an event for the vendor and
    the organization's admins). Nobody is unassigned by the engine: an admin chooses who."""
    for grace in open_graces(d.ctx, d.org.id):
        if grace.ends_on > d.day:
            continue
        sub = d.ctx.uow.subscriptions.get(grace.subscription_id)
        assert sub is not None
        assigned = d.ctx.uow.assignments.count(sub.id)
        over = lc.excess(sub.quantity, assigned)
        grace.status = "ended" if over else "resolved"
        grace.closed_on = d.day
        d.emit(
            lc.EventType.GRACE_ENDED,
            sub.id,
            quantity=sub.quantity,
            assigned=assigned,
            still_over=over,
        )


# after the end ----------------------------------------------------------------------------------
def ended_due(org: m.Organization, sub: m.Subscription) -> lc.StatusChange | None:
    return lc.ended_step(
        sub.status,
        status_changed_on(org, sub),
        sub.offer.expired_days,
        sub.offer.disabled_days,
    )


def move_ended(d: Day, subs: list[m.Subscription]) -> None:
    """Expired (everyone keeps access) for the offer's expired days, then Disabled (admins
    only, no assignment) for its disabled days, then Deleted: its licenses are released."""
    for sub in subs:
        step = ended_due(d.org, sub)
        if step is None or step.on > d.day:
            continue
        if step.status is Status.DELETED:
            released = list(d.ctx.uow.assignments.for_subscription(sub.id))
            for assignment in released:
                d.ctx.uow.assignments.delete(assignment)
            d.change_status(sub, Status.DELETED, lc.EventType.DELETED, released=len(released))
        else:
            d.change_status(sub, step.status, lc.EventType.DISABLED, reason="expired")
