"""Refunds: partial and full, never more than captured minus earlier refunds."""

from __future__ import annotations

import pytest

from abonnement.domain.money import Money
from abonnement.payments import (
    AmountNotPositiveError,
    IdempotencyConflictError,
    InputProblem,
    PaymentInputError,
    PaymentStateError,
    RefundExceedsCapturedError,
    RefundStatus,
    SandboxProcessor,
    UnknownPaymentError,
)
from abonnement.payments.sandbox import charge_ref, refund_ref

from .conftest import card, new_key, request


def eur(minor: int) -> Money:
    return Money.of(minor, "EUR")


@pytest.fixture
def charged(sandbox: SandboxProcessor) -> str:
    return sandbox.charge(request(card(sandbox).token, eur(10000))).processor_ref


def test_partial_refunds_then_the_rest(sandbox: SandboxProcessor, charged: str) -> None:
    first = sandbox.refund(charged, eur(2500), "refund-1")
    assert first.status is RefundStatus.SUCCEEDED
    assert first.succeeded
    assert (first.amount, first.charge_ref) == (eur(2500), charged)
    assert first.processor_ref == refund_ref("refund-1")
    second = sandbox.refund(charged, eur(7500), "refund-2")
    assert second.amount == eur(7500)
    assert second.processor_ref != first.processor_ref


def test_a_full_refund_in_one_go(sandbox: SandboxProcessor, charged: str) -> None:
    assert sandbox.refund(charged, eur(10000), new_key()).amount == eur(10000)
    with pytest.raises(RefundExceedsCapturedError) as caught:
        sandbox.refund(charged, eur(1), new_key())
    assert caught.value.available == eur(0)


def test_over_refund_is_refused_and_changes_nothing(
    sandbox: SandboxProcessor, charged: str
) -> None:
    sandbox.refund(charged, eur(6000), new_key())
    with pytest.raises(RefundExceedsCapturedError) as caught:
        sandbox.refund(charged, eur(4001), new_key())
    assert (caught.value.requested, caught.value.available) == (eur(4001), eur(4000))
    assert sandbox.refund(charged, eur(4000), new_key()).succeeded


def test_the_same_refund_key_refunds_once(sandbox: SandboxProcessor, charged: str) -> None:
    first = sandbox.refund(charged, eur(6000), "refund-once")
    assert sandbox.refund(charged, eur(6000), "refund-once") == first
    # only 6000 was taken: 4000 remain
    assert sandbox.refund(charged, eur(4000), new_key()).succeeded
    with pytest.raises(IdempotencyConflictError) as caught:
        sandbox.refund(charged, eur(100), "refund-once")
    assert caught.value.differences == ("amount",)


def test_refunds_of_unknown_declined_or_uncaptured_payments_are_refused(
    sandbox: SandboxProcessor,
) -> None:
    with pytest.raises(UnknownPaymentError):
        sandbox.refund("ch_not_a_sandbox_charge", eur(100), new_key())
    with pytest.raises(UnknownPaymentError):
        SandboxProcessor(strict=True).refund(charge_ref("never-charged"), eur(100), new_key())
    declined = sandbox.charge(request(card(sandbox, "4000000000000002").token, eur(100)))
    with pytest.raises(PaymentStateError) as caught:
        sandbox.refund(declined.processor_ref, eur(100), new_key())
    assert caught.value.state == "declined"
    authorized = sandbox.authorize(request(card(sandbox).token, eur(100)))
    with pytest.raises(PaymentStateError) as caught:
        sandbox.refund(authorized.processor_ref, eur(100), new_key())
    assert caught.value.state == "authorized"


def test_refunds_in_another_currency_or_of_nothing_are_refused(
    sandbox: SandboxProcessor, charged: str
) -> None:
    with pytest.raises(PaymentInputError) as caught:
        sandbox.refund(charged, Money.of(100, "USD"), new_key())
    assert caught.value.problem is InputProblem.CURRENCY_MISMATCH
    with pytest.raises(AmountNotPositiveError):
        sandbox.refund(charged, eur(0), new_key())
    with pytest.raises(AmountNotPositiveError):
        sandbox.refund(charged, eur(-100), new_key())
    with pytest.raises(PaymentInputError):
        sandbox.refund(charged, eur(100), "  ")


def test_a_captured_authorization_is_refundable_up_to_the_captured_amount(
    sandbox: SandboxProcessor,
) -> None:
    authorized = sandbox.authorize(request(card(sandbox).token, eur(5000)))
    sandbox.capture(authorized.processor_ref, eur(3000))
    with pytest.raises(RefundExceedsCapturedError):
        sandbox.refund(authorized.processor_ref, eur(3001), new_key())
    assert sandbox.refund(authorized.processor_ref, eur(3000), new_key()).succeeded


def test_a_refund_in_another_process_relies_on_the_engines_records() -> None:
    # Each get_processor() call (and each CLI process) has its own ledger: a charge made in one
    # is refundable from another; the engine's stored payments bound the amount there.
    charging, refunding = SandboxProcessor(), SandboxProcessor()
    charged = charging.charge(request(card(charging).token, eur(5000), key="xp-charge"))
    first = refunding.refund(charged.processor_ref, eur(2000), "xp-refund")
    assert first.succeeded
    assert first.processor_ref == refund_ref("xp-refund")
    assert first.charge_ref == charged.processor_ref
    assert "not bounded" in first.message
    # the same refund retried in yet another process gets the same reference
    again = SandboxProcessor().refund(charged.processor_ref, eur(2000), "xp-refund")
    assert again.processor_ref == first.processor_ref
    assert refunding.refund(charged.processor_ref, eur(2000), "xp-refund") == first
    with pytest.raises(IdempotencyConflictError):
        refunding.refund(charged.processor_ref, eur(2001), "xp-refund")
