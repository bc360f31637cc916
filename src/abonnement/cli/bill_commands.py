"""`abonnement bill` (the billing run) and `abonnement clock` (test clocks).

    abonnement bill [--until 2026-04-02T00:00:00+02:00] [--organization 3]
    abonnement bill --workers 4 [--partition 0/2]     # 4 processes; this machine's half
    abonnement clock attach 3 [--at 2026-03-02T09:00:00+01:00]
    abonnement clock advance 3 --days 30 | --to 2027-05-02
    abonnement clock show 3
    abonnement clock detach 3

On a terminal the billing run shows a progress bar (count, rate, time left); otherwise, and with
--json, it prints only its summary.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from queue import Empty
from typing import Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from abonnement.app import Abonnement
from abonnement.cli import output as o
from abonnement.cli.session import _, current
from abonnement.config import Settings
from abonnement.domain.errors import N_, Code, error
from abonnement.services import billing_run, clocks
from abonnement.services.billing_run import RunSummary
from abonnement.services.clocks import AdvanceView, ClockView
from abonnement.services.context import invalid

clock = typer.Typer(
    help=N_("Test clocks: move one organization through time (renewals, trials, dunning)."),
    no_args_is_help=True,
)

ORG = typer.Argument(..., metavar="ORG", help=N_("Organization ID."))


def _instant(field: str, value: str) -> datetime:
    """An ISO 8601 moment; without a time zone it is UTC, a bare date its midnight in UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise invalid(
            field, "use an ISO 8601 date or time, e.g. 2026-04-02T00:00:00+02:00"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# -- bill -----------------------------------------------------------------------------------------
def _partition(value: str | None) -> tuple[int, int]:
    if value is None:
        return (0, 1)
    k, _slash, n = value.partition("/")
    try:
        part = (int(k), int(n))
    except ValueError:
        raise invalid("partition", "use K/N, e.g. 0/3 on the first of three machines") from None
    if not 0 <= part[0] < part[1]:
        raise invalid("partition", "use K/N with 0 <= K < N")
    return part


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=o.out(),
        transient=True,
    )


def bill(
    until: str | None = typer.Option(
        None,
        "--until",
        metavar="TIMESTAMP",
        help=N_("Bill up to this moment (ISO 8601; default: now)."),
    ),
    organization: int | None = typer.Option(
        None, "--organization", metavar="ID", help=N_("Only this organization.")
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help=N_("Worker processes sharing the run.")
    ),
    partition: str | None = typer.Option(
        None,
        "--partition",
        metavar="K/N",
        help=N_("This machine's share: organizations whose ID is K modulo N."),
    ),
) -> None:
    session = current()
    base = _partition(partition)
    moment = _instant("until", until) if until else session.app().clock.now()
    if not session.actor().is_operator:
        raise error(Code.PERMISSION_DENIED, action="bill")
    # Worker j of this machine takes the organizations K + N*j modulo N*workers.
    parts = [(base[0] + base[1] * j, base[1] * workers) for j in range(workers)]
    with contextlib.ExitStack() as stack:
        tick: Callable[[int, int, int], None] | None = None
        if sys.stdout.isatty() and not session.json:
            bar = stack.enter_context(_progress_bar())
            task = bar.add_task(_("Billing organizations"), total=None, rate="")
            seen: dict[int, tuple[int, int]] = {}

            def tick(worker: int, done: int, total: int) -> None:
                seen[worker] = (done, total)
                speed = bar.tasks[0].speed
                bar.update(
                    task,
                    completed=sum(d for d, _t in seen.values()),
                    total=sum(t for _d, t in seen.values()),
                    rate=_("{rate}/s", rate=round(speed)) if speed else "",
                )

        if workers == 1:
            summary = session.run(
                billing_run.run,
                moment,
                organization,
                partition=parts[0] if partition else None,
                progress=(lambda done, total: tick(0, done, total)) if tick else None,
            )
        else:
            summary = _in_processes(
                session.settings().database_url, moment, organization, parts, tick
            )
    o.emit(summary, lambda: _show_summary(summary))
    if summary.failed:
        raise typer.Exit(o.EXIT_REFUSED)


