"""Day-based proration.

A change effective on day d of a period of D days rates the remaining R days (d included: the day
of a change belongs to the new state) as R/D of the period price. Amounts stay `Decimal` minor
units until an invoice line is made, which rounds once, half up.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from abonnement.domain.money import Money
from abonnement.domain.periods import Period


def exact_share(price: Money, quantity: int, days: int, period_days: int) -> Decimal:
    """quantity × price × days / period_days, in minor units, unrounded."""
    if period_days <= 0:
        raise ValueError("a period has at least one day")
    if not 0 <= days <= period_days:
        raise ValueError(f"{days} days do not fit in a period of {period_days}")
    if quantity < 0:
        raise ValueError("quantity cannot be negative")
    return Decimal(price.minor) * quantity * days / Decimal(period_days)


@functools.lru_cache(maxsize=1 << 16)
def prorate(price: Money, quantity: int, days: int, period_days: int) -> Money:
    """One invoice line: quantity licenses for `days` of `period_days`, rounded once. (Cached:
    the arguments and the result are immutable, and a run prices the same few periods of the
    same offers again and again.)"""
    return Money.from_decimal_minor(exact_share(price, quantity, days, period_days), price.currency)


@dataclass(frozen=True, slots=True)
class Piece:
    """A run of days in a period at one quantity."""

    start: date
    end: date
    quantity: int

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def split(period: Period, changes: list[tuple[date, int]], initial_quantity: int) -> list[Piece]:
    """The pieces of `period` at each quantity, given (effective day, new quantity) changes.

    Changes outside the period are refused; several changes on one day keep the last.
    """
    pieces: list[Piece] = []
    start, quantity = period.start, initial_quantity
    for day, new_quantity in sorted(changes, key=lambda change: change[0]):
        if day not in period:
            raise ValueError(f"change on {day} is outside {period}")
        if day > start:
            pieces.append(Piece(start, day, quantity))
            start = day
        quantity = new_quantity
    pieces.append(Piece(start, period.end, quantity))
    return pieces
