"""Payment requests refuse nothing-to-charge amounts; processors are found by name."""

from __future__ import annotations

import pytest

from abonnement.domain.money import Money
from abonnement.payments import (
    AmountNotPositiveError,
    InMemorySandboxLedger,
    InputProblem,
    PaymentField,
    PaymentInputError,
    PaymentProcessor,
    PaymentRequest,
    Purpose,
    SandboxProcessor,
    UnknownProcessorError,
    get_processor,
    processor_names,
    register_processor,
)

from .conftest import card


@pytest.mark.parametrize("minor", [0, -1, -1250])
def test_zero_or_negative_amounts_are_refused(minor: int) -> None:
    with pytest.raises(AmountNotPositiveError) as caught:
        PaymentRequest(
            Money.of(minor, "EUR"), "sbx_card_ok_0123456789abcdef", Purpose.PURCHASE, "k"
        )
    assert caught.value.field is PaymentField.AMOUNT
    assert caught.value.problem is InputProblem.NOT_POSITIVE


def test_refund_is_no_purpose_for_a_charge() -> None:
    with pytest.raises(PaymentInputError) as caught:
        PaymentRequest(Money.of(1, "EUR"), "sbx_card_ok_0123456789abcdef", Purpose.REFUND, "k")
    assert caught.value.field is PaymentField.PURPOSE


@pytest.mark.parametrize(("token", "key"), [("", "k"), ("sbx_card_ok_0123456789abcdef", " ")])
def test_a_request_needs_a_token_and_an_idempotency_key(token: str, key: str) -> None:
    with pytest.raises(PaymentInputError):
        PaymentRequest(Money.of(1, "EUR"), token, Purpose.PURCHASE, key)


def test_the_sandbox_is_the_default_processor() -> None:
    processor = get_processor()
    assert isinstance(processor, SandboxProcessor)
    assert isinstance(processor, PaymentProcessor)
    assert processor.name == "sandbox"
    assert "sandbox" in processor_names()


def test_options_go_to_the_factory() -> None:
    ledger = InMemorySandboxLedger()
    processor = get_processor("sandbox", ledger=ledger)
    assert isinstance(processor, SandboxProcessor)
    assert processor.ledger is ledger


def test_unknown_processor_names_are_refused() -> None:
    with pytest.raises(UnknownProcessorError) as caught:
        get_processor("stripe-but-not-registered")
    assert "sandbox" in str(caught.value)


def test_a_real_gateway_plugs_in_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    import abonnement.payments as payments

    monkeypatch.setattr(payments, "_FACTORIES", dict(payments._FACTORIES))

    class Gateway(SandboxProcessor):
        name = "test-gateway"

    register_processor("test-gateway", Gateway)
    assert processor_names() == ("sandbox", "test-gateway")
    processor = get_processor("test-gateway")
    assert isinstance(processor, Gateway)
    assert processor.name == "test-gateway"
    assert card(processor).token.startswith("sbx_card_")
    with pytest.raises(ValueError, match="already registered"):
        register_processor("test-gateway", Gateway)
    register_processor("test-gateway", SandboxProcessor, replace=True)
    assert type(get_processor("test-gateway")) is SandboxProcessor
    with pytest.raises(ValueError, match="32"):
        register_processor("x" * 33, Gateway)
