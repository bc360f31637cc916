"""Invoice arithmetic: totals and tax per rate, rounded once per line, half up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from abonnement.domain.currencies import Currency
from abonnement.domain.money import Money, round_half_up

#: VAT on digital services sold to businesses in the seeds' countries; others are configured.
DEFAULT_TAX_RATES: Mapping[str, Decimal] = {
    "NO": Decimal("0.25"),
    "NL": Decimal("0.21"),
    "DK": Decimal("0.25"),
}
DEFAULT_PAYMENT_TERMS_DAYS = 30


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: Money
    tax_rate: Decimal
    tax: Money
    total: Money


def totals(amounts: Sequence[Money], tax_rate: Decimal, currency: Currency) -> Totals:
    """Sum the lines, then tax the sum at one rate, rounded once, half up."""
    if not Decimal(0) <= tax_rate < Decimal(1):
        raise ValueError("a tax rate is a fraction from 0 to 1")
    subtotal = Money(0, currency)
    for amount in amounts:
        subtotal = subtotal + amount
    tax = Money(round_half_up(Decimal(subtotal.minor) * tax_rate), currency)
    return Totals(subtotal, tax_rate, tax, subtotal + tax)


def due_date(issued: date, terms_days: int = DEFAULT_PAYMENT_TERMS_DAYS) -> date:
    """Net terms: due `terms_days` after the issue date."""
    if terms_days < 0:
        raise ValueError("payment terms cannot be negative")
    return issued + timedelta(days=terms_days)


def tax_rate_for(country: str, overrides: Mapping[str, Decimal] | None = None) -> Decimal:
    """The configured rate for a country (NO 25 %, NL 21 %, DK 25 %; others 0 unless set)."""
    table = {**DEFAULT_TAX_RATES, **(overrides or {})}
    return table.get(country.upper(), Decimal(0))
