"""The audit trail, localized refusals (R16), and the migrations matching the models."""

from __future__ import annotations

from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from abonnement.i18n import localize_error
from abonnement.services import (
    audit,
    cancellation,
    invoices,
    licensing,
    organizations,
    subscriptions,
)
from abonnement.store import models as m
from abonnement.store.models import Base

from .conftest import World, card, refused


def test_every_change_leaves_who_what_when_before_and_after(world: World) -> None:
    app = world.app
    org = world.org()
    ba = org.admins["billing_admin"]
    sub = app.run(ba, subscriptions.buy, org.id, "std-monthly", quantity=100)
    app.run(ba, subscriptions.set_quantity, sub.id, 105)
    [record] = [
        r
        for r in app.read(ba, audit.list_records, org.id)
        if r.action == "subscription.quantity.buy"
    ]
    assert record.actor.startswith("billing_admin.") and record.actor.endswith(".example")
    assert (record.entity, record.entity_id) == ("subscription", str(sub.id))
    assert record.before is not None and record.after is not None
    assert (record.before["quantity"], record.after["quantity"]) == (100, 105)
    assert record.at == app.clock.now()


def test_a_refusal_writes_no_audit_record_and_nothing_else(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=3)
    app.run(ga, licensing.assign, org.id, "BUS-STD", world.people(org, 3))
    before = app.read(app.operator, audit.list_records, org.id, 1000)
    refused(app.run, ga, subscriptions.set_quantity, sub.id, 2)
    assert app.read(app.operator, audit.list_records, org.id, 1000) == before


def test_r16_a_refusal_reads_in_the_callers_language(world: World) -> None:
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    sub = app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=15)
    app.run(ga, licensing.assign, org.id, "BUS-STD", world.people(org, 12))
    err = refused(app.run, ga, subscriptions.set_quantity, sub.id, 10)
    texts = {loc: localize_error(err.code, err.context, loc) for loc in ("en", "nb", "nl", "da")}
    assert len({message for message, _ in texts.values()}) == 4
    for message, remedy in texts.values():
        assert "12" in message and "10" in message
        assert remedy
    assert "lisens" in texts["nb"][0].lower()
    assert "licentie" in texts["nl"][0].lower()
    assert "licens" in texts["da"][0].lower()


def test_migrations_build_exactly_the_models(app) -> None:  # type: ignore[no-untyped-def]
    with app.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_the_embedded_sqlite_file_runs_in_wal_mode_with_foreign_keys(app) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    if app.engine.dialect.name != "sqlite":
        assert app.engine.dialect.name == "postgresql"
        return
    with app.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_an_audited_change_and_its_event_are_written_together(world: World) -> None:
    """Each announced change leaves its audit record and, beside it, its event, whose key names
    the record (on PostgreSQL both rows are one statement, elsewhere two): the same rows on
    both databases, nulls included."""
    app = world.app
    org = world.org()
    ga = org.admins["global_admin"]
    app.run(ga, subscriptions.buy, org.id, "std-monthly", quantity=3)
    [person] = world.people(org, 1)
    app.run(ga, licensing.assign, org.id, "BUS-STD", [person])
    app.run(ga, licensing.unassign, org.id, "BUS-STD", [person])
    with app.engine.connect() as connection:
        records = connection.execute(
            select(m.AuditRecord.id, m.AuditRecord.action, m.AuditRecord.before)
            .where(m.AuditRecord.organization_id == org.id)
            .order_by(m.AuditRecord.id)
        ).all()
        found = connection.execute(
            select(m.Event.key, m.Event.payload)
            .where(m.Event.organization_id == org.id)
            .order_by(m.Event.id)
        ).all()
    by_action = {action: (record_id, before) for record_id, action, before in records}
    assign_id, assign_before = by_action["license.assign"]
    unassign_id, unassign_before = by_action["license.unassign"]
    assert assign_before is None and unassign_before == {"user_ids": [person]}
    keys = {key: payload for key, payload in found}
    assigned = keys[f"license.assigned:BUS-STD:audit-{assign_id}"]
    removed = keys[f"license.unassigned:BUS-STD:audit-{unassign_id}"]
    assert assigned["user_ids"] == [person] and "previous" not in assigned
    assert removed["previous"] == {"user_ids": [person]} and removed["actor"] == "user"
    record_ids = {record_id for record_id, _, _ in records}
    assert all(int(key.rpartition("-")[2]) in record_ids for key in keys if ":audit-" in key)


def test_r13_every_change_to_what_billing_reads_leaves_an_audit_record(
    world: World, unaudited_writes: list[set[str]]
) -> None:
    """What the demo does not cover of the use cases that change what a billing day reads
    (payment methods, the billing account, an operator's statement that only refunds credit,
    R13): each leaves an audit record in its transaction, so a billing batch that read apart
    from SQLite's write lock sees the change (`billing_batch._changed`)."""
    app = world.app
    org = world.org("Audited")
    ba = org.admins["billing_admin"]
    sub_id = app.run(ba, subscriptions.buy, org.id, "std-monthly", quantity=10).id
    second = app.run(ba, organizations.add_payment_method, org.id, kind="card", **card()).id
    app.run(ba, organizations.set_default_payment_method, second)
    first = next(
        pm.id for pm in app.read(ba, organizations.list_payment_methods, org.id) if pm.id != second
    )
    app.run(ba, organizations.set_backup_payment_method, first)
    app.run(ba, invoices.update_billing_account, org.id, bill_to_name="Audited BV")
    app.run(app.operator, invoices.update_billing_account, org.id, tax_rate_bp=2100)
    app.run(ba, subscriptions.set_quantity, sub_id, 6)  # the credit waits for the statement
    app.clock.set(app.clock.now() + timedelta(days=3))  # type: ignore[attr-defined]
    app.run(ba, cancellation.cancel, sub_id)
    app.run(app.operator, invoices.run_statement, org.id)  # refunds the credit, issues nothing
    refunds = [p for p in app.read(ba, invoices.list_payments, org.id) if p.kind == "refund"]
    assert refunds
    app.run(ba, organizations.remove_payment_method, second)
    assert unaudited_writes == []
    logged = {r.action for r in app.read(app.operator, audit.list_records, org.id)}
    assert "credit.refund" in logged
