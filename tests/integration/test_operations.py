"""The operator's overview: organizations with their subscriptions by status, and the billing
runs' days (events and invoices on each organization's own calendar day). Operator only."""

from __future__ import annotations

from datetime import date

from abonnement.domain.errors import Code
from abonnement.services import cancellation, clocks, operations, subscriptions

from .conftest import World, refused


def test_organizations_are_counted_by_subscription_status(world: World) -> None:
    app = world.app
    org, empty = world.org(), world.org("Empty")
    ga = org.admins["global_admin"]
    keep = app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=4)
    gone = app.run(ga, subscriptions.buy, org.id, "basic-monthly", quantity=2)
    app.run(ga, cancellation.cancel, gone.id)
    rows = {r.id: r for r in app.read(world.op, operations.organizations_overview)}
    assert rows[org.id].subscriptions == 2
    assert rows[org.id].statuses == {"active": 1, "disabled": 1}
    assert rows[org.id].licenses == keep.quantity
    assert (rows[empty.id].subscriptions, rows[empty.id].statuses) == (0, {})
    for role in ("global_admin", "billing_admin", "global_reader"):
        err = refused(app.read, org.admins[role], operations.organizations_overview)
        assert err.code is Code.PERMISSION_DENIED
        err = refused(app.read, org.admins[role], operations.billing_runs)
        assert err.code is Code.PERMISSION_DENIED


def test_billing_days_count_the_events_and_invoices_of_each_day(world: World) -> None:
    app = world.app
    org = world.org()
    app.run(world.op, clocks.attach, org.id)
    start = app.read(world.op, clocks.show, org.id).now.date()
    app.run(org.admins["billing_admin"], subscriptions.buy, org.id, "std-monthly", quantity=3)
    app.run(world.op, clocks.advance, org.id, days=40)
    runs = app.read(world.op, operations.billing_runs, 30)
    by_day = {d.day: d for d in runs.days}
    first = by_day[start]
    assert first.invoices == 1 and first.events["subscription.created"] == 1
    assert first.events["invoice.issued"] == 1
    renewals = [d for d in runs.days if d.day > start and d.invoices]
    assert renewals, "the renewal a month later issued an invoice"
    assert all(d.events.get("invoice.issued", 0) >= d.invoices for d in renewals)
    assert [d.day for d in runs.days] == sorted(by_day, reverse=True)
    (cursor,) = [c for c in runs.cursors if c.organization_id == org.id]
    assert cursor.processed_through >= date.fromordinal(start.toordinal() + 39)
    assert len(app.read(world.op, operations.billing_runs, 1).days) == 1