def _in_processes(
    database_url: str,
    until: datetime,
    organization: int | None,
    parts: list[tuple[int, int]],
    tick: Callable[[int, int, int], None] | None,
) -> RunSummary:
    """`bill --workers N`: one process per part, each with its own engine and transactions."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(len(parts), mp_context=context) as pool:
        queue = manager.Queue()
        futures = [
            pool.submit(_work, database_url, until, organization, part, index, queue)
            for index, part in enumerate(parts)
        ]
        while not all(f.done() for f in futures):
            _drain(queue, tick, timeout=0.1)
        _drain(queue, tick, timeout=0)
        return billing_run.combine([RunSummary.model_validate(f.result()) for f in futures])


def _drain(queue: Any, tick: Callable[[int, int, int], None] | None, timeout: float) -> None:
    try:
        while True:
            worker, done, total = queue.get(timeout=timeout) if timeout else queue.get_nowait()
            if tick is not None:
                tick(worker, done, total)
    except Empty:
        return


def _work(
    database_url: str,
    until: datetime,
    organization: int | None,
    part: tuple[int, int],
    index: int,
    queue: Any,
) -> dict[str, Any]:
    """One worker process: its share of the organizations, reported back as JSON."""
    app = Abonnement(Settings(database_url=database_url))
    try:
        summary = app.run(
            app.operator,
            billing_run.run,
            until,
            organization,
            partition=part,
            progress=lambda done, total: queue.put((index, done, total)),
        )
        return summary.model_dump(mode="json")
    finally:
        app.close()


def _show_summary(summary: RunSummary) -> None:
    o.say(
        _(
            "Billed up to {until}: {organizations} organizations, {days} days, "
            "{invoices} invoices; events: {events}.",
            until=o.moment(summary.until),
            organizations=summary.organizations,
            days=summary.days,
            invoices=summary.invoices,
            events=o.event_counts(summary.events),
        )
    )
    if summary.skipped_test_clocks:
        ids = ", ".join(str(i) for i in summary.skipped_test_clocks)
        o.say(_("On a test clock, not billed here: {ids}.", ids=ids), "yellow")
    for failure in summary.failed:
        o.say(
            _(
                "Organization {id} failed and will be done by the next run: {error}",
                id=failure.organization_id,
                error=failure.error,
            ),
            "red",
        )


# -- clock ----------------------------------------------------------------------------------------
def _show_clock(view: ClockView) -> None:
    o.show(
        o.details(
            _("Test clock of organization {id}", id=view.organization_id),
            [
                (_("Now"), o.moment(view.now)),
                (_("Today"), o.day(view.today)),
                (_("Billed through"), o.day(view.billed_through)),
            ],
        )
    )


@clock.command("attach", help=N_("Attach a test clock to an organization."))
def attach(
    org: int = ORG,
    at: str | None = typer.Option(
        None, "--at", metavar="ISO", help=N_("Where the clock starts (default: now).")
    ),
) -> None:
    view = current().run(clocks.attach, org, _instant("at", at) if at else None)
    o.emit(view, lambda: _show_clock(view))


@clock.command("advance", help=N_("Move a test clock forward, running everything due."))
def advance(
    org: int = ORG,
    days: int | None = typer.Option(None, "--days", help=N_("Days to move forward.")),
    to: str | None = typer.Option(
        None, "--to", metavar="DATE", help=N_("Date (or ISO moment) to move to.")
    ),
) -> None:
    target: date | datetime | None = None
    if to is not None:
        try:
            target = date.fromisoformat(to.strip())
        except ValueError:
            target = _instant("to", to)
    view = current().run(clocks.advance, org, days=days, to=target)
    o.emit(view, lambda: _show_advance(view))


def _show_advance(view: AdvanceView) -> None:
    o.say(
        _(
            "The clock moved to {now}: {days} days done, {invoices} invoices; events: {events}.",
            now=o.moment(view.clock.now),
            days=view.days,
            invoices=view.invoices,
            events=o.event_counts(view.events),
        )
    )
    _show_clock(view.clock)


@clock.command("show", help=N_("Show an organization's test clock."))
def show(org: int = ORG) -> None:
    view = current().read(clocks.show, org)
    o.emit(view, lambda: _show_clock(view))


@clock.command("detach", help=N_("Detach the test clock: back to the system clock."))
def detach(org: int = ORG) -> None:
    view = current().run(clocks.detach, org)
    o.emit(
        view,
        lambda: o.say(
            _("Organization {id} is on the system clock again.", id=view.organization_id)
        ),
    )
