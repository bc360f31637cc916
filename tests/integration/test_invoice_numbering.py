"""The gap-free invoice number is taken once the invoice's money has moved, on both databases:
the counter is one row every invoice of the vendor locks until its transaction ends, so while
the payment processor is asked for a charge (a network call with a real processor) it must not
be held, or every purchase of every organization would wait for that call."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select, text

from abonnement.payments.sandbox import SandboxProcessor
from abonnement.services import billing, cancellation, invoices, subscriptions
from abonnement.store import models as m
from abonnement.store.uow import UnitOfWork

from .billing_helpers import bill, buy, move, rows, run_events
from .conftest import World


def _counter(world: World) -> int:
    with UnitOfWork(world.app.engine, read_only=True) as uow:
        return int(uow.session.scalar(select(m.InvoiceCounter.last_number)) or 0)


@pytest.fixture
def order(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What happened, in order: "charge" (the processor is asked), "number" (the counter is
    taken) and "commit"."""
    seen: list[str] = []
    charge, numbers, commit = SandboxProcessor.charge, billing._next_numbers, UnitOfWork.commit

    def charging(self: SandboxProcessor, request: Any) -> Any:
        seen.append("charge")
        return charge(self, request)

    def numbering(ctx: Any, count: int) -> list[str]:
        seen.append("number")
        return numbers(ctx, count)

    def committing(self: UnitOfWork) -> None:
        commit(self)
        seen.append("commit")

    monkeypatch.setattr(SandboxProcessor, "charge", charging)
    monkeypatch.setattr(billing, "_next_numbers", numbering)
    monkeypatch.setattr(UnitOfWork, "commit", committing)
    return seen


def charged_then_numbered(order: list[str]) -> list[str]:
    """What each transaction did, as "charge…number": the steps of each commit, in order."""
    done, step = [], []
    for what in order:
        if what == "commit":
            done.append(" ".join(step))
            step = []
        else:
            step.append(what)
    return [d for d in done if d]


