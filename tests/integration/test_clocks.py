"""Test clocks on both databases: attached to one organization, read by every use case for it,
advanced with everything due run in between, in order; and the `clock` and `bill` commands,
including `bill` in real processes killed at random points."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime
from time import sleep

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from abonnement.app import Abonnement
from abonnement.cli.main import app as cli_app
from abonnement.domain.errors import AbonnementError
from abonnement.services import billing_run, clocks, invoices, organizations, subscriptions
from abonnement.store import models as m
from abonnement.store.db import make_engine

from .billing_helpers import (
    RENEWAL_DECLINES,
    at,
    bill,
    buy,
    events,
    ledger_balances,
    local,
    move,
    receivable,
    rows,
    run_events,
    statement_lines,
    sub_of,
)
from .conftest import Org, World, card


def attach(app: Abonnement, org: Org, day: date = date(2026, 3, 2)) -> clocks.ClockView:
    return app.run(app.operator, clocks.attach, org.id, at(day))


def refused(app: Abonnement, use_case: object, *args: object, **kwargs: object) -> AbonnementError:
    with pytest.raises(AbonnementError) as info:
        app.run(app.operator, use_case, *args, **kwargs)  # type: ignore[arg-type]
    return info.value


def test_every_use_case_of_the_organization_reads_its_test_clock(world: World) -> None:
    app = world.app
    org, other = world.org("Contoso"), world.org("Fabrikam")
    attach(app, org)
    move(app, date(2026, 3, 20))  # the system clock goes on; the test clock stands still
    ba = org.admins["billing_admin"]
    mine = app.run(ba, subscriptions.buy, org.id, "std-monthly", quantity=2)
    theirs = app.run(
        other.admins["billing_admin"], subscriptions.buy, other.id, "std-monthly", quantity=2
    )
    assert (mine.term_start, theirs.term_start) == (date(2026, 3, 2), date(2026, 3, 20))
    [invoice] = app.read(ba, invoices.list_invoices, org.id)
    assert invoice.issue_date == date(2026, 3, 2)


def test_a_test_clock_advanced_14_months_over_a_mid_period_change_gives_the_invoices(
    world: World,
) -> None:
    app = world.app
    org = world.org()
    ba = org.admins["billing_admin"]
    attach(app, org)
    sub = app.run(ba, subscriptions.buy, org.id, "std-monthly", quantity=100)
    moved = app.run(app.operator, clocks.advance, org.id, days=10)  # 12 March
    assert (moved.days, moved.clock.today) == (0, date(2026, 3, 12))
    app.run(ba, subscriptions.set_quantity, sub.id, 105)  # R6: 5 × €12.50 × 21/31 now
    # The plain billing run leaves the organization to its clock.
    assert app.run(app.operator, billing_run.run).skipped_test_clocks == [org.id]

    result = app.run(app.operator, clocks.advance, org.id, to=date(2027, 5, 2))
    assert (result.days, result.invoices) == (14, 14)
    assert result.events == {"invoice.issued": 14, "subscription.renewed": 14}
    assert result.clock.now == datetime(2027, 5, 1, 22, 0, tzinfo=UTC)  # midnight in Amsterdam
    issued = app.read(ba, invoices.list_invoices, org.id)
    assert [i.reason for i in issued] == ["purchase", "change"] + ["statement"] * 14
    purchase, change, april, *later = issued
    assert statement_lines(purchase) == [("charge", "2026-03-02", "2026-04-02", 100, 125000)]
    assert statement_lines(change) == [("charge", "2026-03-12", "2026-04-02", 5, 4234)]
    assert statement_lines(april) == [  # R7, as hand-checked in test_money
        ("reversal", "2026-03-02", "2026-04-02", 100, -125000),
        ("reversal", "2026-03-12", "2026-04-02", 5, -4234),
        ("charge", "2026-03-02", "2026-03-12", 100, 40323),
        ("charge", "2026-03-12", "2026-04-02", 105, 88911),
        ("charge", "2026-04-02", "2026-05-02", 105, 131250),
    ]
    months = [(2026, m) for m in range(5, 13)] + [(2027, m) for m in range(1, 6)]
    assert [i.issue_date for i in later] == [date(y, mo, 2) for y, mo in months]
    for invoice in later:
        [(kind, _start, _end, quantity, amount)] = statement_lines(invoice)
        assert (kind, quantity, amount) == ("charge", 105, 131250)
    assert app.read(ba, invoices.balance, org.id).receivable == 0
    assert sub_of(app, sub.id).term_end == date(2027, 6, 2)
    # Done is done: the same target again, and the system run, change nothing.
    assert app.run(app.operator, clocks.advance, org.id, days=0).days == 0


def test_advancing_runs_what_is_due_in_order(world: World) -> None:
    app = world.app
    org = world.org(payment=None)
    attach(app, org)
    trial = app.run(
        org.admins["billing_admin"], subscriptions.buy, org.id, "std-monthly", trial=True
    )
    result = app.run(app.operator, clocks.advance, org.id, days=200)
    assert result.days == 3
    assert sub_of(app, trial.id).status.value == "deleted"
    assert events(app, org.id) == [
        "subscription.trial_expired",
        "subscription.disabled",
        "subscription.deleted",
    ]
    dates = [e.payload["date"] for e in run_events(app)]
    assert dates == ["2026-04-01", "2026-05-01", "2026-07-30"]


def test_attach_advance_and_detach_are_guarded(world: World) -> None:
    app = world.app
    org = world.org()
    assert refused(app, clocks.show, org.id).code.value == "not_found"
    attach(app, org)
    assert refused(app, clocks.attach, org.id).context["field"] == "organization"
    assert refused(app, clocks.advance, org.id).context["field"] == "days"
    assert refused(app, clocks.advance, org.id, days=-1).context["field"] == "days"
    assert refused(app, clocks.advance, org.id, to=date(2026, 3, 1)).context["field"] == "to"
    assert refused(app, billing_run.run, None, org.id).context["field"] == "organization"
    with pytest.raises(AbonnementError):
        app.run(org.admins["global_admin"], clocks.advance, org.id, days=1)
    app.run(app.operator, clocks.advance, org.id, to=date(2026, 4, 2))
    detached = app.run(app.operator, clocks.detach, org.id)
    assert (detached.attached, detached.billed_through) == (False, date(2026, 4, 2))
    # Back on the system clock (2 March): what the test clock did is not done again, and a new
    # clock cannot start before the days already billed.
    assert app.run(app.operator, billing_run.run).days == 0
    assert refused(app, clocks.attach, org.id, at(date(2026, 3, 20))).context["field"] == "at"


# the commands -----------------------------------------------------------------------------------
def cli(database_url: str, *args: str) -> Result:
    env = {"ABONNEMENT_DATABASE_URL": database_url, "ABONNEMENT_LOCALE": None, "COLUMNS": "200"}
    return CliRunner().invoke(cli_app, list(args), env=env)  # type: ignore[arg-type]


def test_the_clock_and_bill_commands(world: World, database_url: str) -> None:
    app = world.app
    org = world.org()
    app.run(org.admins["billing_admin"], subscriptions.buy, org.id, "std-monthly", quantity=3)
    ok = cli(database_url, "clock", "attach", str(org.id), "--at", "2026-03-02T09:00:00+00:00")
    assert ok.exit_code == 0, ok.output
    assert "Test clock of organization" in ok.output
    moved = cli(database_url, "--json", "clock", "advance", str(org.id), "--days", "31")
    assert moved.exit_code == 0, moved.output
    view = json.loads(moved.stdout)
    assert (view["days"], view["invoices"], view["clock"]["today"]) == (1, 1, "2026-04-02")
    moved = cli(database_url, "clock", "advance", str(org.id), "--to", "2026-05-02")
    assert moved.exit_code == 0 and "1 invoices" in moved.output, moved.output
    shown = json.loads(cli(database_url, "--json", "clock", "show", str(org.id)).stdout)
    assert shown["billed_through"] == "2026-05-02"
    billed = cli(database_url, "bill")
    assert billed.exit_code == 0 and "Billed up to" in billed.output, billed.output
    assert str(org.id) in billed.output  # named as on a test clock
    summary = json.loads(cli(database_url, "--json", "bill").stdout)
    assert summary["skipped_test_clocks"] == [org.id] and summary["failed"] == []
    bad = cli(database_url, "bill", "--until", "yesterday")
    assert bad.exit_code == 2 and "until" in bad.output
    assert cli(database_url, "clock", "detach", str(org.id)).exit_code == 0
    assert cli(database_url, "clock", "show", str(org.id)).exit_code == 1
    kinds = Counter(events(app, org.id))
    assert kinds == {"invoice.issued": 2, "subscription.renewed": 2}


def test_bill_with_workers_and_partitions_shares_the_run_without_overlap(
    world: World, database_url: str
) -> None:
    app = world.app
    orgs = [world.org(f"Org{i}") for i in range(5)]
    for org in orgs:
        app.run(org.admins["billing_admin"], subscriptions.buy, org.id, "std-monthly", quantity=2)
    until = "2026-05-02T12:00:00+00:00"
    move(app, date(2026, 4, 2))
    halves = [app.run(app.operator, billing_run.run, partition=(k, 2)) for k in (0, 1)]
    assert sorted(h.organizations for h in halves) == [2, 3]
    assert sum(h.invoices for h in halves) == 5
    result = cli(database_url, "--json", "bill", "--workers", "2", "--until", until)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["organizations"], summary["days"], summary["invoices"]) == (5, 5, 5)  # May
    again = json.loads(cli(database_url, "--json", "bill", "--until", until).stdout)
    assert (again["days"], again["invoices"]) == (0, 0)
    said = cli(database_url, "bill", "--until", until).stdout  # a rerun says it did nothing
    assert "0 days, 0 invoices; events: none." in " ".join(said.split())
    for org in orgs:
        issued = app.read(app.operator, invoices.list_invoices, org.id)
        assert [i.issue_date.month for i in issued] == [3, 4, 5]
    assert cli(database_url, "bill", "--partition", "2/2").exit_code == 2


# kill -9 ----------------------------------------------------------------------------------------
def test_real_runs_killed_at_random_points_lose_and_repeat_nothing(
    world: World, database_url: str
) -> None:
    """`abonnement bill` in a real process, SIGKILLed at random moments (after a random number
    of committed events, so mid-transaction as often as between), again and again; then one run
    is let finish. The ledger balances and every organization has exactly what one clean run
    gives it: renewals charged once, the dunning schedule followed once."""
    app = world.app
    healthy = [world.org(f"Org{i}") for i in range(10)]
    dunned = world.org("Dunned", payment=None)
    app.run(
        app.operator,
        organizations.add_payment_method,
        dunned.id,
        kind="card",
        **card(RENEWAL_DECLINES),
    )
    for org in [*healthy, dunned]:
        buy(world, org, "std-monthly", 3)
        buy(world, org, "std-annual", 2)
    # A term that ends with recurring billing off after a reduction (R11, R12): the final
    # credit note outweighs the statement beside it, and the credit goes back to the cards (R13).
    ending = world.org("Ending")
    ends = buy(world, ending, "prem-monthly", 20)
    buy(world, ending, "basic-monthly", 1)
    admin = ending.admins["billing_admin"]
    app.run(admin, subscriptions.set_recurring_billing, ends, False)
    move(app, date(2026, 3, 15))
    app.run(admin, subscriptions.set_quantity, ends, 2)
    until = "2026-10-02T12:00:00+00:00"  # in the past: the run refuses the future
    command = [sys.executable, "-c", "from abonnement.cli.main import app; app()"]
    env = {**os.environ, "ABONNEMENT_DATABASE_URL": database_url, "ABONNEMENT_LOCALE": "en"}
    probe = make_engine(database_url).execution_options(sqlite_begin="DEFERRED")
    rng = random.Random(20260302)

    def committed_events() -> int:
        with probe.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(m.Event)) or 0)

    kills = 0
    for _attempt in range(40):
        run = subprocess.Popen(
            [*command, "--json", "bill", "--until", until],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        if kills < 8:
            target = committed_events() + rng.randint(1, 8)
            while run.poll() is None and committed_events() < target:
                sleep(rng.uniform(0.0, 0.005))
            if run.poll() is None:
                run.send_signal(signal.SIGKILL)
                run.communicate()
                kills += 1
                continue
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err.decode()
        assert json.loads(out)["failed"] == []
        break
    probe.dispose()
    assert kills >= 3
    ledger_balances(app)
    for org in healthy:
        issued = app.read(app.operator, invoices.list_invoices, org.id)
        assert [(i.issue_date.year, i.issue_date.month) for i in issued] == [(2026, 3)] * 2 + [
            (2026 + (month > 12), (month - 1) % 12 + 1) for month in range(4, 11)
        ]
        charges = [
            p for p in app.read(app.operator, invoices.list_payments, org.id) if p.kind == "charge"
        ]
        assert [(p.purpose, p.status) for p in charges] == [("purchase", "succeeded")] * 2 + [
            ("renewal", "succeeded")
        ] * 7
        assert receivable(app, org) == 0
        assert Counter(events(app, org.id)) == {"subscription.renewed": 7, "invoice.issued": 7}
    declined = rows(app, m.Payment, status="declined")
    assert [local(p.created_at).isoformat() for p in declined] == [
        "2026-04-02",
        "2026-04-03",
        "2026-04-05",
        "2026-04-09",
        "2026-04-16",
        "2026-05-02",
    ]
    assert Counter(events(app, dunned.id)) == {
        "subscription.renewed": 1,
        "invoice.issued": 1,
        "invoice.payment_failed": 1,
        "invoice.payment_retry_failed": 5,
        "subscription.disabled": 1,
        "subscription.deleted": 1,
    }
    finals = [
        i
        for i in app.read(app.operator, invoices.list_invoices, ending.id)
        if i.kind == "credit_note"
    ]
    assert len(finals) == 1 and finals[0].issue_date == date(2026, 4, 2)
    refunds = [
        p for p in app.read(app.operator, invoices.list_payments, ending.id) if p.kind == "refund"
    ]
    assert [p.status for p in refunds] == ["succeeded"] * 2
    assert receivable(app, ending) == 0
    happened = Counter(events(app, ending.id))
    assert (happened["credit.refunded"], happened["subscription.expired"]) == (2, 1)
    # No money moved twice: every succeeded charge and refund has its own processor reference.
    refs = [p.processor_ref for p in rows(app, m.Payment, status="succeeded")]
    assert len(refs) == len(set(refs))
    assert bill(app, date(2026, 10, 2)).days == 0
