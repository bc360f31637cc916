"""Authorize then capture: at most the authorized amount, once."""

from __future__ import annotations

import pytest

from abonnement.domain.money import Money
from abonnement.payments import (
    CaptureExceedsAuthorizedError,
    InputProblem,
    PaymentInputError,
    PaymentStateError,
    PaymentStatus,
    SandboxProcessor,
    UnknownPaymentError,
)

from .conftest import card, request


def test_capture_the_whole_authorization(sandbox: SandboxProcessor) -> None:
    auth = sandbox.authorize(request(card(sandbox).token, Money.of(2000, "EUR")))
    captured = sandbox.capture(auth.processor_ref, Money.of(2000, "EUR"))
    assert captured.status is PaymentStatus.SUCCEEDED
    assert captured.processor_ref == auth.processor_ref
    assert captured.amount == Money.of(2000, "EUR")
    # capturing the same amount again is a harmless repeat
    assert sandbox.capture(auth.processor_ref, Money.of(2000, "EUR")) == captured
    with pytest.raises(PaymentStateError):
        sandbox.capture(auth.processor_ref, Money.of(1000, "EUR"))


def test_partial_capture_and_over_capture(sandbox: SandboxProcessor) -> None:
    auth = sandbox.authorize(request(card(sandbox).token, Money.of(2000, "EUR")))
    with pytest.raises(CaptureExceedsAuthorizedError):
        sandbox.capture(auth.processor_ref, Money.of(2001, "EUR"))
    with pytest.raises(PaymentInputError) as caught:
        sandbox.capture(auth.processor_ref, Money.of(2000, "USD"))
    assert caught.value.problem is InputProblem.CURRENCY_MISMATCH
    assert sandbox.capture(auth.processor_ref, Money.of(1500, "EUR")).amount == Money.of(
        1500, "EUR"
    )


def test_declined_or_unknown_authorizations_cannot_be_captured(sandbox: SandboxProcessor) -> None:
    declined = sandbox.authorize(request(card(sandbox, "4000000000009995").token))
    with pytest.raises(PaymentStateError):
        sandbox.capture(declined.processor_ref, declined.amount)
    with pytest.raises(UnknownPaymentError):
        sandbox.capture("sbx_au_nothing", Money.of(1, "EUR"))


def test_bank_accounts_are_charged_not_authorized(sandbox: SandboxProcessor) -> None:
    bank = sandbox.tokenize_bank_account("NL91ABNA0417164300", "J. Jansen")
    with pytest.raises(PaymentInputError) as caught:
        sandbox.authorize(request(bank.token))
    assert caught.value.problem is InputProblem.WRONG_METHOD_KIND
