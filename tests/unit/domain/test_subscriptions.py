"""The subscription state machine: every allowed and every forbidden transition."""

from __future__ import annotations

import itertools

import pytest

from abonnement.domain.catalog import PurchaseChannel
from abonnement.domain.subscriptions import (
    TRANSITIONS,
    IllegalTransitionError,
    Status,
    SubscriptionFacts,
    can_transition,
    transition,
)

S = Status
# Written out from DESIGN.md, independently of TRANSITIONS.
ALLOWED = {
    (S.TRIAL, S.ACTIVE),  # a trial converts to paid (R14)
    (S.TRIAL, S.EXPIRED),  # ... or expires by itself (R14)
    (S.TRIAL, S.DISABLED),
    (S.ACTIVE, S.EXPIRED),  # term ends without renewal
    (S.ACTIVE, S.DISABLED),  # cancelled inside the window, or dunning gave up
    (S.EXPIRED, S.ACTIVE),  # reactivated
    (S.EXPIRED, S.DISABLED),  # after the expired days
    (S.DISABLED, S.ACTIVE),  # reactivated
    (S.DISABLED, S.DELETED),  # after the disabled days
}
ALL_PAIRS = list(itertools.product(Status, Status))
FORBIDDEN = [pair for pair in ALL_PAIRS if pair not in ALLOWED]


def test_the_machine_knows_every_status() -> None:
    assert set(TRANSITIONS) == set(Status)


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed_transition(current: Status, target: Status) -> None:
    assert can_transition(current, target)
    assert transition(current, target) is target


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_forbidden_transition(current: Status, target: Status) -> None:
    assert not can_transition(current, target)
    with pytest.raises(IllegalTransitionError) as caught:
        transition(current, target)
    assert caught.value.current is current
    assert caught.value.target is target
    assert isinstance(caught.value, ValueError)
    assert f"from {current} to {target}" in str(caught.value)


def test_no_status_transitions_to_itself() -> None:
    assert all(not can_transition(status, status) for status in Status)


def test_r14_a_trial_converts_to_paid_or_expires_by_itself() -> None:
    """R14: a payment method turns a trial into a paid subscription; otherwise it expires."""
    assert transition(S.TRIAL, S.ACTIVE) is S.ACTIVE
    assert transition(S.TRIAL, S.EXPIRED) is S.EXPIRED


def test_deleted_is_final() -> None:
    assert not TRANSITIONS[S.DELETED]


def test_the_end_of_life_path_expired_disabled_deleted() -> None:
    status = S.ACTIVE
    for target in (S.EXPIRED, S.DISABLED, S.DELETED):
        status = transition(status, target)
    assert status is S.DELETED


def test_nothing_skips_disabled_on_the_way_to_deleted() -> None:
    assert [s for s in Status if can_transition(s, S.DELETED)] == [S.DISABLED]


def test_facts_count_unassigned_licenses() -> None:
    facts = SubscriptionFacts(S.ACTIVE, PurchaseChannel.ONLINE, quantity=10, assigned=4)
    assert facts.unassigned == 6


def test_facts_unassigned_is_never_negative_during_the_grace_period() -> None:
    """More assigned than bought (after a reduction at renewal) is a grace state, not -3."""
    facts = SubscriptionFacts(S.ACTIVE, PurchaseChannel.ONLINE, quantity=5, assigned=8)
    assert facts.unassigned == 0


def test_recurring_billing_is_on_by_default() -> None:
    facts = SubscriptionFacts(S.ACTIVE, PurchaseChannel.ONLINE, quantity=1, assigned=0)
    assert facts.recurring_billing
    assert not facts.credit_check_pending
    assert facts.pending_quantity is None