def test_r6_the_number_is_taken_after_the_processor_took_the_charge(
    world: World, order: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The purchase's transaction asks the processor first and takes the number after; during
    the charge, on PostgreSQL, another transaction can lock the counter row at once (NOWAIT);
    afterwards the invoice, its audit record and the events name the same gap-free number."""
    shop = world.org("Shop")
    buy(world, shop, quantity=1)  # the counter row exists: INV-000001
    seen: list[dict[str, Any]] = []
    real = SandboxProcessor.charge
    postgres = world.app.engine.dialect.name == "postgresql"

    def charge(self: SandboxProcessor, request: Any) -> Any:
        probe: dict[str, Any] = {"description": request.description}
        if postgres:
            with world.app.engine.connect() as other:
                probe["locked_by_other"] = other.execute(
                    text("SELECT last_number FROM invoice_counter WHERE id = 1 FOR UPDATE NOWAIT")
                ).scalar_one()
                other.rollback()
        seen.append(probe)
        return real(self, request)

    monkeypatch.setattr(SandboxProcessor, "charge", charge)
    buy(world, shop, quantity=4)

    [probe] = seen
    assert charged_then_numbered(order) == ["charge number", "charge number"]
    assert not probe["description"].startswith(("INV-", billing.PROVISIONAL))
    if postgres:
        assert probe["locked_by_other"] == 1  # nobody held the counter row
    assert _counter(world) == 2
    numbers = [i.number for i in world.app.read(world.op, invoices.list_invoices, shop.id)]
    assert sorted(numbers) == ["INV-000001", "INV-000002"]
    audits = [a for a in rows(world.app, m.AuditRecord) if a.action == "invoice.issue"]
    assert [a.entity_id for a in audits] == ["INV-000001", "INV-000002"]
    announced = [
        (e.type, e.payload.get("invoice", e.payload.get("id")))
        for e in rows(world.app, m.Event, organization_id=shop.id)
        if e.type in ("invoice.issued", "payment.succeeded")
    ]
    assert announced == [  # the invoice first, then the payment that pays it, by its number
        ("invoice.issued", "INV-000001"),
        ("payment.succeeded", "INV-000001"),
        ("invoice.issued", "INV-000002"),
        ("payment.succeeded", "INV-000002"),
    ]


def test_a_purchase_does_not_wait_for_another_organizations_charge(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One organization's charge hangs at the processor; another organization buys meanwhile.
    On PostgreSQL the second purchase completes while the first still waits (nothing it needs
    is locked: not the counter); on SQLite, where a transaction that has written holds the
    whole database's write lock, it completes once the first is done. Both are numbered in the
    order they committed, without a gap."""
    first, second = world.org("First"), world.org("Second")
    hanging, released = threading.Event(), threading.Event()
    real = SandboxProcessor.charge

    def charge(self: SandboxProcessor, request: Any) -> Any:
        if threading.current_thread().name.startswith("first"):
            hanging.set()
            assert released.wait(30)
        return real(self, request)

    monkeypatch.setattr(SandboxProcessor, "charge", charge)
    postgres = world.app.engine.dialect.name == "postgresql"
    ga = first.admins["billing_admin"]
    with (
        ThreadPoolExecutor(1, thread_name_prefix="first") as one,
        ThreadPoolExecutor(1, thread_name_prefix="second") as two,
    ):
        slow = one.submit(world.app.run, ga, subscriptions.buy, first.id, "std-monthly", quantity=2)
        assert hanging.wait(30)
        fast = two.submit(buy, world, second, quantity=3)
        if postgres:
            fast.result(timeout=30)  # done while the first charge still hangs
            assert not slow.done()
        released.set()
        slow.result(timeout=30)
        fast.result(timeout=30)
    by_org = {
        org.id: [i.number for i in world.app.read(world.op, invoices.list_invoices, org.id)]
        for org in (first, second)
    }
    expected = ["INV-000002"], ["INV-000001"]  # the second committed first
    if not postgres:
        expected = ["INV-000001"], ["INV-000002"]
    assert (by_org[first.id], by_org[second.id]) == expected


def test_r6_a_preview_shows_the_next_numbers_without_taking_or_locking_the_counter(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A preview (the admin center asks for one as a total is typed) is rolled back: it shows
    the numbers its invoices would get if issued now, and neither moves the counter nor locks
    it while it works out the next statement (on PostgreSQL another transaction locks the row
    at once, NOWAIT)."""
    shop = world.org("Shop")
    sub_id = buy(world, shop, quantity=10)  # INV-000001
    ga = shop.admins["global_admin"]
    probes: list[int] = []
    real_statement = billing.statement
    postgres = world.app.engine.dialect.name == "postgresql"

    def statement(ctx: Any, org: Any, as_of: Any) -> Any:
        if postgres:
            with world.app.engine.connect() as other:
                probes.append(
                    other.execute(
                        text(
                            "SELECT last_number FROM invoice_counter WHERE id = 1 FOR UPDATE NOWAIT"
                        )
                    ).scalar_one()
                )
                other.rollback()
        return real_statement(ctx, org, as_of)

    monkeypatch.setattr(billing, "statement", statement)
    preview = world.app.read(ga, invoices.preview, shop.id, subscriptions.set_quantity, sub_id, 15)
    assert [i.number for i in preview.now] == ["INV-000002"]  # R6: the 5 are charged now
    assert preview.next_invoice is not None
    assert preview.next_invoice.number == "INV-000003"
    assert probes == ([1] if postgres else [])
    assert _counter(world) == 1
    world.app.run(ga, subscriptions.set_quantity, sub_id, 15)
    numbers = sorted(i.number for i in world.app.read(world.op, invoices.list_invoices, shop.id))
    assert numbers == ["INV-000001", "INV-000002"]  # the preview's number, now issued


def test_r9_a_switch_numbers_both_invoices_after_the_new_plans_charge(
    world: World, order: list[str]
) -> None:
    """A plan switch ends the wrong subscription (its final invoice) and buys the right one
    (charged at once) in one transaction: the counter is taken once, after that charge, and
    both invoices are numbered in the order they were issued."""
    shop = world.org("Shop")
    wrong = buy(world, shop, "basic-monthly", quantity=3)  # INV-000001
    ga = shop.admins["global_admin"]
    world.app.run(ga, cancellation.switch_plan, wrong, "prem-monthly")
    steps = charged_then_numbered(order)
    assert steps[-1] == "charge number"  # not "number charge number"
    listed = world.app.read(world.op, invoices.list_invoices, shop.id)
    assert sorted((i.number, i.reason) for i in listed) == [
        ("INV-000001", "purchase"),
        ("INV-000002", "switch"),  # the wrong plan's final invoice, issued first
        ("INV-000003", "purchase"),  # the right plan's first period
    ]


def test_an_organization_day_of_the_billing_run_numbers_after_all_its_charges(
    world: World, order: list[str]
) -> None:
    """R14 and the statement on one day of one organization (its trial converts, charged, and
    its paid subscription's statement is charged): the day's transaction asks the processor
    for both, then takes both numbers, in the order the invoices were issued."""
    app = world.app
    move(app, date(2026, 3, 1))
    org = world.org()
    ba = org.admins["billing_admin"]
    app.run(ba, subscriptions.buy, org.id, "std-monthly", quantity=3)  # INV-000001
    move(app, date(2026, 3, 2))
    app.run(ba, subscriptions.buy, org.id, "std-monthly", trial=True)  # ends 1 April
    order.clear()
    bill(app, date(2026, 4, 1))  # the paid one's statement falls on 1 April too
    assert "charge charge number" in charged_then_numbered(order)
    assert not [steps for steps in charged_then_numbered(order) if "number charge" in steps]
    listed = app.read(app.operator, invoices.list_invoices, org.id)
    assert sorted((i.number, i.reason) for i in listed) == [
        ("INV-000001", "purchase"),
        ("INV-000002", "purchase"),  # the trial's first paid period, issued first
        ("INV-000003", "statement"),
    ]
    announced = [e.subject_id for e in run_events(app, organization_id=org.id)]
    assert [n for n in announced if n.startswith("INV-")] == ["INV-000002", "INV-000003"]


def test_an_organization_that_fails_leaves_no_number_or_record_to_the_next(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The billing run goes on after an organization's day fails (it is rolled back and
    reported): what that day's transaction kept for its end (an invoice still to number, the
    event of its payment) is forgotten with it, so the next organization's invoice takes the
    next number, without a gap, and nothing names the lost invoice or payment."""
    app = world.app
    first, second = world.org("First"), world.org("Second")
    for org in (first, second):  # trials go one by one; both end on 1 April
        app.run(org.admins["billing_admin"], subscriptions.buy, org.id, "std-monthly", trial=True)
    real = billing.collect

    def fails_for_the_first(ctx: Any, org: Any, invoice: Any, purpose: Any) -> Any:
        payment = real(ctx, org, invoice, purpose)
        if org.id == first.id:
            raise RuntimeError("the processor's answer was lost")
        return payment

    monkeypatch.setattr(billing, "collect", fails_for_the_first)
    summary = bill(app, date(2026, 4, 1))
    assert [f.organization_id for f in summary.failed] == [first.id]
    assert app.read(world.op, invoices.list_invoices, first.id) == []
    [invoice] = app.read(world.op, invoices.list_invoices, second.id)
    assert invoice.number == "INV-000001"
    audited = [a.entity_id for a in rows(app, m.AuditRecord) if a.entity == "invoice"]
    assert audited == ["INV-000001"]
    payments = {str(p.id) for p in rows(app, m.Payment)}
    announced = [e for e in rows(app, m.Event) if e.type.startswith("payment.")]
    assert announced and {e.subject_id for e in announced} <= payments
    assert all(e.organization_id == second.id for e in announced)
