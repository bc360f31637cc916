"""What the payment processor knows a request's charge by, on both databases: the same charge
asked again — a use case retried after a deadlock, a request sent again with its Idempotency-Key
after a crash — gets the same idempotency key, so the card is charged once, even when the
invoice's gap-free number has moved on in between (R6: an increase is charged at once)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from abonnement.app import ChargeScope, charge_scope
from abonnement.payments.sandbox import SandboxProcessor
from abonnement.services import billing, invoices

from .billing_helpers import buy
from .conftest import World


class Crash(BaseException):
    """Stands for the process being killed: nothing catches it."""


class Deadlock(Exception):
    sqlstate = "40P01"


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every charge the sandbox processor is asked for: (idempotency key, description)."""
    seen: list[tuple[str, str]] = []
    real = SandboxProcessor.charge

    def charge(self: SandboxProcessor, request: Any) -> Any:
        seen.append((request.idempotency_key, request.description))
        return real(self, request)

    monkeypatch.setattr(SandboxProcessor, "charge", charge)
    return seen


def test_r6_a_purchase_sent_again_after_a_crash_is_asked_with_the_same_key(
    world: World, monkeypatch: pytest.MonkeyPatch, asked: list[tuple[str, str]]
) -> None:
    """The process dies after the processor took the purchase and before the commit (before
    the invoice's number was taken: that comes once the money has moved); another
    organization's purchase then takes the next number; the client sends the request again
    with its Idempotency-Key (the same charge scope)."""
    shop, other = world.org("Shop"), world.org("Other")
    real_collect = billing.collect
    numbers: list[str] = []

    def dies(ctx: Any, org: Any, invoice: Any, purpose: Any) -> Any:
        real_collect(ctx, org, invoice, purpose)
        numbers.append(invoice.number)
        raise Crash

    monkeypatch.setattr(billing, "collect", dies)
    request = charge_scope.set(ChargeScope("rq-shop-1"))
    try:
        with pytest.raises(Crash):
            buy(world, shop, quantity=5)
    finally:
        charge_scope.reset(request)
    monkeypatch.setattr(billing, "collect", real_collect)
    assert world.app.read(world.op, invoices.list_invoices, shop.id) == []  # all rolled back
    buy(world, other, quantity=1)  # takes the number the lost transaction had taken
    request = charge_scope.set(ChargeScope("rq-shop-1"))
    try:
        buy(world, shop, quantity=5)
    finally:
        charge_scope.reset(request)
    [invoice] = world.app.read(world.op, invoices.list_invoices, shop.id)
    assert numbers[0].startswith(billing.PROVISIONAL)  # no number was taken before the crash
    [elsewhere_invoice] = world.app.read(world.op, invoices.list_invoices, other.id)
    assert (elsewhere_invoice.number, invoice.number) == ("INV-000001", "INV-000002")
    first, elsewhere, again = asked
    assert again[0] == first[0]  # the processor was asked with the same key
    assert again[1] == first[1] == again[0].split(":")[1]  # and knows it by the request
    assert elsewhere[0] != first[0]


def test_a_use_case_retried_after_a_deadlock_asks_for_its_charge_with_the_same_key(
    world: World, monkeypatch: pytest.MonkeyPatch, asked: list[tuple[str, str]]
) -> None:
    """A deadlock reported after the processor took the charge: `Abonnement.run` rolls back and
    runs the use case again, which must ask for the same charge, not a second one."""
    shop = world.org("Shop")
    real_collect = billing.collect
    calls = {"n": 0}

    def deadlocks_once(ctx: Any, org: Any, invoice: Any, purpose: Any) -> Any:
        payment = real_collect(ctx, org, invoice, purpose)
        calls["n"] += 1
        if calls["n"] == 1:
            raise DBAPIError("UPDATE …", None, Deadlock("deadlock detected"))
        return payment

    monkeypatch.setattr(billing, "collect", deadlocks_once)
    buy(world, shop, quantity=5)
    assert calls["n"] == 2
    first, again = asked
    assert again == first
    [invoice] = world.app.read(world.op, invoices.list_invoices, shop.id)
    assert invoice.total > 0


def test_two_requests_are_two_charges_though_they_are_alike(
    world: World, asked: list[tuple[str, str]]
) -> None:
    """R6: two alike increases are two charges, with a scope each (without an Idempotency-Key
    every run of a use case has one of its own)."""
    shop = world.org("Shop")
    buy(world, shop, quantity=5)
    buy(world, shop, quantity=5)
    one, two = asked
    assert one[0] != two[0]
