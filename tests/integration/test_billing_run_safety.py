"""The billing run's mechanics on both databases: exactly once (rerunning the same instant, a run
that dies midway), one organization failing without stopping the others, who may run it and for
which organizations, and the batched path writing exactly what the one-by-one path writes."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from abonnement.app import Abonnement
from abonnement.clock import FixedClock
from abonnement.config import Settings
from abonnement.payments.sandbox import SandboxProcessor
from abonnement.services import (
    billing,
    billing_batch,
    billing_run,
    invoices,
    organizations,
    subscriptions,
)
from abonnement.store import models as m
from abonnement.store.db import make_engine

from .billing_helpers import (
    RENEWAL_DECLINES,
    at,
    bill,
    buy,
    counts,
    ledger_balances,
    move,
    receivable,
)
from .conftest import World, card


def test_rerunning_the_same_instant_does_nothing_new(world: World) -> None:
    app = world.app
    for name in ("Contoso", "Fabrikam"):
        org = world.org(name)
        buy(world, org, quantity=4)
        buy(world, org, "std-annual", 2)
    first = bill(app, date(2026, 4, 2))
    assert first.invoices == 2
    before = counts(app)
    again = bill(app, date(2026, 4, 2))
    assert (again.days, again.invoices, again.events) == (0, 0, {})
    assert counts(app) == before
    app.clock.set(at(date(2026, 4, 2), 21))  # type: ignore[attr-defined]
    assert bill(app).days == 0  # later the same day: nothing new either
    assert counts(app) == before


class Crash(BaseException):
    """Stands for the process being killed: nothing catches it."""


@pytest.mark.parametrize("batch", [0, 2], ids=["one_by_one", "batched"])
def test_a_run_that_dies_midway_is_finished_by_the_next_one_without_double_charges(
    world: World, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    """Killed after the processor took the third organization's renewal and before the commit
    (one by one), or after it took the second batch's (two organizations to a batch)."""
    app = world.app
    orgs = [world.org(f"Org{i}") for i in range(5)]
    for org in orgs:
        buy(world, org, quantity=3)
    module, name, fatal = (
        (billing, "statement", 3) if batch == 0 else (billing_batch, "write_statements", 2)
    )
    real = getattr(module, name)
    calls = {"n": 0}

    def dies(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)  # charged at the processor...
        calls["n"] += 1
        if calls["n"] == fatal:
            raise Crash  # ...and killed before the commit
        return result

    monkeypatch.setattr(module, name, dies)
    with pytest.raises(Crash):
        bill(app, date(2026, 4, 2), batch=batch)
    issued = [len(app.read(app.operator, invoices.list_invoices, o.id)) for o in orgs]
    assert issued == [2, 2, 1, 1, 1]
    monkeypatch.setattr(module, name, real)
    summary = bill(app, date(2026, 4, 2), batch=batch)
    assert (summary.days, summary.invoices) == (3, 3)
    for org in orgs:
        assert len(app.read(app.operator, invoices.list_invoices, org.id)) == 2
        assert receivable(app, org) == 0
        renewals = [
            p
            for p in app.read(app.operator, invoices.list_payments, org.id)
            if p.purpose == "renewal"
        ]
        assert [(p.status, p.amount) for p in renewals] == [("succeeded", 4538)]
    ledger_balances(app)
    assert bill(app, date(2026, 4, 2)).days == 0


