"""An invoice or credit note put into words for one reader: every label, date, period and amount
already in the reader's language, so the HTML, PDF and text renderings only lay it out.

Amounts are the invoice's integer minor units, formatted with Babel (`i18n.format_money`); dates
with `i18n.format_date`; a period is shown from its first to its last day included (the stored
end is exclusive), as Babel writes a date interval ("2.–11. mars 2026").
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final

from babel import Locale
from babel.dates import format_interval
from babel.numbers import NumberPattern, format_decimal, format_percent

from abonnement import i18n
from abonnement.domain.errors import N_
from abonnement.domain.money import Money
from abonnement.i18n import gettext, ngettext
from abonnement.services.schemas import InvoiceLineView, InvoiceView

__all__ = [
    "DEFAULT_VENDOR_NAME",
    "InvoiceDocument",
    "Labels",
    "LineRow",
    "Party",
    "TotalRow",
    "Vendor",
    "build",
    "last_day",
    "period_text",
]

DEFAULT_VENDOR_NAME: Final = "abonnement demo vendor"


@dataclass(frozen=True, slots=True)
class Vendor:
    """Who issues the invoice: the header of every rendering. Data, never translated."""

    name: str = DEFAULT_VENDOR_NAME
    address: tuple[str, ...] = ()
    vat_number: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Party:
    """A sold-to or bill-to block: its heading and its lines."""

    heading: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LineRow:
    """One invoice line in words. A reversal repeats the charge it reverses, with the opposite
    amount, and says so in `note`."""

    kind: str
    is_reversal: bool
    description: str
    note: str
    period: str
    quantity: str
    unit_price: str
    days: str
    amount: str


@dataclass(frozen=True, slots=True)
class TotalRow:
    label: str
    amount: str
    grand: bool = False


@dataclass(frozen=True, slots=True)
class Labels:
    """The fixed words of an invoice (the HTML template has the same msgids in `_()`)."""

    issue_date: str
    due_date: str
    billing_period: str
    reason: str
    description: str
    period: str
    quantity: str
    unit_price: str
    days: str
    amount: str
    reversal: str
    lines_caption: str

    @classmethod
    def of(cls, locale: str) -> Labels:
        return cls(
            issue_date=gettext(locale, "Issue date"),
            due_date=gettext(locale, "Due date"),
            billing_period=gettext(locale, "Billing period"),
            reason=gettext(locale, "Reason"),
            description=gettext(locale, "Description"),
            period=gettext(locale, "Period"),
            quantity=gettext(locale, "Quantity"),
            unit_price=gettext(locale, "Unit price"),
            # Translators: a column of invoice lines: the days charged / the days in the period
            days=gettext(locale, "Days"),
            amount=gettext(locale, "Amount"),
            # Translators: marks an invoice line that cancels an earlier charge
            reversal=gettext(locale, "Reversal"),
            lines_caption=gettext(locale, "Invoice lines"),
        )


@dataclass(frozen=True, slots=True)
class InvoiceDocument:
    locale: str  # a supported code: en, nb, nl, da
    number: str
    kind: str  # invoice, credit_note
    title: str  # "Invoice", "Credit note"
    heading: str  # "Invoice INV-000001"
    issued_on: date
    vendor: Vendor
    vendor_lines: tuple[str, ...]
    issue_date: str
    due_date: str
    billing_period: str
    reason: str
    sold_to: Party
    bill_to: Party
    labels: Labels
    lines: tuple[LineRow, ...]
    totals: tuple[TotalRow, ...]
    notes: tuple[str, ...]
    currency: str
    facts: tuple[tuple[str, str], ...]  # (label, value): dates, billing period, reason


_TITLES: Final[Mapping[str, str]] = {
    # Translators: the title of a document that asks for payment
    "invoice": N_("Invoice"),
    # Translators: the title of a document that gives money back (a negative invoice)
    "credit_note": N_("Credit note"),
}

_REASONS: Final[Mapping[str, str]] = {
    # Translators: why an invoice was issued (the "Reason" on an invoice)
    "purchase": N_("Purchase"),
    "change": N_("Change of licenses"),
    "cancellation": N_("Cancellation"),
    "switch": N_("Plan switch"),
    "statement": N_("Billing statement"),
}


# -- words and numbers ------------------------------------------------------------------------
@functools.cache
def _babel(code: str) -> Locale:
    return Locale.parse(i18n.BABEL_LOCALES[code])


@functools.cache
def _percent_pattern(code: str) -> NumberPattern:
    # The locale's percent pattern ("#,##0 %" in nb), with up to two decimals for 12.5 %.
    pattern: NumberPattern = copy.copy(_babel(code).percent_formats[None])
    pattern.frac_prec = (0, 2)
    return pattern


def last_day(end: date) -> date:
    """The last day included in a period whose stored end is exclusive."""
    return end - timedelta(days=1)


def period_text(start: date, end: date, locale: str) -> str:
    """A period from `start` to the exclusive `end`, as the locale writes a date interval."""
    code = i18n.normalize_locale(locale)
    last = max(last_day(end), start)
    text: str = format_interval(start, last, "yMMMd", locale=_babel(code))
    return text


def money(minor: int, currency: str, locale: str) -> str:
    return i18n.format_money(Money.of(minor, currency), locale)


def number(value: int, locale: str) -> str:
    text: str = format_decimal(value, locale=_babel(i18n.normalize_locale(locale)))
    return text


def percent(basis_points: int, locale: str) -> str:
    code = i18n.normalize_locale(locale)
    text: str = format_percent(
        Decimal(basis_points) / Decimal(10000), format=_percent_pattern(code), locale=_babel(code)
    )
    return text


def country(code: str, locale: str) -> str:
    name: str = _babel(i18n.normalize_locale(locale)).territories.get(code.upper(), code)
    return name


def title(kind: str, locale: str) -> str:
    msgid = _TITLES.get(kind)
    return gettext(locale, msgid) if msgid else kind


def reason(value: str, locale: str) -> str:
    msgid = _REASONS.get(value)
    return gettext(locale, msgid) if msgid else value


def tax_label(basis_points: int, locale: str) -> str:
    """ "VAT 25 %", "MVA 25 %", "btw 21%", "moms 25 %"."""
    # Translators: the tax line of an invoice; {rate} is a percentage such as "25 %"
    return i18n.render(N_("VAT {rate}"), locale, rate=percent(basis_points, locale))


# -- building ---------------------------------------------------------------------------------
def _line_row(line: InvoiceLineView, currency: str, locale: str) -> LineRow:
    period = period_text(line.start, line.end, locale)
    is_reversal = line.kind == "reversal"
    if is_reversal:
        note = ngettext(
            locale,
            "Reversal of the charge for {quantity} license, {period}",
            "Reversal of the charge for {quantity} licenses, {period}",
            line.quantity,
        ).format(quantity=number(line.quantity, locale), period=period)
    else:
        note = i18n.render(N_("Subscription #{id}"), locale, id=line.subscription_id)
    return LineRow(
        kind=line.kind,
        is_reversal=is_reversal,
        description=line.description,
        note=note,
        period=period,
        quantity=number(line.quantity, locale),
        unit_price=money(line.unit_price, currency, locale),
        days=f"{number(line.days, locale)}/{number(line.period_days, locale)}",
        amount=money(line.amount, currency, locale),
    )


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _party(heading: str, data: Mapping[str, Any], locale: str, *, customer_id: bool) -> Party:
    lines: list[str] = []
    if name := _text(data.get("name")):
        lines.append(name)
    lines.extend(part.strip() for part in _text(data.get("address")).splitlines() if part.strip())
    if code := _text(data.get("country")):
        lines.append(country(code, locale))
    if customer_id and data.get("organization_id") is not None:
        lines.append(i18n.render(N_("Customer ID: {id}"), locale, id=str(data["organization_id"])))
    return Party(heading=heading, lines=tuple(lines) or ("-",))


def _vendor_lines(vendor: Vendor, locale: str) -> tuple[str, ...]:
    lines = [line for line in vendor.address if line.strip()]
    if vendor.vat_number:
        lines.append(i18n.render(N_("VAT number: {number}"), locale, number=vendor.vat_number))
    if vendor.email:
        lines.append(vendor.email)
    return tuple(lines)


def build(invoice: InvoiceView, locale: str, vendor: Vendor | None = None) -> InvoiceDocument:
    """The invoice in `locale`'s words (en, nb, nl or da; regional tags such as nb_NO too)."""
    code = i18n.normalize_locale(locale)
    vendor = vendor or Vendor()
    labels = Labels.of(code)
    name = title(invoice.kind, code)
    currency = invoice.currency
    totals = (
        TotalRow(gettext(code, "Subtotal"), money(invoice.subtotal, currency, code)),
        TotalRow(tax_label(invoice.tax_rate_bp, code), money(invoice.tax, currency, code)),
        TotalRow(gettext(code, "Total"), money(invoice.total, currency, code), grand=True),
    )
    notes: list[str] = []
    if invoice.kind == "credit_note":
        notes.append(
            gettext(
                code,
                "This credit is used on your next invoice, or refunded to your payment method "
                "within the next billing cycle.",
            )
        )
    issue_date = i18n.format_date(invoice.issue_date, code)
    due_date = i18n.format_date(invoice.due_date, code)
    billing_period = period_text(invoice.period_start, invoice.period_end, code)
    reason_text = reason(invoice.reason, code)
    return InvoiceDocument(
        locale=code,
        number=invoice.number,
        kind=invoice.kind,
        title=name,
        heading=f"{name} {invoice.number}",
        issued_on=invoice.issue_date,
        vendor=vendor,
        vendor_lines=_vendor_lines(vendor, code),
        issue_date=issue_date,
        due_date=due_date,
        billing_period=billing_period,
        reason=reason_text,
        sold_to=_party(gettext(code, "Sold to"), invoice.sold_to, code, customer_id=True),
        bill_to=_party(gettext(code, "Bill to"), invoice.bill_to, code, customer_id=False),
        labels=labels,
        lines=tuple(_line_row(line, currency, code) for line in invoice.lines),
        totals=totals,
        notes=tuple(notes),
        currency=currency,
        facts=(
            (labels.issue_date, issue_date),
            (labels.due_date, due_date),
            (labels.billing_period, billing_period),
            (labels.reason, reason_text),
        ),
    )
