"""Idempotency: the same key and request give the same answer, in this process or another."""

from __future__ import annotations

import hashlib

import pytest

from abonnement.domain.money import Money
from abonnement.payments import (
    IdempotencyConflictError,
    InMemorySandboxLedger,
    PaymentStatus,
    Purpose,
    SandboxProcessor,
)
from abonnement.payments.sandbox import authorization_ref, charge_ref, refund_ref

from .conftest import card, request


def test_same_key_same_request_gives_the_same_result_and_charges_once(
    sandbox: SandboxProcessor,
) -> None:
    token = card(sandbox).token
    first = sandbox.charge(request(token, key="order-1"))
    again = sandbox.charge(request(token, key="order-1"))
    assert again == first
    assert again.processor_ref == first.processor_ref
    ledger = sandbox.ledger
    assert isinstance(ledger, InMemorySandboxLedger)
    assert len(ledger.payments()) == 1


def test_same_key_for_a_declined_charge_gives_the_same_decline(sandbox: SandboxProcessor) -> None:
    token = card(sandbox, "4000000000000002").token
    first = sandbox.charge(request(token, key="order-2"))
    assert sandbox.charge(request(token, key="order-2")) == first
    assert first.status is PaymentStatus.DECLINED


def test_same_key_with_a_different_amount_is_refused(sandbox: SandboxProcessor) -> None:
    token = card(sandbox).token
    sandbox.charge(request(token, Money.of(1000, "EUR"), key="order-3"))
    with pytest.raises(IdempotencyConflictError) as caught:
        sandbox.charge(request(token, Money.of(1001, "EUR"), key="order-3"))
    assert caught.value.differences == ("amount",)
    assert caught.value.key == "order-3"
    with pytest.raises(IdempotencyConflictError):
        sandbox.charge(request(token, Money.of(1000, "SEK"), key="order-3"))


def test_same_key_with_another_token_purpose_or_operation_is_refused(
    sandbox: SandboxProcessor,
) -> None:
    token = card(sandbox).token
    sandbox.charge(request(token, key="order-4"))
    with pytest.raises(IdempotencyConflictError) as caught:
        sandbox.charge(request(card(sandbox).token, key="order-4"))
    assert caught.value.differences == ("token",)
    with pytest.raises(IdempotencyConflictError) as caught:
        sandbox.charge(request(token, purpose=Purpose.RENEWAL, key="order-4"))
    assert caught.value.differences == ("purpose",)
    with pytest.raises(IdempotencyConflictError) as caught:
        sandbox.authorize(request(token, key="order-4"))
    assert "operation" in caught.value.differences


def test_the_description_is_not_part_of_the_request_identity(sandbox: SandboxProcessor) -> None:
    token = card(sandbox).token
    first = sandbox.charge(request(token, key="order-5"))
    other = request(token, key="order-5")
    relabelled = type(other)(
        other.amount, other.token, other.purpose, other.idempotency_key, "another text"
    )
    assert sandbox.charge(relabelled) == first


def test_a_conflict_changes_nothing(sandbox: SandboxProcessor) -> None:
    token = card(sandbox).token
    first = sandbox.charge(request(token, Money.of(500, "EUR"), key="order-6"))
    with pytest.raises(IdempotencyConflictError):
        sandbox.charge(request(token, Money.of(600, "EUR"), key="order-6"))
    assert sandbox.charge(request(token, Money.of(500, "EUR"), key="order-6")) == first
    ledger = sandbox.ledger
    assert isinstance(ledger, InMemorySandboxLedger)
    assert [p.amount for p in ledger.payments()] == [Money.of(500, "EUR")]


@pytest.mark.parametrize(
    "number", ["4242424242424242", "4000000000000341", "4000000000009995", "4000000000000119"]
)
@pytest.mark.parametrize("purpose", [Purpose.PURCHASE, Purpose.RENEWAL, Purpose.CHANGE])
def test_a_retry_in_another_process_gets_the_same_result_and_ref(
    number: str, purpose: Purpose
) -> None:
    # Two processors with separate ledgers stand for two processes: nothing is shared but the
    # stored token, the request and its idempotency key.
    first_process, second_process = SandboxProcessor(), SandboxProcessor()
    token = card(first_process, number).token
    key = f"org:7:invoice:42:attempt:1:{number}:{purpose}"
    first = first_process.charge(request(token, Money.of(9900, "DKK"), purpose=purpose, key=key))
    retry = second_process.charge(request(token, Money.of(9900, "DKK"), purpose=purpose, key=key))
    assert retry.processor_ref == first.processor_ref
    assert (retry.status, retry.decline_code, retry.amount) == (
        first.status,
        first.decline_code,
        first.amount,
    )


def test_refs_are_derived_from_the_key_alone() -> None:
    digest = hashlib.sha256(b"order-9").hexdigest()[:24]
    assert charge_ref("order-9") == f"sbx_ch_{digest}"
    assert authorization_ref("order-9") == f"sbx_au_{digest}"
    assert refund_ref("order-9") == f"sbx_re_{digest}"
    processor = SandboxProcessor()
    token = card(processor).token
    assert processor.charge(request(token, key="order-9")).processor_ref == charge_ref("order-9")
    assert processor.authorize(request(token, key="auth-9")).processor_ref == authorization_ref(
        "auth-9"
    )


def test_different_keys_give_different_refs(sandbox: SandboxProcessor) -> None:
    token = card(sandbox).token
    refs = {sandbox.charge(request(token)).processor_ref for _ in range(20)}
    assert len(refs) == 20


def test_a_shared_ledger_lets_two_processors_see_the_same_payments() -> None:
    ledger = InMemorySandboxLedger()
    api, worker = SandboxProcessor(ledger), SandboxProcessor(ledger)
    charged = api.charge(request(card(api).token, Money.of(3000, "EUR"), key="shared-1"))
    refund = worker.refund(charged.processor_ref, Money.of(1000, "EUR"), "shared-refund-1")
    assert refund.succeeded
    with pytest.raises(IdempotencyConflictError):
        worker.charge(request(card(worker).token, Money.of(3000, "EUR"), key="shared-1"))
