"""The demo's money: the invoices the seed scenarios produce, on a clock that moves.

Each story runs in its own organization, starting 40 days ago so the next statement falls due
during the demo: seed 002's 100 → 105 (R6, R7) and 100 → 95 (R12), seeds 000/001's wrong plan
(R9), and seeds 003/004's cancellation with its credit and refund (R11, R13). The invoices are
printed as text in the demo's language and written as PDFs.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from rich.text import Text

from abonnement.cli import output as o
from abonnement.cli.demo import Demo
from abonnement.cli.demo_world import BASIC, PREMIUM, STANDARD, Org, buy, create_org, offer_name
from abonnement.cli.session import _
from abonnement.domain.money import Money
from abonnement.rendering.invoice import render_pdf, render_text
from abonnement.services import cancellation, invoices
from abonnement.services import subscriptions as subs
from abonnement.services.schemas import InvoiceView


def _statement(demo: Demo, org: Org, day: date) -> None:
    demo.do(
        demo.app.operator,
        _("Run the statement of {date}", date=day),
        lambda v: _("Issued {number}.", number=v.number) if v else _("Nothing was due."),
        invoices.run_statement,
        org.id,
        day,
    )


def _show_invoices(demo: Demo, org: Org, folder: Path) -> list[InvoiceView]:
    views = demo.app.read(demo.app.operator, invoices.list_invoices, org.id)
    folder.mkdir(parents=True, exist_ok=True)
    for view in views:
        path = folder / f"{view.number}.pdf"
        path.write_bytes(render_pdf(view, demo.lang))
        demo.note(
            _("Read {number}", number=view.number),
            _(
                "Total {amount}; written to {path}.",
                amount=Money.of(view.total, view.currency),
                path=path,
            ),
            view,
        )
        if demo.live:
            o.out().print(Text(render_text(view, demo.lang)), soft_wrap=True)
    balance = demo.app.read(demo.app.operator, invoices.balance, org.id)
    demo.note(
        _("Read the balance"),
        _("Balance: {amount}.", amount=Money.of(balance.receivable, balance.currency)),
        balance,
    )
    return views


def play_money(demo: Demo, run: int) -> None:
    folder = demo.invoices_dir / f"run-{run}"
    start: datetime = demo.clock.now()
    begin = start - timedelta(days=40)

    demo.set_clock(begin, _("Turn the demo clock back {days} days", days=40))
    growing = create_org(demo, "invoice-grow", run)
    shrinking = create_org(demo, "invoice-shrink", run)
    switching = create_org(demo, "invoice-switch", run)
    leaving = create_org(demo, "invoice-cancel", run)
    grow = buy(demo, growing["admin"], growing, STANDARD, 100)
    shrink = buy(demo, shrinking["admin"], shrinking, STANDARD, 100)
    wrong = buy(demo, switching["admin"], switching, BASIC, 10)
    gone = buy(demo, leaving["admin"], leaving, STANDARD, 10)
    first_period_end = grow.term_end  # monthly: the first statement date

    demo.set_clock(begin + timedelta(days=10), _("Ten days later"))
    demo.do(
        growing["admin"],
        _("Enter the new total: {quantity} licenses", quantity=105),
        lambda r: _("Charged at once for the rest of the period."),
        subs.set_quantity,
        grow.id,
        105,
    )
    demo.do(
        shrinking["admin"],
        _("Enter the new total: {quantity} licenses", quantity=95),
        lambda r: _("The unused time is credited on the next bill."),
        subs.set_quantity,
        shrink.id,
        95,
    )
    demo.do(
        switching["admin"],
        _("Switch to {offer}", offer=offer_name(PREMIUM)),
        lambda r: _("The unused days of the wrong plan are credited to the new one."),
        cancellation.switch_plan,
        wrong.id,
        PREMIUM,
    )
    demo.set_clock(begin + timedelta(days=15), _("Five days later"))
    demo.do(
        leaving["admin"],
        _("Cancel subscription #{id}", id=gone.id),
        lambda r: _("A final invoice credits the unused days."),
        cancellation.cancel,
        gone.id,
    )

    demo.set_clock(start, _("Turn the demo clock forward to today"))
    for org in (growing, shrinking, switching, leaving):
        _statement(demo, org, first_period_end)
    for org in (growing, shrinking, switching, leaving):
        _show_invoices(demo, org, folder / f"organization-{org.id}")
