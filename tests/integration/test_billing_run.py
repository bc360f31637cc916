"""The billing run on both databases: renewals, expiry and the lifecycle after it, trials,
credit checks, dunning, the 90-day grace, refunds of credit (R13), events, exactly once.

The organizations are Dutch (21 % VAT, EUR, Europe/Amsterdam) unless a test says otherwise;
Business Standard costs €12.50 per license per month, €150 per year on the annual offer. The
clock starts on Monday 2 March 2026 at 09:00 UTC.
"""

from __future__ import annotations

import gc
from collections import Counter
from datetime import date

import pytest

from abonnement.services import (
    billing_run,
    cancellation,
    invoices,
    organizations,
    subscriptions,
)
from abonnement.store import models as m

from .billing_helpers import (
    RENEWAL_DECLINES,
    assign,
    bill,
    buy,
    events,
    local,
    move,
    receivable,
    rows,
    set_offer_days,
    statement_lines,
    sub_of,
)
from .conftest import World, card


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


def test_the_run_collects_garbage_less_often_and_restores_the_collector(world: World) -> None:
    """The run's millions of short-lived values are freed by reference counting: while it runs
    the cyclic collector waits for 100,000 allocations, not 700, and gets its thresholds back
    afterwards, even when the run fails."""
    app = world.app
    buy(world, world.org())
    before = gc.get_threshold()
    during: list[tuple[int, int, int]] = []
    bill(app, date(2026, 4, 2), progress=lambda _done, _total: during.append(gc.get_threshold()))
    assert during and set(during) == {billing_run.RUN_GC_THRESHOLDS}
    assert gc.get_threshold() == before

    def fail(_done: int, _total: int) -> None:
        raise RuntimeError("the progress bar's terminal went away")

    with pytest.raises(RuntimeError):
        bill(app, date(2026, 5, 2), progress=fail)
    assert gc.get_threshold() == before


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
