"""Policies: availability (R5), quantity changes (R3, R4), windowed reductions, cancellation
(R8, R10, R14, R15), plan switch (R9), and the smaller checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from abonnement.domain.catalog import CancellationModel, Offer, PurchaseChannel, TrialTerms
from abonnement.domain.errors import Code, Refusal
from abonnement.domain.money import Money
from abonnement.domain.policies import (
    Availability,
    CancelDecision,
    CancelOutcome,
    QuantityChangeKind,
    QuantityDecision,
    availability,
    check_assignable,
    check_reactivate,
    check_recurring_billing,
    check_switch,
    check_trial_extension,
    decide_cancellation,
    decide_quantity,
    in_window,
    removable_now_floor,
)
from abonnement.domain.subscriptions import Status, SubscriptionFacts

TERM_START = date(2025, 3, 1)
TERM_END = date(2025, 4, 1)
TODAY = date(2025, 3, 20)  # well outside a 7-day window opened on TERM_START
IN_WINDOW = TERM_START + timedelta(days=6)  # the 7th day, the last one inside
AFTER_WINDOW = TERM_START + timedelta(days=7)


def make_offer(**overrides: Any) -> Offer:
    fields: dict[str, Any] = {
        "code": "bs-monthly",
        "product_sku": "BUS-STD",
        "name": "Business Standard",
        "prices": {"EUR": Money.of(1250, "EUR")},
    }
    fields.update(overrides)
    return Offer(**fields)


def make_facts(**overrides: Any) -> SubscriptionFacts:
    fields: dict[str, Any] = {
        "status": Status.ACTIVE,
        "channel": PurchaseChannel.ONLINE,
        "quantity": 100,
        "assigned": 40,
        "term_start": TERM_START,
        "term_end": TERM_END,
    }
    fields.update(overrides)
    return SubscriptionFacts(**fields)


CLASSIC = make_offer()
WINDOWED = make_offer(code="bs-nce", cancellation_model=CancellationModel.WINDOWED)
TARGET = make_offer(code="bp-monthly", product_sku="BUS-PREM", name="Business Premium")


def codes(reasons: tuple[Refusal, ...]) -> list[Code]:
    return [reason.code for reason in reasons]


def avail(facts: SubscriptionFacts, offer: Offer = CLASSIC, *, pm: bool = True) -> Availability:
    return availability(facts, offer, has_payment_method=pm)


def decide(
    facts: SubscriptionFacts,
    new_total: int,
    offer: Offer = CLASSIC,
    today: date = TODAY,
    *,
    pm: bool = True,
) -> QuantityDecision | Refusal:
    return decide_quantity(facts, offer, new_total, today, has_payment_method=pm)


def refused(result: object, code: Code) -> Refusal:
    assert isinstance(result, Refusal), result
    assert result.code is code, result
    return result


def decided(result: QuantityDecision | Refusal) -> QuantityDecision:
    assert isinstance(result, QuantityDecision), result
    return result


# R5: availability ------------------------------------------------------------------------------
def test_r5_online_with_a_payment_method_can_buy_and_remove() -> None:
    assert avail(make_facts()) == Availability(True, True, (), ())


def test_r5_credit_check_pending_makes_buy_and_remove_unavailable() -> None:
    result = avail(make_facts(credit_check_pending=True))
    assert not result.can_buy
    assert not result.can_remove
    assert codes(result.buy_reasons) == [Code.CREDIT_CHECK_PENDING]
    assert codes(result.remove_reasons) == [Code.CREDIT_CHECK_PENDING]
    remedy = result.buy_reasons[0].remedy
    assert remedy is not None
    assert "two business days" in remedy


def test_r5_after_the_credit_check_both_become_available() -> None:
    pending = make_facts(credit_check_pending=True)
    done = replace(pending, credit_check_pending=False)
    assert not avail(pending).can_buy
    assert avail(done).can_buy
    assert avail(done).can_remove


def test_r5_credit_check_pending_refuses_a_new_total_either_way() -> None:
    facts = make_facts(credit_check_pending=True)
    refused(decide(facts, 105), Code.CREDIT_CHECK_PENDING)
    refused(decide(facts, 95), Code.CREDIT_CHECK_PENDING)


def test_r5_prepaid_without_payment_method_buys_only_with_another_key() -> None:
    facts = make_facts(channel=PurchaseChannel.PREPAID, quantity=10, prepaid_quantity=10)
    result = avail(facts, pm=False)
    assert not result.can_buy
    assert codes(result.buy_reasons) == [Code.PREPAID_NEEDS_KEY_OR_PAYMENT_METHOD]
    remedy = result.buy_reasons[0].remedy
    assert remedy is not None
    assert "product key" in remedy
    assert "credit card or bank account" in remedy
    refused(decide(facts, 12, pm=False), Code.PREPAID_NEEDS_KEY_OR_PAYMENT_METHOD)


def test_r5_prepaid_with_a_payment_method_on_file_can_buy_extra_licenses() -> None:
    facts = make_facts(
        channel=PurchaseChannel.PREPAID, quantity=10, prepaid_quantity=10, assigned=10
    )
    assert avail(facts, pm=True).can_buy
    decision = decided(decide(facts, 15, pm=True))
    assert decision.kind is QuantityChangeKind.BUY
    assert decision.delta == 5


@pytest.mark.parametrize("pm", [True, False])
def test_r5_prepaid_licenses_can_never_be_removed(pm: bool) -> None:
    facts = make_facts(
        channel=PurchaseChannel.PREPAID, quantity=10, prepaid_quantity=10, assigned=2
    )
    result = avail(facts, pm=pm)
    assert not result.can_remove
    assert codes(result.remove_reasons) == [Code.PREPAID_LICENSES_CANNOT_BE_REMOVED]
    assert result.remove_reasons[0].context == {"prepaid": 10}
    refusal = refused(decide(facts, 8, pm=pm), Code.PREPAID_LICENSES_CANNOT_BE_REMOVED)
    assert "10 licenses prepaid" in refusal.message


def test_r5_prepaid_extra_licenses_bought_by_card_are_removable_down_to_the_prepaid_ones() -> None:
    facts = make_facts(
        channel=PurchaseChannel.PREPAID, quantity=15, prepaid_quantity=10, assigned=5
    )
    assert avail(facts).can_remove
    decision = decided(decide(facts, 10))
    assert (decision.kind, decision.now_quantity) == (QuantityChangeKind.REMOVE, 10)
    refusal = refused(decide(facts, 9), Code.PREPAID_LICENSES_CANNOT_BE_REMOVED)
    assert refusal.context == {"prepaid": 10}


def test_r5_reseller_makes_buy_and_remove_unavailable() -> None:
    result = avail(make_facts(channel=PurchaseChannel.RESELLER))
    assert (result.can_buy, result.can_remove) == (False, False)
    assert codes(result.buy_reasons) == [Code.MANAGED_BY_RESELLER]
    assert codes(result.remove_reasons) == [Code.MANAGED_BY_RESELLER]
    remedy = result.buy_reasons[0].remedy
    assert remedy is not None
    assert "partner" in remedy


def test_r5_trial_makes_buy_and_remove_unavailable_until_bought() -> None:
    result = avail(make_facts(status=Status.TRIAL, quantity=25, assigned=3))
    assert (result.can_buy, result.can_remove) == (False, False)
    assert codes(result.buy_reasons) == [Code.TRIAL_BUY_FIRST]
    assert codes(result.remove_reasons) == [Code.TRIAL_BUY_FIRST]
    remedy = result.buy_reasons[0].remedy
    assert remedy is not None
    assert "Buy the subscription first" in remedy


def test_r5_end_of_sale_stops_buying_but_not_removing() -> None:
    offer = make_offer(end_of_sale=True)
    result = avail(make_facts(), offer)
    assert not result.can_buy
    assert result.can_remove
    assert result.buy_reasons == (Refusal(Code.OFFER_END_OF_SALE, {"offer": "Business Standard"}),)
    refused(decide(make_facts(), 105, offer), Code.OFFER_END_OF_SALE)
    assert decided(decide(make_facts(), 95, offer)).now_quantity == 95


def test_r5_online_without_a_payment_method_cannot_buy_but_can_remove() -> None:
    result = avail(make_facts(), pm=False)
    assert codes(result.buy_reasons) == [Code.PAYMENT_METHOD_REQUIRED]
    assert result.can_remove


def test_r5_every_reason_is_listed_not_only_the_first() -> None:
    offer = make_offer(end_of_sale=True)
    result = avail(make_facts(credit_check_pending=True), offer, pm=False)
    assert codes(result.buy_reasons) == [
        Code.CREDIT_CHECK_PENDING,
        Code.PAYMENT_METHOD_REQUIRED,
        Code.OFFER_END_OF_SALE,
    ]


@pytest.mark.parametrize("status", [Status.EXPIRED, Status.DISABLED, Status.DELETED])
def test_a_subscription_that_is_not_running_offers_neither(status: Status) -> None:
    result = avail(make_facts(status=status))
    assert (result.can_buy, result.can_remove) == (False, False)
    assert result.buy_reasons == (Refusal(Code.SUBSCRIPTION_NOT_ACTIVE, {"status": status.value}),)


def test_buy_unavailable_at_the_offer_maximum_quantity() -> None:
    offer = make_offer(max_quantity=100)
    result = avail(make_facts(quantity=100), offer)
    assert codes(result.buy_reasons) == [Code.QUANTITY_OUT_OF_RANGE]
    assert result.buy_reasons[0].context == {"minimum": 1, "maximum": 100}


def test_remove_unavailable_at_the_offer_minimum_quantity() -> None:
    result = avail(make_facts(quantity=1, assigned=0))
    assert codes(result.remove_reasons) == [Code.QUANTITY_AT_MINIMUM]
    assert result.can_buy


def test_r4_remove_unavailable_when_every_license_is_assigned() -> None:
    result = avail(make_facts(quantity=10, assigned=10))
    assert not result.can_remove
    assert result.remove_reasons == (Refusal(Code.ALL_LICENSES_ASSIGNED, {"assigned": 10}),)


# R3, R4: the new total -------------------------------------------------------------------------
def test_r3_new_total_105_from_100_buys_5() -> None:
    decision = decided(decide(make_facts(quantity=100), 105))
    assert decision.kind is QuantityChangeKind.BUY
    assert (decision.previous, decision.now_quantity, decision.delta) == (100, 105, 5)
    assert decision.scheduled_quantity is None


def test_r3_new_total_95_from_100_removes_5() -> None:
    decision = decided(decide(make_facts(quantity=100), 95))
    assert decision.kind is QuantityChangeKind.REMOVE
    assert (decision.previous, decision.now_quantity, decision.delta) == (100, 95, -5)
    assert decision.scheduled_quantity is None


def test_r3_the_same_total_changes_nothing() -> None:
    decision = decided(decide(make_facts(quantity=100), 100))
    assert decision == QuantityDecision(QuantityChangeKind.UNCHANGED, 100, 100)
    assert decision.delta == 0


def test_r3_the_same_total_is_not_refused_even_when_buying_would_be() -> None:
    decided(decide(make_facts(credit_check_pending=True), 100))


@pytest.mark.parametrize("new_total", [0, -5, 101])
def test_r3_total_outside_the_offer_bounds_is_refused(new_total: int) -> None:
    offer = make_offer(max_quantity=100)
    refusal = refused(decide(make_facts(quantity=50), new_total, offer), Code.QUANTITY_OUT_OF_RANGE)
    assert refusal.context == {"minimum": 1, "maximum": 100}


def test_r4_quantity_cannot_go_below_assigned() -> None:
    facts = make_facts(quantity=100, assigned=40)
    refusal = refused(decide(facts, 39), Code.QUANTITY_BELOW_ASSIGNED)
    assert refusal.context == {"assigned": 40, "requested": 39}
    assert "39" in refusal.message
    assert "40" in refusal.message
    assert refusal.remedy is not None
    assert "Unassign" in refusal.remedy


def test_r4_quantity_may_go_down_to_exactly_the_assigned_count() -> None:
    decision = decided(decide(make_facts(quantity=100, assigned=40), 40))
    assert decision.now_quantity == 40


def test_r4_floor_applies_on_windowed_offers_too() -> None:
    refusal = refused(
        decide(make_facts(assigned=40), 10, WINDOWED, IN_WINDOW), Code.QUANTITY_BELOW_ASSIGNED
    )
    assert refusal.context == {"assigned": 40, "requested": 10}


def test_r3_removing_down_to_the_offer_minimum_is_allowed() -> None:
    decision = decided(decide(make_facts(quantity=2, assigned=0), 1))
    assert decision.now_quantity == 1


# windowed reductions (the newer model) -----------------------------------------------------------
@pytest.mark.parametrize("today", [TERM_START, IN_WINDOW])
def test_windowed_reduction_inside_the_window_is_immediate(today: date) -> None:
    decision = decided(decide(make_facts(), 60, WINDOWED, today))
    assert decision.kind is QuantityChangeKind.REMOVE
    assert decision.now_quantity == 60
    assert decision.scheduled_quantity is None
    assert decision.scheduled_on is None


@pytest.mark.parametrize("today", [AFTER_WINDOW, TODAY, TERM_END - timedelta(days=1)])
def test_windowed_reduction_after_the_window_is_scheduled_for_term_end(today: date) -> None:
    decision = decided(decide(make_facts(), 60, WINDOWED, today))
    assert decision.kind is QuantityChangeKind.REMOVE
    assert decision.now_quantity == 100  # nothing leaves today
    assert decision.scheduled_quantity == 60
    assert decision.scheduled_on == TERM_END
    assert decision.delta == -40


def test_windowed_after_adding_licenses_only_the_added_ones_are_removable_now() -> None:
    """80 licenses, 20 added two days ago: those 20 may go now, the rest waits for renewal."""
    facts = make_facts(
        quantity=100,
        assigned=40,
        quantity_before_last_increase=80,
        last_increase_on=TODAY - timedelta(days=2),
    )
    assert removable_now_floor(facts, WINDOWED, TODAY) == 80

    some_added = decided(decide(facts, 90, WINDOWED))
    assert (some_added.now_quantity, some_added.scheduled_quantity) == (90, None)

    all_added = decided(decide(facts, 80, WINDOWED))
    assert (all_added.now_quantity, all_added.scheduled_quantity) == (80, None)

    beyond = decided(decide(facts, 60, WINDOWED))
    assert beyond.now_quantity == 80
    assert beyond.scheduled_quantity == 60
    assert beyond.scheduled_on == TERM_END


def test_windowed_window_after_adding_licenses_closes_too() -> None:
    facts = make_facts(
        quantity=100, quantity_before_last_increase=80, last_increase_on=TODAY - timedelta(days=7)
    )
    assert removable_now_floor(facts, WINDOWED, TODAY) == 100
    decision = decided(decide(facts, 90, WINDOWED))
    assert (decision.now_quantity, decision.scheduled_quantity) == (100, 90)


def test_windowed_added_licenses_never_lower_the_floor_below_the_offer_minimum() -> None:
    offer = make_offer(cancellation_model=CancellationModel.WINDOWED, min_quantity=5)
    facts = make_facts(
        quantity=10, assigned=0, quantity_before_last_increase=2, last_increase_on=TODAY
    )
    assert removable_now_floor(facts, offer, TODAY) == 5


@pytest.mark.parametrize("today", [TERM_START, IN_WINDOW, AFTER_WINDOW, TODAY])
def test_r12_classic_reductions_are_immediate_at_any_time(today: date) -> None:
    assert removable_now_floor(make_facts(), CLASSIC, today) == CLASSIC.min_quantity
    decision = decided(decide(make_facts(), 60, CLASSIC, today))
    assert (decision.now_quantity, decision.scheduled_quantity) == (60, None)


def test_r8_in_window_counts_the_start_day_and_ends_after_window_days() -> None:
    assert in_window(TERM_START, TERM_START, 7)
    assert in_window(TERM_START, IN_WINDOW, 7)
    assert not in_window(TERM_START, AFTER_WINDOW, 7)
    assert not in_window(TERM_START, TERM_START - timedelta(days=1), 7)
    assert not in_window(None, TERM_START, 7)
    assert not in_window(TERM_START, TERM_START, 0)


# cancellation: R8, R10, R14, R15 ---------------------------------------------------------------
def cancel(
    facts: SubscriptionFacts, offer: Offer = CLASSIC, today: date = TODAY
) -> CancelDecision | Refusal:
    return decide_cancellation(facts, offer, today)


def test_r14_a_trial_has_nothing_to_cancel() -> None:
    refusal = refused(cancel(make_facts(status=Status.TRIAL)), Code.TRIAL_NOTHING_TO_CANCEL)
    assert refusal.remedy is not None
    assert "payment method" in refusal.remedy


@pytest.mark.parametrize(
    ("channel", "code", "remedy_words"),
    [
        (PurchaseChannel.RESELLER, Code.MANAGED_BY_RESELLER, "partner"),
        (PurchaseChannel.VOLUME, Code.MANAGED_BY_VOLUME_LICENSING, "Volume Licensing Service"),
    ],
)
def test_r10_partner_and_agreement_subscriptions_are_cancelled_there(
    channel: PurchaseChannel, code: Code, remedy_words: str
) -> None:
    refusal = refused(cancel(make_facts(channel=channel)), code)
    assert refusal.remedy is not None
    assert remedy_words in refusal.remedy


def test_r15_25_assigned_licenses_can_be_cancelled_online() -> None:
    decision = cancel(make_facts(quantity=100, assigned=25))
    assert isinstance(decision, CancelDecision)


def test_r15_26_assigned_licenses_cannot_be_cancelled_online() -> None:
    refusal = refused(cancel(make_facts(quantity=100, assigned=26)), Code.OVER_ONLINE_CANCEL_LIMIT)
    assert refusal.context == {"assigned": 26, "limit": 25}
    assert "26" in refusal.message
    assert "25" in refusal.message
    assert refusal.remedy is not None
    assert "call you" in refusal.remedy


def test_r15_the_limit_is_offer_data() -> None:
    strict = make_offer(online_cancel_limit=10)
    assert isinstance(cancel(make_facts(assigned=10), strict), CancelDecision)
    refusal = refused(cancel(make_facts(assigned=11), strict), Code.OVER_ONLINE_CANCEL_LIMIT)
    assert refusal.context == {"assigned": 11, "limit": 10}
    generous = make_offer(online_cancel_limit=50)
    assert isinstance(cancel(make_facts(assigned=26), generous), CancelDecision)


def test_r15_the_limit_counts_assigned_licenses_not_bought_ones() -> None:
    assert isinstance(cancel(make_facts(quantity=500, assigned=0)), CancelDecision)


def test_r15_the_limit_applies_to_windowed_offers_inside_the_window() -> None:
    refused(cancel(make_facts(assigned=26), WINDOWED, IN_WINDOW), Code.OVER_ONLINE_CANCEL_LIMIT)


@pytest.mark.parametrize("today", [TERM_START, IN_WINDOW])
def test_r8_windowed_cancel_inside_the_window_ends_now_with_a_refund(today: date) -> None:
    decision = cancel(make_facts(assigned=10), WINDOWED, today)
    assert decision == CancelDecision(CancelOutcome.NOW, Status.DISABLED, True, today)


@pytest.mark.parametrize("today", [AFTER_WINDOW, TODAY])
def test_r8_windowed_cancel_after_the_window_ends_at_term_end(today: date) -> None:
    decision = cancel(make_facts(assigned=10), WINDOWED, today)
    assert decision == CancelDecision(CancelOutcome.AT_TERM_END, None, False, TERM_END)


def test_r8_window_length_is_offer_data() -> None:
    fortnight = make_offer(
        cancellation_model=CancellationModel.WINDOWED, cancellation_window_days=14
    )
    day_10 = TERM_START + timedelta(days=10)
    long_window = cancel(make_facts(assigned=10), fortnight, day_10)
    short_window = cancel(make_facts(assigned=10), WINDOWED, day_10)
    assert isinstance(long_window, CancelDecision)
    assert isinstance(short_window, CancelDecision)
    assert long_window.outcome is CancelOutcome.NOW
    assert short_window.outcome is CancelOutcome.AT_TERM_END


def test_r8_windowed_after_the_window_with_recurring_billing_already_off() -> None:
    facts = make_facts(assigned=10, recurring_billing=False)
    refusal = refused(cancel(facts, WINDOWED, AFTER_WINDOW), Code.ALREADY_ENDING)
    assert refusal.context == {"ends_on": "2025-04-01"}


@pytest.mark.parametrize("today", [TERM_START, TODAY])
def test_r11_classic_cancel_ends_now_with_prorated_credit_at_any_time(today: date) -> None:
    assert cancel(make_facts(assigned=10), CLASSIC, today) == CancelDecision(
        CancelOutcome.NOW, Status.DISABLED, True, today
    )


def test_prepaid_cancel_ends_at_term_end_without_refund() -> None:
    facts = make_facts(channel=PurchaseChannel.PREPAID, prepaid_quantity=100, assigned=10)
    assert cancel(facts, CLASSIC, TERM_START) == CancelDecision(
        CancelOutcome.AT_TERM_END, None, False, TERM_END
    )


@pytest.mark.parametrize("status", [Status.EXPIRED, Status.DISABLED, Status.DELETED])
def test_only_an_active_subscription_can_be_cancelled(status: Status) -> None:
    refusal = refused(cancel(make_facts(status=status)), Code.SUBSCRIPTION_NOT_ACTIVE)
    assert refusal.context == {"status": status.value}


# R10 across every commerce action --------------------------------------------------------------
R10_CASES = [
    (PurchaseChannel.RESELLER, Code.MANAGED_BY_RESELLER),
    (PurchaseChannel.VOLUME, Code.MANAGED_BY_VOLUME_LICENSING),
]


@pytest.mark.parametrize(("channel", "code"), R10_CASES)
def test_r10_refused_directly_with_their_own_code(channel: PurchaseChannel, code: Code) -> None:
    facts = make_facts(channel=channel)
    result = avail(facts)
    assert codes(result.buy_reasons) == [code]
    assert codes(result.remove_reasons) == [code]
    refused(decide(facts, 105), code)
    refused(decide(facts, 95), code)
    refused(cancel(facts), code)
    refused(check_switch(facts, CLASSIC, TARGET, 100, "EUR"), code)
    refused(check_recurring_billing(facts), code)
    refused(check_reactivate(replace(facts, status=Status.EXPIRED)), code)


# R9: switch plan -------------------------------------------------------------------------------
def switch(
    facts: SubscriptionFacts | None = None,
    target: Offer = TARGET,
    quantity: int = 100,
    currency_code: str = "EUR",
    source: Offer = CLASSIC,
) -> Refusal | None:
    return check_switch(facts or make_facts(), source, target, quantity, currency_code)


def test_r9_switch_allowed_for_a_running_self_managed_subscription() -> None:
    assert switch() is None


def test_r9_switch_refused_with_too_few_licenses_for_the_assigned_users() -> None:
    refusal = refused(switch(make_facts(assigned=40), quantity=39), Code.SWITCH_TOO_FEW_LICENSES)
    assert refusal.context == {"assigned": 40, "requested": 39}
    assert switch(make_facts(assigned=40), quantity=40) is None


def test_r9_switch_refused_while_a_change_is_pending() -> None:
    facts = make_facts(pending_quantity=60, pending_effective=TERM_END)
    refusal = refused(switch(facts), Code.CHANGE_PENDING)
    assert refusal.context == {"effective": "2025-04-01"}


def test_r9_switch_refused_during_a_credit_check() -> None:
    refused(switch(make_facts(credit_check_pending=True)), Code.CREDIT_CHECK_PENDING)


def test_r9_switch_to_the_same_offer_is_refused() -> None:
    refusal = refused(switch(target=CLASSIC), Code.SAME_OFFER)
    assert refusal.context == {"offer": "Business Standard"}


def test_r9_switch_to_an_offer_at_end_of_sale_is_refused() -> None:
    refusal = refused(switch(target=replace(TARGET, end_of_sale=True)), Code.OFFER_END_OF_SALE)
    assert refusal.context == {"offer": "Business Premium"}


def test_r9_switch_to_an_offer_without_a_price_in_the_currency_is_refused() -> None:
    refusal = refused(switch(currency_code="NOK"), Code.CURRENCY_NOT_OFFERED)
    assert refusal.context == {"offer": "Business Premium", "currency": "NOK"}


def test_r9_switch_to_an_offer_not_sold_online_is_refused() -> None:
    target = replace(TARGET, channels=frozenset({PurchaseChannel.RESELLER}))
    refusal = refused(switch(target=target), Code.CHANNEL_NOT_ALLOWED)
    assert refusal.context == {"offer": "Business Premium", "channel": "online"}


def test_r9_switch_quantity_must_fit_the_target_offer() -> None:
    target = replace(TARGET, max_quantity=50)
    refusal = refused(
        switch(make_facts(assigned=10), target, quantity=51), Code.QUANTITY_OUT_OF_RANGE
    )
    assert refusal.context == {"minimum": 1, "maximum": 50}


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"status": Status.TRIAL}, Code.TRIAL_BUY_FIRST),
        ({"status": Status.EXPIRED}, Code.SUBSCRIPTION_NOT_ACTIVE),
        ({"channel": PurchaseChannel.PREPAID}, Code.PREPAID_CANNOT_SWITCH),
    ],
)
def test_r9_switch_refused_for_trials_ended_and_prepaid_subscriptions(
    overrides: dict[str, Any], code: Code
) -> None:
    refused(switch(make_facts(**overrides)), code)


# recurring billing, reactivation, trial extension, assignment ---------------------------------
def test_recurring_billing_can_be_changed_on_a_running_online_subscription() -> None:
    assert check_recurring_billing(make_facts()) is None
    assert check_recurring_billing(make_facts(channel=PurchaseChannel.PREPAID)) is None


def test_r14_recurring_billing_of_a_trial_is_refused() -> None:
    refused(check_recurring_billing(make_facts(status=Status.TRIAL)), Code.TRIAL_BUY_FIRST)


def test_recurring_billing_of_an_ended_subscription_is_refused() -> None:
    refusal = refused(
        check_recurring_billing(make_facts(status=Status.EXPIRED)), Code.SUBSCRIPTION_NOT_ACTIVE
    )
    assert refusal.context == {"status": "expired"}


@pytest.mark.parametrize("status", [Status.EXPIRED, Status.DISABLED])
def test_expired_and_disabled_subscriptions_can_be_reactivated(status: Status) -> None:
    assert check_reactivate(make_facts(status=status)) is None


@pytest.mark.parametrize("status", [Status.TRIAL, Status.ACTIVE, Status.DELETED])
def test_other_subscriptions_cannot_be_reactivated(status: Status) -> None:
    refusal = refused(check_reactivate(make_facts(status=status)), Code.CANNOT_REACTIVATE)
    assert refusal.context == {"status": status.value}


TRIAL_OFFER = make_offer(code="bs-trial", trial=TrialTerms())
TRIAL_END = date(2025, 3, 31)


def trial_facts(**overrides: Any) -> SubscriptionFacts:
    return make_facts(status=Status.TRIAL, quantity=25, assigned=3, term_end=TRIAL_END, **overrides)


@pytest.mark.parametrize("days_left", [15, 1])
def test_trial_extends_once_within_its_last_15_days(days_left: int) -> None:
    assert (
        check_trial_extension(trial_facts(), TRIAL_OFFER, TRIAL_END - timedelta(days_left)) is None
    )


@pytest.mark.parametrize(
    ("facts", "offer", "today"),
    [
        (trial_facts(), TRIAL_OFFER, TRIAL_END - timedelta(days=16)),  # too early
        (trial_facts(), TRIAL_OFFER, TRIAL_END),  # already over
        (trial_facts(trial_extended=True), TRIAL_OFFER, TRIAL_END - timedelta(days=3)),  # twice
        (make_facts(term_end=TRIAL_END), TRIAL_OFFER, TRIAL_END - timedelta(days=3)),  # paid
    ],
)
def test_trial_extension_refused(facts: SubscriptionFacts, offer: Offer, today: date) -> None:
    refusal = refused(check_trial_extension(facts, offer, today), Code.TRIAL_EXTENSION_UNAVAILABLE)
    assert refusal.context == {"within": 15}


def test_trial_extension_refused_when_the_offer_has_no_trial_terms() -> None:
    refusal = refused(
        check_trial_extension(trial_facts(), CLASSIC, TRIAL_END - timedelta(days=3)),
        Code.TRIAL_EXTENSION_UNAVAILABLE,
    )
    assert refusal.context == {"within": 0}


@pytest.mark.parametrize("status", [Status.TRIAL, Status.ACTIVE])
def test_licenses_of_running_subscriptions_can_be_assigned(status: Status) -> None:
    assert check_assignable(status) is None


@pytest.mark.parametrize("status", [Status.EXPIRED, Status.DISABLED, Status.DELETED])
def test_licenses_of_ended_subscriptions_cannot_be_assigned(status: Status) -> None:
    refusal = refused(check_assignable(status), Code.ASSIGNMENT_NOT_ALLOWED)
    assert refusal.context == {"status": status.value}


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"channel": PurchaseChannel.RESELLER}, Code.MANAGED_BY_RESELLER),
        ({"channel": PurchaseChannel.VOLUME}, Code.MANAGED_BY_VOLUME_LICENSING),
        ({"credit_check_pending": True}, Code.CREDIT_CHECK_PENDING),
        ({"status": Status.TRIAL}, Code.TRIAL_BUY_FIRST),
    ],
)
def test_r5_the_real_reason_wins_over_the_r4_floor(overrides: dict[str, Any], code: Code) -> None:
    """Below the assigned count on a subscription that can't be reduced at all: the admin is
    told why it can't be reduced, not to unassign first."""
    facts = make_facts(quantity=20, assigned=15, **overrides)
    refused(decide(facts, 10), code)


def test_r9_a_prepaid_subscription_is_not_switched_but_replaced_by_a_key_or_a_purchase() -> None:
    facts = make_facts(channel=PurchaseChannel.PREPAID, quantity=10, prepaid_quantity=10)
    refusal = check_switch(facts, CLASSIC, TARGET, 10, "EUR")
    assert refusal is not None
    assert refusal.code is Code.PREPAID_CANNOT_SWITCH
