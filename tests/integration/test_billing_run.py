"""The billing run on both databases: renewals, expiry and the lifecycle after it, trials,
credit checks, dunning, the 90-day grace, refunds of credit (R13), events, exactly once.

The organizations are Dutch (21 % VAT, EUR, Europe/Amsterdam) unless a test says otherwise;
Business Standard costs €12.50 per license per month, €150 per year on the annual offer. The
clock starts on Monday 2 March 2026 at 09:00 UTC.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url

from abonnement.app import Abonnement
from abonnement.clock import FixedClock
from abonnement.config import Settings
from abonnement.domain import lifecycle as lc
from abonnement.services import (
    billing,
    billing_batch,
    billing_run,
    cancellation,
    invoices,
    licensing,
    organizations,
    subscriptions,
)
from abonnement.services.billing_run import RunSummary
from abonnement.store import models as m
from abonnement.store.db import make_engine
from abonnement.store.uow import UnitOfWork

from .conftest import Org, World, card

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


# helpers ----------------------------------------------------------------------------------------
def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def local(moment: datetime) -> date:
    """The day of a moment in the organizations' time zone (the run's days start at midnight)."""
    return moment.astimezone(AMSTERDAM).date()


def move(app: Abonnement, day: date) -> None:
    app.clock.set(at(day))  # type: ignore[attr-defined]


def bill(app: Abonnement, day: date | None = None, **kwargs: Any) -> RunSummary:
    if day is not None:
        move(app, day)
    return app.run(app.operator, billing_run.run, **kwargs)


def sub_of(app: Abonnement, sub_id: int) -> m.Subscription:
    with UnitOfWork(app.engine, read_only=True) as uow:
        sub = uow.subscriptions.get(sub_id)
        assert sub is not None
        uow.session.expunge(sub)
        return sub


def rows(app: Abonnement, model: type[m.Base], **where: Any) -> list[Any]:
    with UnitOfWork(app.engine, read_only=True) as uow:
        query = select(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        found = list(uow.session.scalars(query.order_by(model.id)))  # type: ignore[attr-defined]
        uow.session.expunge_all()
        return found


RUN_EVENTS = {kind.value for kind in lc.EventType}


def run_events(app: Abonnement, **where: Any) -> list[m.Event]:
    """The billing run's events (`lifecycle.Day.emit`, keyed by day), in order. Use cases and
    payments announce themselves too (services/events.py, keyed by their audit record or
    payment), which these tests leave aside."""
    found = rows(app, m.Event, **where)
    return [e for e in found if e.type in RUN_EVENTS and ":audit-" not in e.key]


def events(app: Abonnement, organization_id: int) -> list[str]:
    return [e.type for e in run_events(app, organization_id=organization_id)]


def counts(app: Abonnement) -> dict[str, int]:
    """How many rows of everything the run writes: equal before and after a rerun."""
    with UnitOfWork(app.engine, read_only=True) as uow:
        return {
            model.__tablename__: int(uow.session.scalar(select(func.count()).select_from(model)))
            for model in (
                m.Invoice,
                m.InvoiceLine,
                m.Payment,
                m.LedgerEntry,
                m.Event,
                m.AuditRecord,
                m.DunningCase,
                m.LicenseGrace,
            )
        }


def statement_lines(invoice: Any) -> list[tuple[str, str, str, int, int]]:
    return [
        (ln.kind, ln.start.isoformat(), ln.end.isoformat(), ln.quantity, ln.amount)
        for ln in invoice.lines
    ]


def receivable(app: Abonnement, org: Org) -> int:
    return app.read(app.operator, invoices.balance, org.id).receivable


def ledger_balances(app: Abonnement) -> None:
    """Double entry: every transaction sums to zero."""
    with UnitOfWork(app.engine, read_only=True) as uow:
        unbalanced = uow.session.execute(
            select(m.LedgerEntry.transaction, func.sum(m.LedgerEntry.amount_minor))
            .group_by(m.LedgerEntry.transaction)
            .having(func.sum(m.LedgerEntry.amount_minor) != 0)
        ).all()
    assert unbalanced == []


def set_offer_days(app: Abonnement, code: str, expired_days: int, disabled_days: int) -> None:
    with app.engine.begin() as conn:
        conn.execute(
            update(m.Offer)
            .where(m.Offer.code == code)
            .values(expired_days=expired_days, disabled_days=disabled_days)
        )


def buy(world: World, org: Org, offer: str = "std-monthly", quantity: int = 10) -> int:
    ba = org.admins["billing_admin"]
    return world.app.run(ba, subscriptions.buy, org.id, offer, quantity=quantity).id


def assign(world: World, org: Org, count: int, sku: str = "BUS-STD") -> list[int]:
    people = world.people(org, count)
    world.app.run(org.admins["license_admin"], licensing.assign, org.id, sku, people)
    return people


# renewals ---------------------------------------------------------------------------------------
def test_a_monthly_renewal_charges_the_next_period(world: World) -> None:
    app = world.app
    org = world.org()
    sub_id = buy(world, org)
    summary = bill(app, date(2026, 4, 2))
    assert (summary.organizations, summary.days, summary.invoices) == (1, 1, 1)
    sub = sub_of(app, sub_id)
    assert (sub.status.value, sub.term_start, sub.term_end) == (
        "active",
        date(2026, 4, 2),
        date(2026, 5, 2),
    )
    _purchase, renewal = app.read(app.operator, invoices.list_invoices, org.id)
    assert renewal.issue_date == date(2026, 4, 2) and renewal.reason == "statement"
    assert statement_lines(renewal) == [("charge", "2026-04-02", "2026-05-02", 10, 12500)]
    payments = app.read(app.operator, invoices.list_payments, org.id)
    assert [(p.purpose, p.status, p.amount) for p in payments][-1] == (
        "renewal",
        "succeeded",
        15125,
    )
    assert receivable(app, org) == 0
    assert events(app, org.id) == ["subscription.renewed", "invoice.issued"]


def test_an_annual_renewal_charges_the_next_year_once(world: World) -> None:
    app = world.app
    org = world.org()
    sub_id = buy(world, org, "std-annual", 5)
    quiet = bill(app, date(2027, 3, 1))  # the monthly statement dates find nothing to bill
    assert (quiet.days, quiet.invoices, quiet.events) == (11, 0, {})
    summary = bill(app, date(2027, 3, 2))
    assert summary.days == 1
    sub = sub_of(app, sub_id)
    assert (sub.term_start, sub.term_end) == (date(2027, 3, 2), date(2028, 3, 2))
    renewal = app.read(app.operator, invoices.list_invoices, org.id)[-1]
    assert statement_lines(renewal) == [("charge", "2027-03-02", "2028-03-02", 5, 75000)]


def test_r7_licenses_added_to_an_annual_subscription_are_restated_within_a_month(
    world: World,
) -> None:
    app = world.app
    org = world.org()
    sub_id = buy(world, org, "std-annual", 10)
    move(app, date(2026, 3, 12))
    app.run(org.admins["billing_admin"], subscriptions.set_quantity, sub_id, 12)
    change = app.read(app.operator, invoices.list_invoices, org.id)[-1]
    assert statement_lines(change) == [("charge", "2026-03-12", "2027-03-02", 2, 29178)]
    bill(app, date(2026, 4, 2))
    restated = app.read(app.operator, invoices.list_invoices, org.id)[-1]
    assert restated.issue_date == date(2026, 4, 2)
    assert statement_lines(restated) == [
        ("reversal", "2026-03-02", "2027-03-02", 10, -150000),
        ("reversal", "2026-03-12", "2027-03-02", 2, -29178),
        ("charge", "2026-03-02", "2026-03-12", 10, 4110),  # 10 × €150 × 10/365
        ("charge", "2026-03-12", "2027-03-02", 12, 175068),  # 12 × €150 × 355/365
    ]
    assert (restated.total, receivable(app, org)) == (0, 0)  # paid at once (R6): nothing owed


def test_the_run_catches_up_day_by_day_in_order(world: World) -> None:
    app = world.app
    org = world.org()
    buy(world, org)
    summary = bill(app, date(2026, 7, 15))  # four renewals late
    assert summary.days == 4
    issued = app.read(app.operator, invoices.list_invoices, org.id)
    assert [i.issue_date for i in issued] == [
        date(2026, 3, 2),
        date(2026, 4, 2),
        date(2026, 5, 2),
        date(2026, 6, 2),
        date(2026, 7, 2),
    ]
    assert receivable(app, org) == 0


def test_a_reduction_scheduled_for_renewal_takes_effect_and_excess_gets_90_days_grace(
    world: World,
) -> None:
    app = world.app
    org = world.org()
    ba = org.admins["billing_admin"]
    sub_id = buy(world, org, "std-annual", 10)
    assign(world, org, 5)
    move(app, date(2026, 4, 1))  # outside the 7-day window: the reduction waits for renewal
    change = app.run(ba, subscriptions.set_quantity, sub_id, 5)
    assert (change.scheduled_quantity, change.scheduled_on) == (5, date(2027, 3, 2))
    assign(world, org, 3)  # still 10 licenses until renewal: 8 assigned
    bill(app, date(2027, 3, 2))
    sub = sub_of(app, sub_id)
    assert (sub.quantity, sub.pending_quantity) == (5, None)
    renewal = app.read(app.operator, invoices.list_invoices, org.id)[-1]
    assert statement_lines(renewal) == [("charge", "2027-03-02", "2028-03-02", 5, 75000)]
    [grace] = rows(app, m.LicenseGrace)
    assert (grace.quantity, grace.assigned, grace.ends_on) == (5, 8, date(2027, 5, 31))
    assert "subscription.over_assigned" in events(app, org.id)
    # Nobody loses access meanwhile, nor after: the end of the grace is reported, not enforced.
    bill(app, date(2027, 5, 30))
    assert rows(app, m.LicenseGrace)[0].status == "open"
    bill(app, date(2027, 5, 31))
    [grace] = rows(app, m.LicenseGrace)
    assert (grace.status, grace.closed_on) == ("ended", date(2027, 5, 31))
    ended = rows(app, m.Event, type="subscription.grace_ended")
    assert ended[0].payload["still_over"] == 3
    assert len(rows(app, m.LicenseAssignment, subscription_id=sub_id)) == 8


# the end of a term and the lifecycle after it ---------------------------------------------------
def test_recurring_off_expires_then_disabled_then_deleted_after_the_offers_days(
    world: World,
) -> None:
    app = world.app
    set_offer_days(app, "std-monthly", expired_days=30, disabled_days=90)
    org = world.org()
    sub_id = buy(world, org, quantity=3)
    assign(world, org, 2)
    app.run(org.admins["billing_admin"], subscriptions.set_recurring_billing, sub_id, False)
    bill(app, date(2026, 4, 2))
    sub = sub_of(app, sub_id)
    assert sub.status.value == "expired"
    assert len(app.read(app.operator, invoices.list_invoices, org.id)) == 1  # nothing more billed
    bill(app, date(2026, 5, 1))
    assert sub_of(app, sub_id).status.value == "expired"  # 30 days of everyone keeping access
    bill(app, date(2026, 5, 2))
    assert sub_of(app, sub_id).status.value == "disabled"
    bill(app, date(2026, 7, 30))
    assert sub_of(app, sub_id).status.value == "disabled"  # 90 days, admins only
    bill(app, date(2026, 7, 31))
    assert sub_of(app, sub_id).status.value == "deleted"
    assert rows(app, m.LicenseAssignment, subscription_id=sub_id) == []
    assert events(app, org.id) == [
        "subscription.expired",
        "subscription.disabled",
        "subscription.deleted",
    ]
    assert rows(app, m.Event, type="subscription.deleted")[0].payload["released"] == 2


def test_the_offers_own_day_counts_decide_the_lifecycle(world: World) -> None:
    app = world.app
    set_offer_days(app, "basic-monthly", expired_days=7, disabled_days=14)
    org = world.org()
    sub_id = buy(world, org, "basic-monthly", 1)
    app.run(org.admins["billing_admin"], subscriptions.set_recurring_billing, sub_id, False)
    bill(app, date(2026, 4, 2))
    bill(app, date(2026, 4, 9))
    assert sub_of(app, sub_id).status.value == "disabled"
    bill(app, date(2026, 4, 23))
    assert sub_of(app, sub_id).status.value == "deleted"


def test_a_monthly_subscription_cancelled_inside_its_window_goes_straight_to_disabled(
    world: World,
) -> None:
    app = world.app
    org = world.org()
    sub_id = buy(world, org, "std-monthly", 2)
    move(app, date(2026, 3, 4))
    app.run(org.admins["global_admin"], cancellation.cancel, sub_id)
    assert sub_of(app, sub_id).status.value == "disabled"
    bill(app, date(2026, 6, 1))
    assert sub_of(app, sub_id).status.value == "disabled"
    bill(app, date(2026, 6, 2))  # 4 March + 90 days
    assert sub_of(app, sub_id).status.value == "deleted"


def test_r11_r13_the_credit_of_a_cancellation_is_refunded_on_the_next_billing_date(
    world: World,
) -> None:
    app = world.app
    org = world.org()
    sub_id = buy(world, org, quantity=10)
    move(app, date(2026, 3, 17))
    app.run(org.admins["global_admin"], cancellation.cancel, sub_id)
    assert receivable(app, org) == -7807
    assert bill(app, date(2026, 4, 1)).days == 0
    bill(app, date(2026, 4, 2))
    assert receivable(app, org) == 0
    refunds = [
        p for p in app.read(app.operator, invoices.list_payments, org.id) if p.kind == "refund"
    ]
    assert [(r.amount, local(r.created_at)) for r in refunds] == [(7807, date(2026, 4, 2))]
    assert events(app, org.id) == ["credit.refunded"]


# trials -----------------------------------------------------------------------------------------
def test_r14_a_trial_converts_to_paid_when_a_payment_method_is_on_file(world: World) -> None:
    app = world.app
    org = world.org()
    trial = app.run(
        org.admins["billing_admin"], subscriptions.buy, org.id, "std-monthly", trial=True
    )
    assert trial.term_end == date(2026, 4, 1)
    bill(app, date(2026, 4, 1))
    sub = sub_of(app, trial.id)
    assert (sub.status.value, sub.term_start, sub.term_end) == (
        "active",
        date(2026, 4, 1),
        date(2026, 5, 1),
    )
    [first] = app.read(app.operator, invoices.list_invoices, org.id)
    assert statement_lines(first) == [("charge", "2026-04-01", "2026-05-01", 25, 31250)]
    assert receivable(app, org) == 0
    assert events(app, org.id) == ["subscription.trial_converted", "invoice.issued"]
    bill(app, date(2026, 5, 1))  # and renews like any other
    assert sub_of(app, trial.id).term_end == date(2026, 6, 1)


def test_r14_a_trial_without_a_payment_method_expires(world: World) -> None:
    app = world.app
    org = world.org(payment=None)
    trial = app.run(
        org.admins["billing_admin"], subscriptions.buy, org.id, "std-monthly", trial=True
    )
    bill(app, date(2026, 3, 31))
    assert sub_of(app, trial.id).status.value == "trial"
    bill(app, date(2026, 4, 1))
    assert sub_of(app, trial.id).status.value == "expired"
    assert app.read(app.operator, invoices.list_invoices, org.id) == []
    assert events(app, org.id) == ["subscription.trial_expired"]


def test_an_extended_trial_ends_30_days_later(world: World) -> None:
    app = world.app
    org = world.org(payment=None)
    ba = org.admins["billing_admin"]
    trial = app.run(ba, subscriptions.buy, org.id, "std-monthly", trial=True)
    move(app, date(2026, 3, 20))  # within 15 days of the end
    app.run(ba, subscriptions.extend_trial, trial.id)
    bill(app, date(2026, 4, 1))
    assert sub_of(app, trial.id).status.value == "trial"
    bill(app, date(2026, 5, 1))
    assert sub_of(app, trial.id).status.value == "expired"


# credit checks ----------------------------------------------------------------------------------
def test_r5_a_credit_check_completes_in_two_business_days_skipping_17_may_and_the_weekend(
    world: World,
) -> None:
    app = world.app
    move(app, date(2029, 5, 16))  # a Wednesday; Thursday is 17 May, Monday is Whit Monday
    org = world.org("Nordmann", currency="NOK", country="NO", payment="invoice")
    sub_id = buy(world, org, quantity=5)
    assert sub_of(app, sub_id).credit_check_pending
    bill(app, date(2029, 5, 21))
    assert sub_of(app, sub_id).credit_check_pending
    bill(app, date(2029, 5, 22))
    sub = sub_of(app, sub_id)
    assert not sub.credit_check_pending and sub.credit_check_started_at is None
    [event] = rows(app, m.Event, type="subscription.credit_check_completed")
    assert event.payload == {"date": "2029-05-22", "started_on": "2029-05-16"}
    view = app.read(org.admins["billing_admin"], subscriptions.get, sub_id)
    assert view.availability.can_buy and view.availability.can_remove


# dunning ----------------------------------------------------------------------------------------
RENEWAL_DECLINES = "4000000000000341"  # succeeds at purchase, declined at renewal


def test_a_declined_renewal_is_retried_on_1_3_7_14_30_days_then_disabled(world: World) -> None:
    app = world.app
    org = world.org(payment=None)
    app.run(
        app.operator,
        organizations.add_payment_method,
        org.id,
        kind="card",
        **card(RENEWAL_DECLINES),
    )
    sub_id = buy(world, org, quantity=2)
    bill(app, date(2026, 4, 2))
    [case] = rows(app, m.DunningCase)
    assert (case.declined_on, case.next_attempt_on, case.retries) == (
        date(2026, 4, 2),
        date(2026, 4, 3),
        0,
    )
    bill(app, date(2026, 5, 1))
    assert sub_of(app, sub_id).status.value == "active"
    bill(app, date(2026, 5, 2))
    sub = sub_of(app, sub_id)
    assert sub.status.value == "disabled" and not sub.recurring_billing
    declined = [local(p.created_at) for p in rows(app, m.Payment, status="declined")]
    assert declined == [
        date(2026, 4, 2),
        date(2026, 4, 3),
        date(2026, 4, 5),
        date(2026, 4, 9),
        date(2026, 4, 16),
        date(2026, 5, 2),
    ]
    [case] = rows(app, m.DunningCase)
    assert (case.status, case.retries, case.closed_on) == ("failed", 5, date(2026, 5, 2))
    kinds = Counter(events(app, org.id))
    assert kinds["invoice.payment_failed"] == 1
    assert kinds["invoice.payment_retry_failed"] == 5
    assert kinds["subscription.disabled"] == 1
    # The debt stays; the subscription is billed no further.
    assert receivable(app, org) == 2 * 1250 * 121 // 100
    bill(app, date(2026, 6, 2))
    assert len(app.read(app.operator, invoices.list_invoices, org.id)) == 2


def test_dunning_recovers_when_a_retry_succeeds(world: World) -> None:
    app = world.app
    org = world.org(payment=None)
    app.run(
        app.operator,
        organizations.add_payment_method,
        org.id,
        kind="card",
        **card(RENEWAL_DECLINES),
    )
    sub_id = buy(world, org, quantity=2)
    bill(app, date(2026, 4, 3))  # declined, and the first retry too
    assert rows(app, m.DunningCase)[0].retries == 1
    app.run(app.operator, organizations.add_payment_method, org.id, kind="card", **card())
    bill(app, date(2026, 4, 5))
    [case] = rows(app, m.DunningCase)
    assert (case.status, case.retries, case.next_attempt_on) == ("recovered", 2, None)
    assert receivable(app, org) == 0
    assert sub_of(app, sub_id).status.value == "active"
    assert "invoice.payment_recovered" in events(app, org.id)


# exactly once -----------------------------------------------------------------------------------
def test_rerunning_the_same_instant_does_nothing_new(world: World) -> None:
    app = world.app
    for name in ("Contoso", "Fabrikam"):
        org = world.org(name)
        buy(world, org, quantity=4)
        buy(world, org, "std-annual", 2)
    first = bill(app, date(2026, 4, 2))
    assert first.invoices == 2
    before = counts(app)
    again = bill(app, date(2026, 4, 2))
    assert (again.days, again.invoices, again.events) == (0, 0, {})
    assert counts(app) == before
    app.clock.set(at(date(2026, 4, 2), 21))  # type: ignore[attr-defined]
    assert bill(app).days == 0  # later the same day: nothing new either
    assert counts(app) == before


class Crash(BaseException):
    """Stands for the process being killed: nothing catches it."""


@pytest.mark.parametrize("batch", [0, 2], ids=["one_by_one", "batched"])
def test_a_run_that_dies_midway_is_finished_by_the_next_one_without_double_charges(
    world: World, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    """Killed after the processor took the third organization's renewal and before the commit
    (one by one), or after it took the second batch's (two organizations to a batch)."""
    app = world.app
    orgs = [world.org(f"Org{i}") for i in range(5)]
    for org in orgs:
        buy(world, org, quantity=3)
    module, name, fatal = (
        (billing, "statement", 3) if batch == 0 else (billing_batch, "_statements", 2)
    )
    real = getattr(module, name)
    calls = {"n": 0}

    def dies(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)  # charged at the processor...
        calls["n"] += 1
        if calls["n"] == fatal:
            raise Crash  # ...and killed before the commit
        return result

    monkeypatch.setattr(module, name, dies)
    with pytest.raises(Crash):
        bill(app, date(2026, 4, 2), batch=batch)
    issued = [len(app.read(app.operator, invoices.list_invoices, o.id)) for o in orgs]
    assert issued == [2, 2, 1, 1, 1]
    monkeypatch.setattr(module, name, real)
    summary = bill(app, date(2026, 4, 2), batch=batch)
    assert (summary.days, summary.invoices) == (3, 3)
    for org in orgs:
        assert len(app.read(app.operator, invoices.list_invoices, org.id)) == 2
        assert receivable(app, org) == 0
        renewals = [
            p
            for p in app.read(app.operator, invoices.list_payments, org.id)
            if p.purpose == "renewal"
        ]
        assert [(p.status, p.amount) for p in renewals] == [("succeeded", 4538)]
    ledger_balances(app)
    assert bill(app, date(2026, 4, 2)).days == 0


