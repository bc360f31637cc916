"""Property tests: ordinary cards always succeed; refunds never exceed what was captured."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import luhn

from abonnement.domain.money import Money
from abonnement.payments import (
    TEST_CARDS,
    PaymentStatus,
    Purpose,
    RefundExceedsCapturedError,
    SandboxProcessor,
)

from .conftest import TODAY, new_key, request

PREFIXES = st.text(alphabet="0123456789", min_size=15, max_size=15)
CURRENCIES = st.sampled_from(["EUR", "NOK", "DKK", "JPY", "KWD", "USD"])
PURPOSES = st.sampled_from([Purpose.PURCHASE, Purpose.RENEWAL, Purpose.CHANGE])


@settings(max_examples=200, deadline=None)
@given(
    prefix=PREFIXES,
    purpose=PURPOSES,
    minor=st.integers(min_value=1, max_value=10**12),
    code=CURRENCIES,
)
def test_any_ordinary_luhn_valid_card_is_charged(
    prefix: str, purpose: Purpose, minor: int, code: str
) -> None:
    number = prefix + luhn.calc_check_digit(prefix)
    if number in TEST_CARDS:
        return
    sandbox = SandboxProcessor()
    token = sandbox.tokenize_card(number, 12, TODAY.year + 1, "000", today=TODAY).token
    amount = Money.of(minor, code)
    result = sandbox.charge(request(token, amount, purpose=purpose))
    assert result.status is PaymentStatus.SUCCEEDED
    assert result.amount == amount
    assert result.decline_code is None


@settings(max_examples=200, deadline=None)
@given(
    charged=st.integers(min_value=1, max_value=100_000),
    refunds=st.lists(st.integers(min_value=1, max_value=60_000), max_size=12),
    retry=st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_refunds_never_total_more_than_captured(
    charged: int, refunds: list[int], retry: list[bool]
) -> None:
    sandbox = SandboxProcessor()
    token = sandbox.tokenize_card("4242424242424242", 1, TODAY.year + 1, "123", today=TODAY).token
    ref = sandbox.charge(request(token, Money.of(charged, "EUR"))).processor_ref
    refunded = 0
    for minor, again in zip(refunds, retry, strict=False):
        key = new_key()
        try:
            result = sandbox.refund(ref, Money.of(minor, "EUR"), key)
        except RefundExceedsCapturedError as refused:
            assert refunded + minor > charged
            assert refused.available == Money.of(charged - refunded, "EUR")
            continue
        assert result.succeeded
        refunded += minor
        if again:  # a retried refund must not count twice
            assert sandbox.refund(ref, Money.of(minor, "EUR"), key) == result
        assert refunded <= charged
    if refunded < charged:
        assert sandbox.refund(ref, Money.of(charged - refunded, "EUR"), new_key()).succeeded
