"""Bank accounts answer pending and settle later; invoice methods never reach a processor."""

from __future__ import annotations

import pytest

from abonnement.domain.money import Money
from abonnement.payments import (
    TEST_IBANS,
    DeclineCode,
    InputProblem,
    PaymentInputError,
    PaymentMethodKind,
    PaymentStateError,
    PaymentStatus,
    Purpose,
    RefundExceedsCapturedError,
    SandboxProcessor,
    UnknownPaymentError,
    invoice_method,
)

from .conftest import card, new_key, request

GOOD_IBAN = "NL91ABNA0417164300"
FAILING_IBAN = "DE89 3704 0044 0532 0130 00"
OTHER_IBAN = "GB82 WEST 1234 5698 7654 32"


def test_the_documented_ibans() -> None:
    assert set(TEST_IBANS) == {"NL91ABNA0417164300", "DE89370400440532013000"}


@pytest.mark.parametrize("iban", [GOOD_IBAN, OTHER_IBAN])
@pytest.mark.parametrize("purpose", [Purpose.PURCHASE, Purpose.RENEWAL, Purpose.CHANGE])
def test_bank_charge_is_pending_then_settles(
    sandbox: SandboxProcessor, iban: str, purpose: Purpose
) -> None:
    token = sandbox.tokenize_bank_account(iban, "J. Jansen").token
    amount = Money.of(19900, "EUR")
    pending = sandbox.charge(request(token, amount, purpose=purpose))
    assert pending.status is PaymentStatus.PENDING
    assert pending.pending
    assert pending.decline_code is None
    # not refundable before the money arrived
    with pytest.raises(PaymentStateError):
        sandbox.refund(pending.processor_ref, amount, new_key())
    settled = sandbox.settle(pending.processor_ref)
    assert settled.status is PaymentStatus.SUCCEEDED
    assert (settled.processor_ref, settled.amount) == (pending.processor_ref, amount)
    assert sandbox.settle(pending.processor_ref) == settled  # settling twice answers the same
    assert sandbox.refund(pending.processor_ref, amount, new_key()).succeeded
    with pytest.raises(RefundExceedsCapturedError):
        sandbox.refund(pending.processor_ref, Money.of(1, "EUR"), new_key())


def test_the_failing_iban_bounces_at_settlement(sandbox: SandboxProcessor) -> None:
    token = sandbox.tokenize_bank_account(FAILING_IBAN, "M. Müller").token
    pending = sandbox.charge(request(token, purpose=Purpose.RENEWAL))
    assert pending.status is PaymentStatus.PENDING
    bounced = sandbox.settle(pending.processor_ref)
    assert bounced.status is PaymentStatus.DECLINED
    assert bounced.decline_code is DeclineCode.INSUFFICIENT_FUNDS
    assert sandbox.settle(pending.processor_ref) == bounced
    with pytest.raises(PaymentStateError):
        sandbox.refund(pending.processor_ref, pending.amount, new_key())


def test_card_payments_and_unknown_refs_cannot_be_settled(sandbox: SandboxProcessor) -> None:
    charged = sandbox.charge(request(card(sandbox).token))
    with pytest.raises(PaymentStateError):
        sandbox.settle(charged.processor_ref)
    with pytest.raises(UnknownPaymentError):
        sandbox.settle("sbx_ch_unknown")


def test_invoice_methods_need_no_processor_and_the_sandbox_refuses_them(
    sandbox: SandboxProcessor,
) -> None:
    method = invoice_method()
    assert method.kind is PaymentMethodKind.INVOICE
    assert (method.brand, method.last4) == (None, None)
    for operation in (sandbox.charge, sandbox.authorize):
        with pytest.raises(PaymentInputError) as caught:
            operation(request(method.token))
        assert caught.value.problem is InputProblem.WRONG_METHOD_KIND


@pytest.mark.parametrize("token", ["tok_visa", "sbx_card_zz_0123456789abcdef", "sbx_card_ok_1"])
def test_unknown_tokens_are_refused(sandbox: SandboxProcessor, token: str) -> None:
    with pytest.raises(PaymentInputError) as caught:
        sandbox.charge(request(token))
    assert caught.value.problem is InputProblem.UNKNOWN_TOKEN


@pytest.mark.parametrize(
    ("iban", "status"),
    [(GOOD_IBAN, PaymentStatus.SUCCEEDED), (FAILING_IBAN, PaymentStatus.DECLINED)],
)
def test_settling_in_another_process_takes_the_stored_token_and_amount(
    iban: str, status: PaymentStatus
) -> None:
    charging, settling = SandboxProcessor(), SandboxProcessor()
    token = charging.tokenize_bank_account(iban, "J. Jansen").token
    amount = Money.of(4500, "EUR")
    pending = charging.charge(request(token, amount, purpose=Purpose.RENEWAL))
    with pytest.raises(UnknownPaymentError):
        settling.settle(pending.processor_ref)  # it cannot know the outcome without the token
    here = charging.settle(pending.processor_ref)
    there = settling.settle(pending.processor_ref, token=token, amount=amount)
    assert there.status is here.status is status
    assert (there.processor_ref, there.amount, there.decline_code) == (
        here.processor_ref,
        here.amount,
        here.decline_code,
    )
    if status is PaymentStatus.SUCCEEDED:  # now captured in the settling ledger too
        with pytest.raises(RefundExceedsCapturedError):
            settling.refund(pending.processor_ref, Money.of(4501, "EUR"), new_key())


def test_settle_refuses_details_that_do_not_match_the_charge(sandbox: SandboxProcessor) -> None:
    token = sandbox.tokenize_bank_account(GOOD_IBAN, "J. Jansen").token
    pending = sandbox.charge(request(token, Money.of(100, "EUR")))
    with pytest.raises(PaymentInputError) as caught:
        sandbox.settle(pending.processor_ref, token=token, amount=Money.of(101, "EUR"))
    assert caught.value.problem is InputProblem.MISMATCH
    other = sandbox.tokenize_bank_account(GOOD_IBAN, "J. Jansen").token
    with pytest.raises(PaymentInputError):
        sandbox.settle(pending.processor_ref, token=other)
    assert sandbox.settle(pending.processor_ref, token=token, amount=Money.of(100, "EUR")).succeeded
