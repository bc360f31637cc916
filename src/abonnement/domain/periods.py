"""Billing periods: monthly and annual anniversaries, clamped at the month's end.

A period runs from its start (inclusive) to its end (exclusive). Boundaries are always computed
from the anchor date, never chained from the previous boundary, so an anchor of Jan 31 gives
Feb 28 (or 29) and then Mar 31 again.

The functions here are pure and their arguments and results immutable (dates, `Frequency`,
frozen `Period`), so they are cached: a billing run asks for the same few boundaries of the
same anchors for every subscription that renews on a day.
"""

from __future__ import annotations

import calendar
import functools
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Frequency(StrEnum):
    """How long one period lasts (also used for an offer's term)."""

    MONTHLY = "monthly"
    ANNUAL = "annual"

    @property
    def months(self) -> int:
        return 1 if self is Frequency.MONTHLY else 12


#: Distinct (anchor, …) arguments kept per cached function: a run sees a few anchors a day.
CACHE_SIZE = 1 << 16


@functools.lru_cache(maxsize=CACHE_SIZE)
def add_months(anchor: date, months: int) -> date:
    """The anchor moved by whole months, its day clamped to the target month's last day."""
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(anchor.day, last))


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end): the days a charge covers."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"a period must end after it starts: {self.start} .. {self.end}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day < self.end

    def remaining_days(self, day: date) -> int:
        """Days from `day` (inclusive: the day of a change belongs to the new state) to the end."""
        if day not in self:
            raise ValueError(f"{day} is outside {self.start} .. {self.end}")
        return (self.end - day).days

    def __str__(self) -> str:
        return f"{self.start.isoformat()} .. {self.end.isoformat()}"


@functools.lru_cache(maxsize=CACHE_SIZE)
def boundary(anchor: date, frequency: Frequency, index: int) -> date:
    """The start of period number `index` (0 is the anchor itself)."""
    return add_months(anchor, index * frequency.months)


@functools.lru_cache(maxsize=CACHE_SIZE)
def nth_period(anchor: date, frequency: Frequency, index: int) -> Period:
    return Period(boundary(anchor, frequency, index), boundary(anchor, frequency, index + 1))


@functools.lru_cache(maxsize=CACHE_SIZE)
def period_index(anchor: date, frequency: Frequency, day: date) -> int:
    """The number of the anniversary period of `anchor` that contains `day` (negative before
    the anchor)."""
    months_apart = (day.year - anchor.year) * 12 + (day.month - anchor.month)
    index = months_apart // frequency.months
    # The estimate can be one off either way because of day-of-month clamping.
    while boundary(anchor, frequency, index) > day:
        index -= 1
    while boundary(anchor, frequency, index + 1) <= day:
        index += 1
    return index


@functools.lru_cache(maxsize=CACHE_SIZE)
def period_containing(anchor: date, frequency: Frequency, day: date) -> Period:
    """The anniversary period of `anchor` that contains `day` (which may precede the anchor)."""
    return nth_period(anchor, frequency, period_index(anchor, frequency, day))