@pytest.mark.parametrize("batch", [0, 10], ids=["one_by_one", "batched"])
def test_one_organization_failing_does_not_stop_the_others(
    world: World, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    """A batch that fails is rolled back whole and its organizations go one by one, where the
    one that fails again is reported and the others are billed."""
    app = world.app
    orgs = [world.org(f"Org{i}") for i in range(3)]
    for org in orgs:
        buy(world, org, quantity=1)
    real_day, real_stage = billing_run.do_day, billing_batch._stage_day

    def fails_for_the_second(d: Any, *args: Any) -> int:
        if d.org.id == orgs[1].id:
            raise RuntimeError("the processor is down")
        return real_day(d, *args)

    def batch_fails_for_the_second(ctx: Any, org: Any, *args: Any) -> Any:
        if org.id == orgs[1].id:
            raise RuntimeError("the processor is down")
        return real_stage(ctx, org, *args)

    monkeypatch.setattr(billing_run, "do_day", fails_for_the_second)
    monkeypatch.setattr(billing_batch, "_stage_day", batch_fails_for_the_second)
    summary = bill(app, date(2026, 4, 2), batch=batch)
    assert [f.organization_id for f in summary.failed] == [orgs[1].id]
    assert "the processor is down" in summary.failed[0].error
    assert summary.invoices == 2
    monkeypatch.setattr(billing_run, "do_day", real_day)
    monkeypatch.setattr(billing_batch, "_stage_day", real_stage)
    summary = bill(app, date(2026, 4, 2), batch=batch)
    assert (summary.failed, summary.invoices) == ([], 1)


def test_the_run_is_for_the_operator_and_never_ahead_of_the_clock(world: World) -> None:
    from abonnement.domain.errors import AbonnementError

    app = world.app
    org = world.org()
    with pytest.raises(AbonnementError) as refused:
        app.run(org.admins["global_admin"], billing_run.run)
    assert refused.value.code.value == "permission_denied"
    with pytest.raises(AbonnementError) as refused:
        app.run(app.operator, billing_run.run, at(date(2026, 3, 3)))
    assert refused.value.context["field"] == "until"


def test_only_the_named_organization_is_billed(world: World) -> None:
    app = world.app
    one, other = world.org("One"), world.org("Other")
    buy(world, one)
    buy(world, other)
    summary = bill(app, date(2026, 4, 2), organization_id=other.id)
    assert summary.organizations == 1
    assert len(app.read(app.operator, invoices.list_invoices, one.id)) == 1
    assert len(app.read(app.operator, invoices.list_invoices, other.id)) == 2


# the batched path writes what the one-by-one path writes ----------------------------------------
def _twin(app: Abonnement) -> tuple[Abonnement, Any]:
    """A second database holding exactly what the app's holds now, and how to drop it."""
    url = app.settings.database_url
    app.engine.dispose()
    if url.startswith("sqlite"):
        source = url.removeprefix("sqlite:///")
        target = source.replace(".db", "-twin.db")
        shutil.copy(source, target)
        clock = FixedClock(app.clock.now())
        return Abonnement(Settings(database_url=f"sqlite:///{target}"), clock=clock), None
    name = make_url(url).database
    twin = f"{name}_twin"
    admin = make_engine(str(make_url(url).set(database="postgres")))
    with admin.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text(f'CREATE DATABASE "{twin}" TEMPLATE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text(f'DROP DATABASE IF EXISTS "{twin}" WITH (FORCE)'))
        admin.dispose()

    twin_url = make_url(url).set(database=twin).render_as_string(hide_password=False)
    return Abonnement(Settings(database_url=twin_url), clock=FixedClock(app.clock.now())), drop


def _contents(app: Abonnement) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in a form that does not depend on the order the rows were
    written in: a batch does one day of many organizations per transaction, the one-by-one
    path every day of one organization, so ids and invoice numbers (gap-free either way) are
    handed out in another order. Each is replaced by its rank in an order of facts (the
    organization, the day, then the id); ledger transactions by their first entry."""
    with app.engine.connect() as conn:
        data = {
            table.name: [
                dict(r._mapping) for r in conn.execute(select(table).order_by(*table.primary_key))
            ]
            for table in m.Base.metadata.sorted_tables
        }

    def ranks(table: str, *fields: str) -> dict[Any, int]:
        ordered = sorted(data[table], key=lambda r: (*(r[f] or 0 for f in fields), r["id"]))
        return {r["id"]: rank for rank, r in enumerate(ordered, start=1)}

    invoice = ranks("invoices", "organization_id", "issue_date", "created_at")
    number = {r["number"]: f"INV#{invoice[r['id']]}" for r in data["invoices"]}
    payment = ranks("payments", "billing_account_id", "created_at")
    audit = ranks("audit_log", "organization_id", "at")
    renames = {
        "invoices": {"id": invoice, "number": number},
        "invoice_lines": {"invoice_id": invoice},
        "payments": {"id": payment, "invoice_id": invoice, "refund_of_id": payment},
        "ledger_entries": {"invoice_id": invoice, "payment_id": payment},
        "dunning_cases": {"invoice_id": invoice},
        "audit_log": {"id": audit},
    }
    for table, fields in renames.items():
        for r in data[table]:
            for name, mapping in fields.items():
                if r[name] is not None:
                    r[name] = mapping[r[name]]
    for r in data["payments"]:  # the processor's reference follows from the invoice number
        r["processor_ref"] = r["processor_ref"] is not None
    line = ranks("invoice_lines", "invoice_id", "id")
    for r in data["invoice_lines"]:
        r["id"], r["reverses_id"] = line[r["id"]], line.get(r["reverses_id"])
    ledger = ranks("ledger_entries", "billing_account_id", "at")
    first: dict[str, int] = {}
    for r in sorted(data["ledger_entries"], key=lambda r: ledger[r["id"]]):
        r["id"] = ledger[r["id"]]
        r["transaction"] = first.setdefault(r["transaction"], r["id"])
    case = ranks("dunning_cases", "organization_id", "declined_on")
    for r in data["dunning_cases"]:
        r["id"] = case[r["id"]]
    for r in data["audit_log"]:
        if r["entity"] == "invoice":
            r["entity_id"] = number[r["entity_id"]]

    def text_of(value: str) -> str:
        value = re.sub(r"INV-\d+", lambda found: number[found.group()], value)
        value = re.sub(r"audit-(\d+)", lambda found: f"audit#{audit[int(found[1])]}", value)
        return re.sub(r"^(payment\.\w+:)(\d+)$", lambda f: f"{f[1]}#{payment[int(f[2])]}", value)

    for r in data["events"]:
        del r["id"]
        r["key"], r["subject_id"] = text_of(r["key"]), text_of(r["subject_id"])
        if r["type"].startswith("payment."):
            r["subject_id"] = str(payment[int(r["subject_id"])])
            r["payload"] = {**r["payload"], "id": payment[r["payload"]["id"]]}
        r["payload"] = {k: text_of(v) if isinstance(v, str) else v for k, v in r["payload"].items()}
    return {
        table: sorted(rows_of, key=lambda r: repr(sorted(r.items())))
        for table, rows_of in data.items()
    }


def _same(one: dict[str, list[Any]], many: dict[str, list[Any]]) -> None:
    for table, rows_one in one.items():
        rows_many = many[table]
        for a, b in zip(rows_one, rows_many, strict=False):
            assert dict(a) == dict(b), table
        assert len(rows_one) == len(rows_many), table


def test_the_batched_run_writes_exactly_what_the_one_by_one_run_writes(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Renewals and statements of many kinds (R6 increases, R7/R12 restatements, annual terms,
    a declined renewal and its dunning, a trial, an expiry and its lifecycle, a bank transfer
    left pending, an organization with nothing to bill), months of them in one run: the batch
    does the common days, hands the rest to the one-by-one path, and the two databases end up
    row for row the same: subscriptions, audit records, invoices, lines, ledger, payments,
    dunning cases, events and cursors."""
    app = world.app
    plain = world.org("Plain")
    buy(world, plain, quantity=4)
    buy(world, plain, "std-annual", 2)
    grows = world.org("Grows")
    grown = buy(world, grows, quantity=10)
    shrinks = world.org("Shrinks")
    shrunk = buy(world, shrinks, "basic-monthly", 20)
    declines = world.org("Declines", payment=None)
    app.run(
        app.operator,
        organizations.add_payment_method,
        declines.id,
        kind="card",
        **card(RENEWAL_DECLINES),
    )
    buy(world, declines, quantity=3)
    trial = world.org("Trial", payment=None)
    app.run(trial.admins["billing_admin"], subscriptions.buy, trial.id, "std-monthly", trial=True)
    ends = world.org("Ends")
    ending = buy(world, ends, quantity=5)
    app.run(ends.admins["billing_admin"], subscriptions.set_recurring_billing, ending, False)
    bank = world.org("Bank", payment="bank_account")
    buy(world, bank, "prem-monthly", 6)
    world.org("Idle")
    annual = world.org("Annual")
    raised = buy(world, annual, "std-annual", 10)
    move(app, date(2026, 3, 12))
    app.run(grows.admins["billing_admin"], subscriptions.set_quantity, grown, 14)
    app.run(annual.admins["billing_admin"], subscriptions.set_quantity, raised, 12)
    move(app, date(2026, 3, 15))
    app.run(shrinks.admins["billing_admin"], subscriptions.set_quantity, shrunk, 12)

    staged = Counter[int]()
    real_stage = billing_batch._stage_day

    def stage(ctx: Any, org: Any, *args: Any) -> Any:
        result = real_stage(ctx, org, *args)
        staged[org.id] += 1  # a day the batch did (not handed on)
        return result

    monkeypatch.setattr(billing_batch, "_stage_day", stage)
    twin, drop = _twin(app)
    days = 0
    try:
        for day in (date(2026, 4, 2), date(2026, 7, 5), date(2026, 11, 3)):
            move(app, day)
            twin.clock.set(at(day))  # type: ignore[attr-defined]
            one = app.run(app.operator, billing_run.run, batch=0)
            many = twin.run(twin.operator, billing_run.run, batch=3)
            assert one == many
            days += one.days
            _same(_contents(app), _contents(twin))
        # The batch did the common days (the expiry too); dunning, the trial and the lifecycle
        # after the expiry went one by one.
        assert set(staged) == {
            plain.id,
            grows.id,
            shrinks.id,
            declines.id,
            ends.id,
            bank.id,
            annual.id,
        }
        assert 0 < sum(staged.values()) < days
    finally:
        twin.close()
        if drop is not None:
            drop()