@pytest.mark.parametrize("batch", [0, 2], ids=["one_by_one", "batched"])
def test_a_charge_taken_before_a_crash_is_asked_again_with_its_key_though_numbers_moved(
    world: World, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    """Exactly once at the processor. The run is killed after the processor took a renewal and
    before the commit; a purchase of another organization then takes the invoice number the
    lost transaction had used, so the rerun numbers that renewal's invoice differently. It
    must still ask the processor with the same idempotency key, or a real processor, which
    remembers the first charge while the engine's books lost it, would charge the card twice."""
    app = world.app
    orgs = [world.org(f"Org{i}") for i in range(5)]
    for org in orgs:
        buy(world, org, quantity=3)
    late = world.org("Late")
    asked: list[str] = []
    real_charge = SandboxProcessor.charge

    def charge(self: SandboxProcessor, request: Any) -> Any:
        if request.purpose.value == "renewal":
            asked.append(request.idempotency_key)
        return real_charge(self, request)

    monkeypatch.setattr(SandboxProcessor, "charge", charge)
    module, name, fatal = (
        (billing, "statement", 3) if batch == 0 else (billing_batch, "write_statements", 2)
    )
    real = getattr(module, name)
    calls = {"n": 0}

    def dies(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == fatal:
            raise Crash
        return result

    monkeypatch.setattr(module, name, dies)
    with pytest.raises(Crash):
        bill(app, date(2026, 4, 2), batch=batch)
    lost = len(asked) - 2  # two organizations were committed: the rest died with the crash
    assert lost >= 1
    buy(world, late, quantity=1)  # takes the number the lost transaction had taken
    purchase = app.read(app.operator, invoices.list_invoices, late.id)[0].number
    monkeypatch.setattr(module, name, real)
    assert bill(app, date(2026, 4, 2), batch=batch).invoices == 5 - 2
    renewed = [
        i.number
        for org in orgs
        for i in app.read(app.operator, invoices.list_invoices, org.id)
        if i.reason == "statement"
    ]
    assert len(renewed) == 5 and purchase < min(renewed[2:])  # the numbers moved
    assert len(set(asked)) == 5  # one key for each organization's renewal...
    assert len(asked) == 5 + lost  # ...asked twice for the lost ones
    for org in orgs:
        renewals = [
            p
            for p in app.read(app.operator, invoices.list_payments, org.id)
            if p.purpose == "renewal"
        ]
        assert [(p.status, p.amount) for p in renewals] == [("succeeded", 4538)]
    ledger_balances(app)


@pytest.mark.parametrize("batch", [0, 10], ids=["one_by_one", "batched"])
def test_one_organization_failing_does_not_stop_the_others(
    world: World, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    """A batch that fails is rolled back whole and its organizations go one by one, where the
    one that fails again is reported and the others are billed."""
    app = world.app
    orgs = [world.org(f"Org{i}") for i in range(3)]
    for org in orgs:
        buy(world, org, quantity=1)
    real_day, real_stage = billing_run.do_day, billing_batch._stage_day

    def fails_for_the_second(d: Any, *args: Any) -> int:
        if d.org.id == orgs[1].id:
            raise RuntimeError("the processor is down")
        return real_day(d, *args)

    def batch_fails_for_the_second(ctx: Any, org: Any, *args: Any) -> Any:
        if org.id == orgs[1].id:
            raise RuntimeError("the processor is down")
        return real_stage(ctx, org, *args)

    monkeypatch.setattr(billing_run, "do_day", fails_for_the_second)
    monkeypatch.setattr(billing_batch, "_stage_day", batch_fails_for_the_second)
    summary = bill(app, date(2026, 4, 2), batch=batch)
    assert [f.organization_id for f in summary.failed] == [orgs[1].id]
    assert "the processor is down" in summary.failed[0].error
    assert summary.invoices == 2
    monkeypatch.setattr(billing_run, "do_day", real_day)
    monkeypatch.setattr(billing_batch, "_stage_day", real_stage)
    summary = bill(app, date(2026, 4, 2), batch=batch)
    assert (summary.failed, summary.invoices) == ([], 1)


def test_the_run_is_for_the_operator_and_never_ahead_of_the_clock(world: World) -> None:
    from abonnement.domain.errors import AbonnementError

    app = world.app
    org = world.org()
    with pytest.raises(AbonnementError) as refused:
        app.run(org.admins["global_admin"], billing_run.run)
    assert refused.value.code.value == "permission_denied"
    with pytest.raises(AbonnementError) as refused:
        app.run(app.operator, billing_run.run, at(date(2026, 3, 3)))
    assert refused.value.context["field"] == "until"


def test_only_the_named_organization_is_billed(world: World) -> None:
    app = world.app
    one, other = world.org("One"), world.org("Other")
    buy(world, one)
    buy(world, other)
    summary = bill(app, date(2026, 4, 2), organization_id=other.id)
    assert summary.organizations == 1
    assert len(app.read(app.operator, invoices.list_invoices, one.id)) == 1
    assert len(app.read(app.operator, invoices.list_invoices, other.id)) == 2


# the batched path writes what the one-by-one path writes ----------------------------------------
def _twin(app: Abonnement) -> tuple[Abonnement, Any]:
    """A second database holding exactly what the app's holds now, and how to drop it."""
    url = app.settings.database_url
    app.engine.dispose()
    if url.startswith("sqlite"):
        source = url.removeprefix("sqlite:///")
        target = source.replace(".db", "-twin.db")
        shutil.copy(source, target)
        clock = FixedClock(app.clock.now())
        return Abonnement(Settings(database_url=f"sqlite:///{target}"), clock=clock), None
    name = make_url(url).database
    twin = f"{name}_twin"
    admin = make_engine(str(make_url(url).set(database="postgres")))
    with admin.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text(f'CREATE DATABASE "{twin}" TEMPLATE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text(f'DROP DATABASE IF EXISTS "{twin}" WITH (FORCE)'))
        admin.dispose()

    twin_url = make_url(url).set(database=twin).render_as_string(hide_password=False)
    return Abonnement(Settings(database_url=twin_url), clock=FixedClock(app.clock.now())), drop


def _contents(app: Abonnement) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in a form that does not depend on the order the rows were
    written in: a batch does one day of many organizations per transaction, the one-by-one
    path every day of one organization, so ids and invoice numbers (gap-free either way) are
    handed out in another order. Each is replaced by its rank in an order of facts (the
    organization, the day, then the id); ledger transactions by their first entry."""
    with app.engine.connect() as conn:
        data = {
            table.name: [
                dict(r._mapping) for r in conn.execute(select(table).order_by(*table.primary_key))
            ]
            for table in m.Base.metadata.sorted_tables
        }

    def ranks(table: str, *fields: str) -> dict[Any, int]:
        ordered = sorted(data[table], key=lambda r: (*(r[f] or 0 for f in fields), r["id"]))
        return {r["id"]: rank for rank, r in enumerate(ordered, start=1)}

    invoice = ranks("invoices", "organization_id", "issue_date", "created_at")
    number = {r["number"]: f"INV#{invoice[r['id']]}" for r in data["invoices"]}
    payment = ranks("payments", "billing_account_id", "created_at")
    audit = ranks("audit_log", "organization_id", "at")
    renames = {
        "invoices": {"id": invoice, "number": number},
        "invoice_lines": {"invoice_id": invoice},
        "payments": {"id": payment, "invoice_id": invoice, "refund_of_id": payment},
        "ledger_entries": {"invoice_id": invoice, "payment_id": payment},
        "dunning_cases": {"invoice_id": invoice},
        "audit_log": {"id": audit},
    }
    for table, fields in renames.items():
        for r in data[table]:
            for name, mapping in fields.items():
                if r[name] is not None:
                    r[name] = mapping[r[name]]
    # The processor's references stay as they are: a run's charges are known to the processor
    # by what they bill, not by the invoice number (billing.run_charge_reference), so both
    # paths must have asked with the same keys.
    line = ranks("invoice_lines", "invoice_id", "id")
    for r in data["invoice_lines"]:
        r["id"], r["reverses_id"] = line[r["id"]], line.get(r["reverses_id"])
    ledger = ranks("ledger_entries", "billing_account_id", "at")
    first: dict[str, int] = {}
    for r in sorted(data["ledger_entries"], key=lambda r: ledger[r["id"]]):
        r["id"] = ledger[r["id"]]
        r["transaction"] = first.setdefault(r["transaction"], r["id"])
    case = ranks("dunning_cases", "organization_id", "declined_on")
    for r in data["dunning_cases"]:
        r["id"] = case[r["id"]]
    for r in data["audit_log"]:
        if r["entity"] == "invoice":
            r["entity_id"] = number[r["entity_id"]]

    def text_of(value: str) -> str:
        value = re.sub(r"INV-\d+", lambda found: number[found.group()], value)
        value = re.sub(r"audit-(\d+)", lambda found: f"audit#{audit[int(found[1])]}", value)
        return re.sub(r"^(payment\.\w+:)(\d+)$", lambda f: f"{f[1]}#{payment[int(f[2])]}", value)

    for r in data["events"]:
        del r["id"]
        r["key"], r["subject_id"] = text_of(r["key"]), text_of(r["subject_id"])
        if r["type"].startswith("payment."):
            r["subject_id"] = str(payment[int(r["subject_id"])])
            r["payload"] = {**r["payload"], "id": payment[r["payload"]["id"]]}
        r["payload"] = {k: text_of(v) if isinstance(v, str) else v for k, v in r["payload"].items()}
    return {
        table: sorted(rows_of, key=lambda r: repr(sorted(r.items())))
        for table, rows_of in data.items()
    }


def _same(one: dict[str, list[Any]], many: dict[str, list[Any]]) -> None:
    for table, rows_one in one.items():
        rows_many = many[table]
        for a, b in zip(rows_one, rows_many, strict=False):
            assert dict(a) == dict(b), table
        assert len(rows_one) == len(rows_many), table


def test_the_batched_run_writes_exactly_what_the_one_by_one_run_writes(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Renewals and statements of many kinds (R6 increases, R7/R12 restatements, annual terms,
    a declined renewal and its dunning, a trial, an expiry and its lifecycle, a bank transfer
    left pending, an organization with nothing to bill), months of them in one run: the batch
    does the common days, hands the rest to the one-by-one path, and the two databases end up
    row for row the same: subscriptions, audit records, invoices, lines, ledger, payments,
    dunning cases, events and cursors."""
    app = world.app
    plain = world.org("Plain")
    buy(world, plain, quantity=4)
    buy(world, plain, "std-annual", 2)
    grows = world.org("Grows")
    grown = buy(world, grows, quantity=10)
    shrinks = world.org("Shrinks")
    shrunk = buy(world, shrinks, "basic-monthly", 20)
    declines = world.org("Declines", payment=None)
    app.run(
        app.operator,
        organizations.add_payment_method,
        declines.id,
        kind="card",
        **card(RENEWAL_DECLINES),
    )
    buy(world, declines, quantity=3)
    trial = world.org("Trial", payment=None)
    app.run(trial.admins["billing_admin"], subscriptions.buy, trial.id, "std-monthly", trial=True)
    ends = world.org("Ends")
    ending = buy(world, ends, quantity=5)
    app.run(ends.admins["billing_admin"], subscriptions.set_recurring_billing, ending, False)
    # Terms that end with recurring billing off after a change (R11): an increase leaves a
    # final invoice; a reduction a credit note whose credit outweighs the statement beside it
    # and goes back to the card (R13).
    ends_up = world.org("EndsUp")
    ending_up = buy(world, ends_up, quantity=5)
    buy(world, ends_up, "basic-monthly", 1)
    app.run(ends_up.admins["billing_admin"], subscriptions.set_recurring_billing, ending_up, False)
    ends_down = world.org("EndsDown")
    ending_down = buy(world, ends_down, "prem-monthly", 20)
    buy(world, ends_down, "basic-monthly", 1)
    app.run(
        ends_down.admins["billing_admin"], subscriptions.set_recurring_billing, ending_down, False
    )
    # A reduction so deep that the next statement is a credit note: refunded at once (R12, R13).
    plunges = world.org("Plunges")
    plunged = buy(world, plunges, "prem-monthly", 20)
    bank = world.org("Bank", payment="bank_account")
    buy(world, bank, "prem-monthly", 6)
    world.org("Idle")
    annual = world.org("Annual")
    raised = buy(world, annual, "std-annual", 10)
    move(app, date(2026, 3, 12))
    app.run(grows.admins["billing_admin"], subscriptions.set_quantity, grown, 14)
    app.run(annual.admins["billing_admin"], subscriptions.set_quantity, raised, 12)
    app.run(ends_up.admins["billing_admin"], subscriptions.set_quantity, ending_up, 9)
    move(app, date(2026, 3, 15))
    app.run(shrinks.admins["billing_admin"], subscriptions.set_quantity, shrunk, 12)
    app.run(ends_down.admins["billing_admin"], subscriptions.set_quantity, ending_down, 2)
    app.run(plunges.admins["billing_admin"], subscriptions.set_quantity, plunged, 1)

    staged = Counter[int]()
    staged_days = set[tuple[int, date]]()
    real_stage = billing_batch._stage_day

    def stage(ctx: Any, org: Any, day: date, *args: Any) -> Any:
        result = real_stage(ctx, org, day, *args)
        staged[org.id] += 1  # a day the batch did (not handed on)
        staged_days.add((org.id, day))
        return result

    monkeypatch.setattr(billing_batch, "_stage_day", stage)
    twin, drop = _twin(app)
    days = 0
    try:
        for day in (date(2026, 4, 2), date(2026, 7, 5), date(2026, 11, 3)):
            move(app, day)
            twin.clock.set(at(day))  # type: ignore[attr-defined]
            one = app.run(app.operator, billing_run.run, batch=0)
            many = twin.run(twin.operator, billing_run.run, batch=3)
            assert one == many
            days += one.days
            _same(_contents(app), _contents(twin))
        # The batch did the common days (the expiry too); dunning, the trial and the lifecycle
        # after the expiry went one by one.
        assert set(staged) == {
            plain.id,
            grows.id,
            shrinks.id,
            declines.id,
            ends.id,
            ends_up.id,
            ends_down.id,
            plunges.id,
            bank.id,
            annual.id,
        }
        assert 0 < sum(staged.values()) < days
        # The days the terms ended on, final invoice, credit note and refund, were batched.
        assert {
            (ends_up.id, date(2026, 4, 2)),
            (ends_down.id, date(2026, 4, 2)),
            (plunges.id, date(2026, 4, 2)),
        } <= staged_days
        with app.engine.connect() as conn:
            reasons = Counter(
                (row.organization_id, row.kind, row.reason)
                for row in conn.execute(select(m.Invoice).where(m.Invoice.reason != "purchase"))
            )
            refunds = conn.scalar(
                select(func.count())
                .select_from(m.Payment)
                .where(m.Payment.kind == "refund", m.Payment.status == "succeeded")
            )
        assert reasons[(ends_up.id, "invoice", "cancellation")] == 1
        assert reasons[(ends_down.id, "credit_note", "cancellation")] == 1
        with app.engine.connect() as conn:  # each final invoice is announced, as every invoice
            finals = set(
                conn.scalars(select(m.Invoice.number).where(m.Invoice.reason == "cancellation"))
            )
            announced = set(
                conn.scalars(select(m.Event.subject_id).where(m.Event.type == "invoice.issued"))
            )
        assert finals and finals <= announced
        assert reasons[(plunges.id, "credit_note", "statement")] == 1
        # EndsDown's credit is more than its newest charge: both purchases' charges; Plunges' one
        assert refunds == 3
    finally:
        twin.close()
        if drop is not None:
            drop()
