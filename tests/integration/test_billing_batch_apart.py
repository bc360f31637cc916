"""The billing batch reads apart from SQLite's write lock and checks, once it holds it, that what
it read has not changed; on PostgreSQL it holds row locks. Either way a change an admin makes
while the run works out a day is never billed from stale rows: the outcome is that of the order
in which the two committed."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from abonnement.services import billing_batch, catalog, invoices, subscriptions
from abonnement.services.billing_batch import _changed, _Seen
from abonnement.store import models as m
from abonnement.store.uow import UnitOfWork

from .billing_helpers import bill, buy, move, sub_of
from .conftest import World


def test_r8_recurring_billing_turned_off_while_the_run_stages_the_day_is_respected(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R8 (recurring billing off: the subscription ends at the end of its term). An admin turns
    recurring billing off on the renewal day, after the run has read the subscription and
    while it works out the day. On SQLite the change commits at once (the run holds no lock
    while it stages) and the run, finding a newer audit record of the organization under the
    lock, stages again: the subscription expires, nothing is charged. On PostgreSQL the change
    waits for the run's row lock: the run renews and charges, then the change lands."""
    app = world.app
    org = world.org()
    sub_id = buy(world, org)
    admin = org.admins["billing_admin"]
    move(app, date(2026, 4, 2))
    changed = threading.Event()
    order: list[str] = []

    def turn_off() -> None:
        app.run(admin, subscriptions.set_recurring_billing, sub_id, False)
        order.append("change")
        changed.set()

    real_stage, real_write = billing_batch._stage_pass, billing_batch._write
    thread: threading.Thread | None = None

    def stage(ctx: Any, orgs: Any, until: Any) -> Any:
        nonlocal thread
        staged = real_stage(ctx, orgs, until)
        if thread is None:  # the first pass has read and staged: the admin acts now
            thread = threading.Thread(target=turn_off)
            thread.start()
            changed.wait(timeout=1.0)  # at once on SQLite; on PostgreSQL it waits for the run
        return staged

    def write(*args: Any) -> None:
        order.append("run")
        real_write(*args)

    monkeypatch.setattr(billing_batch, "_stage_pass", stage)
    monkeypatch.setattr(billing_batch, "_write", write)
    summary = bill(app)
    assert thread is not None
    thread.join(timeout=30)
    assert not thread.is_alive()
    sub = sub_of(app, sub_id)
    assert sub.recurring_billing is False
    issued = app.read(app.operator, invoices.list_invoices, org.id)
    if order == ["change", "run"]:
        assert app.engine.dialect.name == "sqlite"  # PostgreSQL's row lock makes the change wait
        assert sub.status.value == "expired" and sub.term_end == date(2026, 4, 2)
        assert [i.reason for i in issued] == ["purchase"]
        assert summary.invoices == 0
    else:
        assert order == ["run", "change"]
        assert sub.status.value == "active" and sub.term_end == date(2026, 5, 2)
        assert [i.reason for i in issued] == ["purchase", "statement"]


def test_a_pass_read_apart_sees_a_change_by_its_audit_record_or_its_cursor(
    world: World,
) -> None:
    """What `_changed` takes for a change since a pass read: a newer audit record of one of its
    organizations, or of none (the catalog); a cursor that moved or appeared. A newer record of
    another organization is not one."""
    app = world.app
    ours, other = world.org("Ours"), world.org("Other")
    buy(world, ours)
    buy(world, other)
    with UnitOfWork(app.engine, read_only=True) as uow:
        last = uow.session.scalar(select(m.AuditRecord.id).order_by(m.AuditRecord.id.desc()))
    assert last is not None
    seen = _Seen(last, {ours.id: None})

    def changed() -> bool:
        with UnitOfWork(app.engine) as uow:
            return _changed(uow.session, seen)

    assert not changed()
    buy(world, other)  # another organization's change
    assert not changed()
    bill(app, date(2026, 4, 2), organization_id=other.id)
    assert not changed()
    buy(world, ours)
    assert changed()
    with UnitOfWork(app.engine, read_only=True) as uow:
        last = uow.session.scalar(select(m.AuditRecord.id).order_by(m.AuditRecord.id.desc()))
    assert last is not None
    seen = _Seen(last, {ours.id: None})
    assert not changed()
    with app.engine.begin() as conn:  # a cursor moves without an audit record (a quiet day)
        conn.execute(
            m.BillingCursor.__table__.insert().values(
                organization_id=ours.id,
                processed_through=date(2026, 3, 5),
                updated_at=app.clock.now(),
            )
        )
    assert changed()
    seen = _Seen(last, {ours.id: date(2026, 3, 5)})
    assert not changed()
    app.run(app.operator, catalog.create_product, "BUS-X", "Business X", [("EXO", "Exchange")])
    assert changed()
