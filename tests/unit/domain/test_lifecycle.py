"""What time does to a subscription: renewals, expiry, the lifecycle after the end, trials,
dunning, the 90-day grace and the refund date of credit (pure decisions, no database)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abonnement.domain import lifecycle as lc
from abonnement.domain.periods import Frequency, Period, add_months
from abonnement.domain.subscriptions import IllegalTransitionError, Status, transition


# terms ------------------------------------------------------------------------------------------
def test_recurring_billing_on_renews_and_off_expires() -> None:
    assert lc.term_end_outcome(True) is lc.TermEnd.RENEW
    assert lc.term_end_outcome(False) is lc.TermEnd.EXPIRE


def test_monthly_terms_follow_the_anchor_through_short_months() -> None:
    anchor = date(2026, 1, 31)
    first = Period(anchor, date(2026, 2, 28))
    second = lc.next_term(anchor, Frequency.MONTHLY, first)
    assert second == Period(date(2026, 2, 28), date(2026, 3, 31))
    third = lc.next_term(anchor, Frequency.MONTHLY, second)
    assert third == Period(date(2026, 3, 31), date(2026, 4, 30))


def test_an_annual_term_renews_for_a_year() -> None:
    term = Period(date(2026, 3, 2), date(2027, 3, 2))
    assert lc.next_term(date(2026, 3, 2), Frequency.ANNUAL, term) == Period(
        date(2027, 3, 2), date(2028, 3, 2)
    )


def test_a_term_that_does_not_line_up_with_the_anchor_follows_its_own_start() -> None:
    # Reactivated on 10 May: the original anchor (2 March) no longer fits.
    term = Period(date(2026, 5, 10), date(2026, 6, 10))
    assert lc.next_term(date(2026, 3, 2), Frequency.MONTHLY, term) == Period(
        date(2026, 6, 10), date(2026, 7, 10)
    )


@settings(max_examples=300, deadline=None)
@given(
    anchor=st.dates(min_value=date(2000, 1, 1), max_value=date(2039, 1, 1)),
    frequency=st.sampled_from(list(Frequency)),
    renewals=st.integers(min_value=1, max_value=30),
)
def test_renewed_terms_are_the_anchors_anniversaries_without_gaps(
    anchor: date, frequency: Frequency, renewals: int
) -> None:
    term = Period(anchor, add_months(anchor, frequency.months))
    for index in range(1, renewals + 1):
        following = lc.next_term(anchor, frequency, term)
        assert following.start == term.end
        assert following.end == add_months(anchor, (index + 1) * frequency.months)
        term = following


def test_a_reduction_scheduled_for_renewal_takes_effect_with_it() -> None:
    term = Period(date(2026, 3, 2), date(2027, 3, 2))
    renewal = lc.renew(date(2026, 3, 2), Frequency.ANNUAL, term, 20, 12, date(2027, 3, 2))
    assert renewal == lc.Renewal(Period(date(2027, 3, 2), date(2028, 3, 2)), 12, 20)
    plain = lc.renew(date(2026, 3, 2), Frequency.ANNUAL, term, 20, None, None)
    assert (plain.quantity, plain.reduced_from) == (20, None)


def test_a_reduction_scheduled_for_a_later_renewal_waits() -> None:
    term = Period(date(2026, 3, 2), date(2026, 4, 2))
    renewal = lc.renew(date(2026, 3, 2), Frequency.MONTHLY, term, 20, 12, date(2026, 5, 2))
    assert (renewal.quantity, renewal.reduced_from) == (20, None)


# trials -----------------------------------------------------------------------------------------
def test_r14_a_trial_converts_with_a_payment_method_and_expires_without() -> None:
    assert lc.trial_end_outcome(True) is lc.TrialEnd.CONVERT
    assert lc.trial_end_outcome(False) is lc.TrialEnd.EXPIRE


# after the end ----------------------------------------------------------------------------------
def test_expired_for_the_offers_days_then_disabled_then_deleted() -> None:
    expired_on = date(2026, 4, 2)
    step = lc.ended_step(Status.EXPIRED, expired_on, 30, 90)
    assert step == lc.StatusChange(date(2026, 5, 2), Status.DISABLED)
    step = lc.ended_step(Status.DISABLED, date(2026, 5, 2), 30, 90)
    assert step == lc.StatusChange(date(2026, 7, 31), Status.DELETED)


def test_the_offers_day_counts_decide() -> None:
    assert lc.ended_step(Status.EXPIRED, date(2026, 4, 2), 7, 14) == lc.StatusChange(
        date(2026, 4, 9), Status.DISABLED
    )
    assert lc.ended_step(Status.DISABLED, date(2026, 4, 9), 7, 14) == lc.StatusChange(
        date(2026, 4, 23), Status.DELETED
    )


@pytest.mark.parametrize("status", [Status.TRIAL, Status.ACTIVE, Status.DELETED])
def test_time_does_not_move_running_or_deleted_subscriptions_on(status: Status) -> None:
    assert lc.ended_step(status, date(2026, 4, 2), 30, 90) is None


def test_every_lifecycle_step_is_an_edge_of_the_state_machine() -> None:
    for status in (Status.EXPIRED, Status.DISABLED):
        assert lc.ended_step(status, date(2026, 4, 2), 30, 90) is not None
    with pytest.raises(IllegalTransitionError):
        transition(Status.EXPIRED, Status.DELETED)  # Expired never skips Disabled


# dunning ----------------------------------------------------------------------------------------
def test_a_declined_charge_is_retried_on_1_3_7_14_and_30_days_then_given_up() -> None:
    declined = date(2026, 4, 2)
    days = []
    retries = 0
    while (attempt := lc.dunning_attempt_on(declined, retries)) is not None:
        days.append((attempt - declined).days)
        retries += 1
    assert days == [1, 3, 7, 14, 30]
    assert lc.dunning_exhausted(5) and not lc.dunning_exhausted(4)
    with pytest.raises(ValueError, match="negative"):
        lc.dunning_attempt_on(declined, -1)


# grace ------------------------------------------------------------------------------------------
def test_excess_assignments_get_a_90_day_grace() -> None:
    assert lc.excess(quantity=10, assigned=12) == 2
    assert lc.excess(quantity=10, assigned=8) == 0
    assert lc.grace_until(date(2026, 4, 2)) == date(2026, 4, 2) + timedelta(days=90)


# credit -----------------------------------------------------------------------------------------
def test_r11_r13_credit_goes_back_on_the_next_billing_date_at_most_30_days_later() -> None:
    assert lc.credit_refund_due(date(2026, 3, 17), date(2026, 4, 2)) == date(2026, 4, 2)
    # Annual billing: the next billing date is far; 30 days is the limit.
    assert lc.credit_refund_due(date(2026, 3, 17), date(2027, 3, 2)) == date(2026, 4, 16)
    assert lc.credit_refund_due(date(2026, 3, 17), None) == date(2026, 4, 16)


def test_the_steps_of_a_day_run_in_a_fixed_order() -> None:
    assert [s.value for s in lc.Step] == [
        "credit_check",
        "dunning",
        "trial_end",
        "term_end",
        "lifecycle",
        "grace_end",
        "statement",
    ]
