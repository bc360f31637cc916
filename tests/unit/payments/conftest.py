"""Shared helpers for the payments tests: a sandbox, a fixed 'today', request builders."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from abonnement.domain.money import Money
from abonnement.payments import PaymentRequest, Purpose, SandboxProcessor, TokenizedMethod

TODAY = date(2026, 3, 15)
_keys = itertools.count(1)


def new_key() -> str:
    return f"test-key-{next(_keys)}"


def card(processor: SandboxProcessor, number: str = "4242424242424242") -> TokenizedMethod:
    return processor.tokenize_card(number, 12, TODAY.year + 2, "123", today=TODAY)


def request(
    token: str,
    amount: Money | None = None,
    *,
    purpose: Purpose = Purpose.PURCHASE,
    key: str | None = None,
) -> PaymentRequest:
    return PaymentRequest(
        amount=amount if amount is not None else Money.of(1250, "EUR"),
        token=token,
        purpose=purpose,
        idempotency_key=key if key is not None else new_key(),
        description="Business Standard, 5 licenses",
    )


@pytest.fixture
def sandbox() -> SandboxProcessor:
    return SandboxProcessor()
