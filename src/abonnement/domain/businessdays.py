"""Business days: Monday to Friday, less a country's public holidays.

A credit check "completes within two business days" (R5): started on any day, it is done on the
second business day after that day. Norway's 17 May, the Netherlands' King's Day and Denmark's
Ascension Day are not business days; nor are Saturdays and Sundays. Holidays come from the
`holidays` package (pure data, no I/O); a country it does not know has weekends only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import holidays

#: Saturday and Sunday (date.weekday() numbers them 5 and 6).
WEEKEND = frozenset({5, 6})
#: How long a credit check may take.
CREDIT_CHECK_BUSINESS_DAYS = 2


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """Which days are business days in one country."""

    country: str
    is_holiday: Callable[[date], bool]

    def is_business_day(self, day: date) -> bool:
        return day.weekday() not in WEEKEND and not self.is_holiday(day)

    def holiday_name(self, day: date) -> str | None:
        return _holiday_names(self.country).get(day) if self.is_holiday(day) else None

    def add(self, start: date, business_days: int) -> date:
        return add_business_days(start, business_days, self.is_business_day)

    def between(self, start: date, end: date) -> int:
        return business_days_between(start, end, self.is_business_day)


def add_business_days(start: date, count: int, is_business_day: Callable[[date], bool]) -> date:
    """The `count`-th business day after `start` (`start` itself never counts; 0 gives `start`)."""
    if count < 0:
        raise ValueError("count business days forward only")
    day = start
    remaining = count
    while remaining > 0:
        day += timedelta(days=1)
        if is_business_day(day):
            remaining -= 1
    return day


def business_days_between(start: date, end: date, is_business_day: Callable[[date], bool]) -> int:
    """Business days in (start, end]: after `start`, up to and including `end`."""
    count = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        if is_business_day(day):
            count += 1
    return count


@functools.cache
def _holiday_names(country: str) -> holidays.HolidayBase:
    try:
        return holidays.country_holidays(country.upper())
    except NotImplementedError:
        return holidays.HolidayBase()


@functools.cache
def calendar_for(country: str) -> BusinessCalendar:
    """The business calendar of a country by its ISO 3166 code (NO, NL, DK, ...)."""
    names = _holiday_names(country)
    return BusinessCalendar(country.upper(), lambda day: day in names)


def weekends_only() -> BusinessCalendar:
    return BusinessCalendar("", lambda day: False)


def credit_check_completes_on(started_on: date, calendar: BusinessCalendar) -> date:
    """R5: a credit check started on a day is complete two business days later."""
    return calendar.add(started_on, CREDIT_CHECK_BUSINESS_DAYS)
