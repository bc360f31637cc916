"""`abonnement invoice`: an organization's invoices and credit notes (as text, PDF or HTML), its
payments and balance, the operator's statement run, and what a new total of licenses would cost
before it is entered."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from abonnement import i18n
from abonnement.cli import output as o
from abonnement.cli.session import _, current
from abonnement.domain.errors import N_
from abonnement.rendering import Vendor, render_html, render_lines_text, render_pdf, render_text
from abonnement.rendering.document import period_text, title
from abonnement.services import invoices, subscriptions
from abonnement.services.context import Context
from abonnement.services.invoices import PreviewView
from abonnement.services.schemas import BalanceView, InvoiceView, PaymentView

app = typer.Typer(
    help=N_("Invoices and credit notes, payments, balances and statements."),
    no_args_is_help=True,
)

ORG = typer.Argument(..., metavar="ORG", help=N_("Organization ID."))
NUMBER = typer.Argument(..., metavar="NUMBER", help=N_("Invoice number, e.g. INV-000001."))

_PAYMENT_KIND = {"charge": N_("Charge"), "refund": N_("Refund")}
_PURPOSE = {
    "purchase": N_("Purchase"),
    "renewal": N_("Renewal"),
    "change": N_("Change of licenses"),
    "refund": N_("Refund"),
}
_PAYMENT_STATUS = {
    "succeeded": N_("succeeded"),
    "declined": N_("declined"),
    "pending": N_("pending"),
    "failed": N_("failed"),
}


def _word(table: dict[str, str], value: str) -> str:
    msgid = table.get(value)
    return i18n.gettext(o.lang(), msgid) if msgid else value


def _vendor() -> Vendor:
    return Vendor()


def _write(path: Path, content: bytes) -> Path:
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path.resolve()


def _text(view: InvoiceView) -> None:
    typer.echo(render_text(view, o.lang(), _vendor()), nl=False)


def _keep_whole(grid: Table, *columns: int) -> Table:
    """Amounts and numbers are never cut short on a narrow terminal (other columns wrap)."""
    for index in columns:
        grid.columns[index].no_wrap = True
    return grid


def invoices_table(views: list[InvoiceView]) -> Table:
    grid = o.table(
        _("Invoices"),
        [
            _("Number"),
            _("Document"),
            _("Issue date"),
            _("Due date"),
            _("Billing period"),
            _("Total"),
        ],
        [
            (
                v.number,
                title(v.kind, o.lang()),
                o.day(v.issue_date),
                o.day(v.due_date),
                period_text(v.period_start, v.period_end, o.lang()),
                o.money(v.total, v.currency),
            )
            for v in views
        ],
    )
    return _keep_whole(grid, 0, 5)


def payments_table(views: list[PaymentView], numbers: dict[int, str]) -> Table:
    grid = o.table(
        _("Payments"),
        [
            _("ID"),
            _("Date"),
            _("Kind"),
            _("Purpose"),
            _("Status"),
            _("Amount"),
            _("Invoice"),
        ],
        [
            (
                p.id,
                o.day(p.created_at.date()),
                _word(_PAYMENT_KIND, p.kind),
                _word(_PURPOSE, p.purpose),
                _word(_PAYMENT_STATUS, p.status)
                + (f" ({p.decline_code})" if p.decline_code else ""),
                o.money(p.amount, p.currency),
                numbers.get(p.invoice_id, "-") if p.invoice_id is not None else "-",
            )
            for p in views
        ],
    )
    return _keep_whole(grid, 2, 5, 6)


def balance_message(view: BalanceView) -> str:
    amount = o.money(abs(view.receivable), view.currency)
    if view.receivable > 0:
        return _("Organization #{id} owes {amount}.", id=view.organization_id, amount=amount)
    if view.receivable < 0:
        return _(
            "Organization #{id} has a credit of {amount}, used on the next invoice or refunded.",
            id=view.organization_id,
            amount=amount,
        )
    return _("Organization #{id} owes nothing.", id=view.organization_id)


# -- commands ---------------------------------------------------------------------------------
@app.command("list", help=N_("List an organization's invoices and credit notes."))
def list_invoices(organization_id: int = ORG) -> None:
    views = current().read(invoices.list_invoices, organization_id)

    def show() -> None:
        if not views:
            o.say(_("No invoices yet."), "yellow")
            return
        o.show(invoices_table(views))

    o.emit(views, show)


@app.command("show", help=N_("Show an invoice or credit note as text."))
def show(number: str = NUMBER) -> None:
    view = current().read(invoices.get_invoice, number)
    o.emit(view, lambda: _text(view))


@app.command("pdf", help=N_("Save an invoice or credit note as a PDF file."))
def pdf(
    number: str = NUMBER,
    out: Path | None = typer.Option(
        None, "--out", dir_okay=False, help=N_("File to write (default: NUMBER.pdf here).")
    ),
) -> None:
    view = current().read(invoices.get_invoice, number)
    path = _write(out or Path(f"{view.number}.pdf"), render_pdf(view, o.lang(), _vendor()))
    o.emit(
        {"number": view.number, "path": str(path), "bytes": path.stat().st_size},
        lambda: o.say(_("Saved {number} as {path}.", number=view.number, path=str(path))),
    )


@app.command("html", help=N_("Save an invoice or credit note as an HTML page."))
def html(
    number: str = NUMBER,
    out: Path | None = typer.Option(
        None, "--out", dir_okay=False, help=N_("File to write (default: NUMBER.html here).")
    ),
) -> None:
    view = current().read(invoices.get_invoice, number)
    page = render_html(view, o.lang(), _vendor()).encode("utf-8")
    path = _write(out or Path(f"{view.number}.html"), page)
    o.emit(
        {"number": view.number, "path": str(path), "bytes": path.stat().st_size},
        lambda: o.say(_("Saved {number} as {path}.", number=view.number, path=str(path))),
    )


@app.command("balance", help=N_("Show what an organization owes, or its credit."))
def balance(organization_id: int = ORG) -> None:
    view = current().read(invoices.balance, organization_id)
    o.emit(view, lambda: o.say(balance_message(view), "default"))


@app.command("payments", help=N_("List an organization's payments and refunds."))
def payments(organization_id: int = ORG) -> None:
    views = current().read(invoices.list_payments, organization_id)
    if current().json:
        o.print_json(views)
        return
    numbers = {v.id: v.number for v in current().read(invoices.list_invoices, organization_id)}
    if not views:
        o.say(_("No payments yet."), "yellow")
        return
    o.show(payments_table(views, numbers))


@app.command("statement", help=N_("Bill an organization up to a day (vendor operator)."))
def statement(
    organization_id: int = ORG,
    as_of: datetime | None = typer.Option(
        None,
        "--as-of",
        formats=["%Y-%m-%d"],
        metavar="YYYY-MM-DD",
        help=N_("Bill up to this day (default: today)."),
    ),
) -> None:
    day = as_of.date() if as_of else None
    view = current().run(invoices.run_statement, organization_id, day)

    def show() -> None:
        if view is None:
            if day is not None:
                o.say(_("Nothing to bill up to {date}.", date=day), "yellow")
            else:
                o.say(_("Nothing to bill up to today."), "yellow")
            return
        o.say(_("Issued {number}.", number=view.number))
        _text(view)

    o.emit(view, show)


def _preview_quantity(
    ctx: Context, organization_id: int, subscription_id: int, new_total: int
) -> PreviewView:
    return invoices.preview(
        ctx, organization_id, subscriptions.set_quantity, subscription_id, new_total
    )


def show_preview(view: PreviewView, new_total: int) -> None:
    amount = o.money(abs(view.charged_now), view.currency)
    if view.charged_now > 0:
        o.say(
            _(
                "A total of {quantity} licenses charges {amount} now.",
                quantity=new_total,
                amount=amount,
            ),
            "default",
        )
    elif view.charged_now < 0:
        o.say(
            _(
                "A total of {quantity} licenses credits {amount} now.",
                quantity=new_total,
                amount=amount,
            ),
            "default",
        )
    else:
        o.say(
            _("A total of {quantity} licenses charges nothing now.", quantity=new_total), "default"
        )
    for invoice in view.now:
        typer.echo(render_lines_text(invoice, o.lang()))
    upcoming = view.next_invoice
    if upcoming is not None and view.next_billing_date is not None:
        total = o.money(abs(upcoming.total), upcoming.currency)
        if upcoming.kind == "credit_note":
            text = _(
                "The next bill, on {date}, is a credit note of {amount}:",
                date=view.next_billing_date,
                amount=total,
            )
        else:
            text = _(
                "The next invoice, on {date}, comes to {amount}:",
                date=view.next_billing_date,
                amount=total,
            )
        o.say(text, "default")
        typer.echo(render_lines_text(upcoming, o.lang()))
    elif view.next_billing_date is not None:
        o.say(_("Nothing is billed on {date}.", date=view.next_billing_date), "default")
    o.say(_("This is a preview: nothing was changed or charged."), "yellow")


@app.command(
    "preview-quantity",
    help=N_("Show what a new total of licenses would charge now and on the next invoice."),
)
def preview_quantity(
    subscription_id: int = typer.Argument(..., metavar="SUB_ID", help=N_("Subscription ID.")),
    new_total: int = typer.Argument(..., metavar="NEW_TOTAL", help=N_("The new total.")),
) -> None:
    sub = current().read(subscriptions.get, subscription_id)
    view = current().read(_preview_quantity, sub.organization_id, subscription_id, new_total)
    o.emit(view, lambda: show_preview(view, new_total))
