"""`abonnement demo --months N`: the seed scenarios' organizations, N months later.

After the scenarios, every organization the demo made gets a test clock at the demo's "now",
and the clock moves N months ahead: the billing run does each day on the way (renewals,
statements that restate the changes, R7, credit refunded, R13, trials that end, R14,
cancelled subscriptions through Expired, Disabled and Deleted). Then each organization's
invoices from those months are shown as a table, with its balance, and the last statement in
full. The clocks stay attached: `abonnement clock advance ORG --days 30` goes on from there.
"""

from __future__ import annotations

from collections import Counter

from rich.text import Text

from abonnement.cli import output as o
from abonnement.cli.demo import Demo, ScenarioAbortedError
from abonnement.cli.invoice_commands import invoices_table
from abonnement.cli.session import _
from abonnement.domain.money import Money
from abonnement.domain.periods import add_months
from abonnement.rendering.invoice import render_text
from abonnement.services import clocks, invoices
from abonnement.services.clocks import AdvanceView
from abonnement.services.context import Context
from abonnement.services.schemas import InvoiceView


def last_organization(ctx: Context) -> int:
    """The highest organization id so far (0 for none): the demo's come after it."""
    orgs = ctx.uow.organizations.list()
    return orgs[-1].id if orgs else 0


def _organizations_after(ctx: Context, after: int) -> list[tuple[int, str]]:
    return [(org.id, org.name) for org in ctx.uow.organizations.list() if org.id > after]


def play_months(demo: Demo, months: int, after: int) -> None:
    """Move every organization made after `after` `months` months ahead on a test clock."""
    operator = demo.app.operator
    demo.begin(
        _("{months} months later, on test clocks", months=months),
        ["R7", "R11", "R13", "R14"],
        _("Every demo organization"),
    )
    totals: Counter[str] = Counter()
    shown: InvoiceView | None = None
    for org_id, name in demo.read(operator, _organizations_after, after):
        try:
            attached = demo.do(
                operator,
                _("Attach a test clock to {name}", name=name),
                lambda v: _("The clock says {date}.", date=o.day(v.today)),
                clocks.attach,
                org_id,
                demo.clock.now(),
            )
            before = {v.number for v in demo.read(operator, invoices.list_invoices, org_id)}
            target = add_months(attached.today, months)
            moved: AdvanceView = demo.do(
                operator,
                _("Move the clock of {name} to {date}", name=name, date=o.day(target)),
                _advanced,
                clocks.advance,
                org_id,
                to=target,
            )
        except ScenarioAbortedError:
            continue
        totals.update(moved.events)
        issued = [
            v for v in demo.read(operator, invoices.list_invoices, org_id) if v.number not in before
        ]
        balance = demo.read(operator, invoices.balance, org_id)
        demo.note(
            _("Read the invoices of {name}", name=name),
            _(
                "{count} invoices and credit notes in {months} months; balance {amount}.",
                count=len(issued),
                months=months,
                amount=Money.of(balance.receivable, balance.currency),
            ),
            {"organization_id": org_id, "invoices": issued, "balance": balance},
        )
        if issued:
            demo.show(invoices_table(issued))
            statements = [v for v in issued if v.reason == "statement"]
            if shown is None and statements:
                shown = statements[-1]
    if shown is not None and demo.live:
        o.out().print()
        o.out().print(Text(render_text(shown, demo.lang)), soft_wrap=True)
    demo.note(
        _("Sum up the {months} months", months=months),
        _("Events on the way: {events}.", events=o.event_counts(totals)),
        dict(sorted(totals.items())),
    )


def _advanced(view: AdvanceView) -> str:
    return _(
        "{days} days done, {invoices} invoices; events: {events}.",
        days=view.days,
        invoices=view.invoices,
        events=o.event_counts(Counter(view.events)),
    )
