"""How the CLI shows things: rich tables in the chosen language, or JSON (`--json`) made of the
services' pydantic views, and errors as a localized message, remedy and stable code."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from abonnement import i18n
from abonnement.cli.session import _, current
from abonnement.domain.errors import N_
from abonnement.domain.money import Money
from abonnement.services.schemas import AvailabilityView, ReasonView, SubscriptionView

EXIT_REFUSED = 1
EXIT_INVALID = 2


# -- consoles -------------------------------------------------------------------------------------
def out() -> Console:
    """Standard output. Created per call: the stream may change between invocations (tests)."""
    return Console(highlight=False)


def err() -> Console:
    return Console(stderr=True, highlight=False)


def say(message: str, style: str = "green") -> None:
    """One sentence for the reader (never in --json mode, which prints only data)."""
    if not current().json:
        out().print(Text(message, style=style), soft_wrap=True)


# -- JSON -----------------------------------------------------------------------------------------
def jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Money):
        return {"amount_minor": value.minor, "currency": value.currency.code}
    return value


def print_json(value: Any) -> None:
    typer.echo(json.dumps(jsonable(value), ensure_ascii=False, indent=2, default=str))


def emit(value: Any, show: Callable[[], None]) -> None:
    """Print `value` as JSON in --json mode, else call `show` to print it for people."""
    if current().json:
        print_json(value)
    else:
        show()


# -- words and numbers ----------------------------------------------------------------------------
def lang() -> str:
    return current().lang


def money(minor: int, currency: str) -> str:
    return i18n.format_money(Money.of(minor, currency), lang())


def day(value: date | None) -> str:
    return i18n.format_date(value, lang(), "medium") if value else "-"


def moment(value: datetime) -> str:
    return f"{i18n.format_date(value.date(), lang(), 'medium')} {value:%H:%M}"


def yes_no(value: bool) -> str:
    return _("yes") if value else _("no")


_STATUS = {
    "trial": N_("Trial"),
    "active": N_("Active"),
    "expired": N_("Expired"),
    "disabled": N_("Disabled"),
    "deleted": N_("Deleted"),
}
_CHANNEL = {
    "online": N_("Online"),
    "prepaid": N_("Prepaid"),
    "reseller": N_("Reseller"),
    "volume": N_("Volume Licensing"),
}
_ROLE = {
    "global_admin": N_("Global admin"),
    "billing_admin": N_("Billing admin"),
    "license_admin": N_("License admin"),
    "user_admin": N_("User admin"),
    "global_reader": N_("Global reader"),
}
_FREQUENCY = {"monthly": N_("monthly"), "annual": N_("annual")}
_MODEL = {"classic": N_("classic"), "windowed": N_("windowed")}
_PAYMENT_KIND = {"card": N_("card"), "bank_account": N_("bank account"), "invoice": N_("invoice")}
_CALLBACK_STATUS = {"open": N_("open"), "done": N_("done")}


def _word(table: dict[str, str], value: str) -> str:
    msgid = table.get(value)
    return i18n.gettext(lang(), msgid) if msgid else value


def status(value: str) -> str:
    return _word(_STATUS, value)


def channel(value: str) -> str:
    return _word(_CHANNEL, value)


def role(value: str) -> str:
    return _word(_ROLE, value)


def frequency(value: str) -> str:
    return _word(_FREQUENCY, value)


def model(value: str) -> str:
    return _word(_MODEL, value)


def payment_kind(value: str) -> str:
    return _word(_PAYMENT_KIND, value)


def callback_status(value: str) -> str:
    return _word(_CALLBACK_STATUS, value)


# -- tables ---------------------------------------------------------------------------------------
def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Table:
    """A table whose first column (an ID, code or SKU) is never cut short on narrow terminals."""
    cells = [[c if isinstance(c, Text) else Text(str(c)) for c in row] for row in rows]
    grid = Table(title=title, title_justify="left", header_style="bold")
    for i, column in enumerate(columns):
        grid.add_column(column, no_wrap=i == 0)
    for row in cells:
        grid.add_row(*row)
    return grid


def details(title: str | None, pairs: Iterable[tuple[str, object]]) -> Table:
    grid = Table(title=title, title_justify="left", show_header=False)
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for label, value in pairs:
        grid.add_row(label, value if isinstance(value, Text) else Text(str(value)))
    return grid


def show(*renderables: Any) -> None:
    console = out()
    for renderable in renderables:
        console.print(renderable)


# -- subscriptions and availability (R5) ----------------------------------------------------------
def reason(reason: ReasonView) -> tuple[str, str | None]:
    return i18n.localize_error(reason.code, reason.context, lang())


def availability_table(view: AvailabilityView, title: str | None = None) -> Table:
    """Buy licenses and Remove licenses, each available or not, with every reason and remedy."""
    grid = Table(title=title, title_justify="left", header_style="bold")
    grid.add_column(_("Action"))
    grid.add_column(_("Available"))
    grid.add_column(_("Reason"))
    grid.add_column(_("What you can do"))
    for label, can, reasons in (
        (_("Buy licenses"), view.can_buy, view.buy_reasons),
        (_("Remove licenses"), view.can_remove, view.remove_reasons),
    ):
        mark = Text(_("yes"), style="green") if can else Text(_("no"), style="red")
        if not reasons:
            grid.add_row(label, mark, "", "")
        for i, item in enumerate(reasons):
            message, remedy = reason(item)
            grid.add_row(label if i == 0 else "", mark if i == 0 else "", message, remedy or "")
    return grid


def subscription_details(sub: SubscriptionView) -> Table:
    pairs: list[tuple[str, object]] = [
        (_("Offer"), f"{sub.offer_name} ({sub.offer})"),
        (_("Product"), sub.product_sku),
        (_("Status"), status(sub.status)),
        (_("Purchase channel"), channel(sub.channel)),
        (_("Total licenses"), sub.quantity),
        (_("Assigned licenses"), sub.assigned),
        (_("Available licenses"), sub.available),
    ]
    if sub.prepaid_quantity:
        pairs.append((_("Prepaid licenses"), sub.prepaid_quantity))
    pairs += [
        (_("Recurring billing"), yes_no(sub.recurring_billing)),
        (_("Credit check pending"), yes_no(sub.credit_check_pending)),
        (_("Term"), f"{day(sub.term_start)} – {day(sub.term_end)}"),
    ]
    if sub.pending_quantity is not None:
        pairs.append(
            (
                _("Scheduled change"),
                _(
                    "{quantity} licenses from {effective}",
                    quantity=sub.pending_quantity,
                    effective=sub.pending_effective,
                ),
            )
        )
    if sub.partner_name:
        pairs.append((_("Partner"), sub.partner_name))
    if sub.agreement_number:
        pairs.append((_("Agreement"), sub.agreement_number))
    if sub.switched_to_id:
        pairs.append((_("Switched to"), f"#{sub.switched_to_id}"))
    return details(_("Subscription #{id}", id=sub.id), pairs)


def subscriptions_table(subs: Sequence[SubscriptionView], title: str | None = None) -> Table:
    return table(
        title,
        [
            _("ID"),
            _("Offer"),
            _("Status"),
            _("Purchase channel"),
            _("Total licenses"),
            _("Assigned"),
            _("Ends"),
            _("Buy licenses"),
            _("Remove licenses"),
        ],
        [
            (
                s.id,
                s.offer_name,
                status(s.status),
                channel(s.channel),
                s.quantity,
                s.assigned,
                day(s.term_end),
                yes_no(s.availability.can_buy),
                yes_no(s.availability.can_remove),
            )
            for s in subs
        ],
    )


# -- errors ---------------------------------------------------------------------------------------
def report_error(
    code: str, status_code: int, context: dict[str, object], message: str, remedy: str | None
) -> None:
    """A refusal as people read it (red, with the remedy and code), or as JSON."""
    if current().json:
        print_json(
            {
                "error": {
                    "code": code,
                    "status": status_code,
                    "message": message,
                    "remedy": remedy,
                    "context": {k: jsonable(v) for k, v in context.items()},
                }
            }
        )
        return
    console = err()
    console.print(Text(_("Error: {message}", message=message), style="bold red"), soft_wrap=True)
    if remedy:
        console.print(
            Text(_("What you can do: {remedy}", remedy=remedy), style="red"), soft_wrap=True
        )
    console.print(Text(_("Code: {code}", code=code), style="dim"), soft_wrap=True)


def event_counts(events: Mapping[str, int]) -> str:
    """Events by type with their counts, for a summary line: "a × 2, b × 1", or "none"."""
    return ", ".join(f"{kind} × {count}" for kind, count in sorted(events.items())) or _("none")
