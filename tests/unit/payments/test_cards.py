"""The sandbox's test cards behave as documented, per purpose (authorize and charge alike)."""

from __future__ import annotations

import pytest

from abonnement.domain.money import Money
from abonnement.payments import (
    TEST_CARDS,
    DeclineCode,
    PaymentStatus,
    Purpose,
    SandboxProcessor,
)
from abonnement.payments.sandbox import CardBehaviour

from .conftest import card, request

CHARGE_PURPOSES = [Purpose.PURCHASE, Purpose.RENEWAL, Purpose.CHANGE]

# number → purpose → expected decline code (None: succeeds)
EXPECTED: dict[str, dict[Purpose, DeclineCode | None]] = {
    "4242424242424242": dict.fromkeys(CHARGE_PURPOSES),
    "4000000000000002": dict.fromkeys(CHARGE_PURPOSES, DeclineCode.CARD_DECLINED),
    "4000000000009995": dict.fromkeys(CHARGE_PURPOSES, DeclineCode.INSUFFICIENT_FUNDS),
    "4000000000000069": dict.fromkeys(CHARGE_PURPOSES, DeclineCode.EXPIRED_CARD),
    "4000000000000341": {
        Purpose.PURCHASE: None,
        Purpose.CHANGE: None,
        Purpose.RENEWAL: DeclineCode.CARD_DECLINED,
    },
    "4000000000000119": dict.fromkeys(CHARGE_PURPOSES, DeclineCode.PROCESSING_ERROR),
    "5555555555554444": dict.fromkeys(CHARGE_PURPOSES),  # any other valid number
}

CASES = [
    (number, purpose, code) for number, row in EXPECTED.items() for purpose, code in row.items()
]


def test_every_documented_test_card_is_covered_here() -> None:
    assert set(TEST_CARDS) <= set(EXPECTED)


@pytest.mark.parametrize(("number", "purpose", "code"), CASES)
def test_charge_outcome_per_card_and_purpose(
    sandbox: SandboxProcessor, number: str, purpose: Purpose, code: DeclineCode | None
) -> None:
    method = card(sandbox, number)
    amount = Money.of(4200, "NOK")
    result = sandbox.charge(request(method.token, amount, purpose=purpose))
    assert result.amount == amount
    assert result.processor_ref.startswith("sbx_ch_")
    assert result.decline_code is code
    if code is None:
        assert result.status is PaymentStatus.SUCCEEDED
        assert result.succeeded
    else:
        assert result.status is PaymentStatus.DECLINED
        assert not result.succeeded
        assert code.value in result.message


@pytest.mark.parametrize(("number", "purpose", "code"), CASES)
def test_authorize_outcome_matches_charge(
    sandbox: SandboxProcessor, number: str, purpose: Purpose, code: DeclineCode | None
) -> None:
    method = card(sandbox, number)
    result = sandbox.authorize(request(method.token, purpose=purpose))
    assert result.processor_ref.startswith("sbx_au_")
    assert result.decline_code is code
    expected = PaymentStatus.SUCCEEDED if code is None else PaymentStatus.DECLINED
    assert result.status is expected


def test_the_renewal_card_buys_then_fails_at_the_next_renewal(sandbox: SandboxProcessor) -> None:
    method = card(sandbox, "4000 0000 0000 0341")
    assert sandbox.charge(request(method.token, purpose=Purpose.PURCHASE)).succeeded
    assert sandbox.charge(request(method.token, purpose=Purpose.CHANGE)).succeeded
    renewal = sandbox.charge(request(method.token, purpose=Purpose.RENEWAL))
    assert renewal.status is PaymentStatus.DECLINED
    assert renewal.decline_code is DeclineCode.CARD_DECLINED
    assert not renewal.retryable


def test_processing_error_is_the_one_retryable_decline(sandbox: SandboxProcessor) -> None:
    flaky = sandbox.charge(request(card(sandbox, "4000000000000119").token))
    assert flaky.retryable
    assert "retry" in flaky.message
    for number in ("4000000000000002", "4000000000009995", "4000000000000069"):
        assert not sandbox.charge(request(card(sandbox, number).token)).retryable


def test_charges_work_in_any_currency_including_zero_decimal_ones(
    sandbox: SandboxProcessor,
) -> None:
    token = card(sandbox).token
    for amount in (Money.of(1, "JPY"), Money.of(12345, "KWD"), Money.of(99, "DKK")):
        result = sandbox.charge(request(token, amount))
        assert result.succeeded
        assert result.amount == amount


def test_table_behaviours_are_what_the_tokens_carry(sandbox: SandboxProcessor) -> None:
    for number, special in TEST_CARDS.items():
        token = card(sandbox, number).token
        assert token.startswith(f"sbx_card_{special.behaviour.value}_")
    assert card(sandbox, "5555555555554444").token.startswith(
        f"sbx_card_{CardBehaviour.SUCCEEDS.value}_"
    )
