"""Business days: weekends and each country's public holidays do not count (R5 credit checks)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abonnement.domain import businessdays as bd

NO = bd.calendar_for("NO")
NL = bd.calendar_for("NL")
DK = bd.calendar_for("DK")


def test_weekends_are_not_business_days() -> None:
    assert bd.weekends_only().is_business_day(date(2026, 3, 6))  # Friday
    assert not bd.weekends_only().is_business_day(date(2026, 3, 7))  # Saturday
    assert not bd.weekends_only().is_business_day(date(2026, 3, 8))  # Sunday


@pytest.mark.parametrize(
    ("calendar", "day", "name"),
    [
        (NO, date(2028, 5, 17), "Constitution Day"),  # a Wednesday in 2028
        (NL, date(2026, 4, 27), "King's Day"),
        (DK, date(2026, 5, 14), "Ascension Day"),
        (NO, date(2026, 12, 25), "Christmas Day"),
    ],
)
def test_each_country_has_its_own_holidays(
    calendar: bd.BusinessCalendar, day: date, name: str
) -> None:
    assert day.weekday() < 5
    assert not calendar.is_business_day(day)
    assert calendar.holiday_name(day) == name


def test_a_holiday_of_one_country_is_a_business_day_in_another() -> None:
    assert NL.is_business_day(date(2028, 5, 17))
    assert NO.is_business_day(date(2026, 4, 27))


def test_a_country_without_a_holiday_calendar_has_weekends_only() -> None:
    unknown = bd.calendar_for("ZZ")
    assert unknown.is_business_day(date(2026, 12, 25))
    assert not unknown.is_business_day(date(2026, 12, 26))  # Saturday


def test_r5_credit_check_completes_two_business_days_later() -> None:
    # Monday 2 March 2026 -> Wednesday 4 March.
    assert bd.credit_check_completes_on(date(2026, 3, 2), NO) == date(2026, 3, 4)
    # Thursday -> Monday (the weekend does not count).
    assert bd.credit_check_completes_on(date(2026, 3, 5), NO) == date(2026, 3, 9)
    # Saturday -> Tuesday: the start day never counts, business day or not.
    assert bd.credit_check_completes_on(date(2026, 3, 7), NO) == date(2026, 3, 10)


def test_r5_credit_check_skips_17_may_and_the_weekend_in_norway() -> None:
    # Wednesday 16 May 2029: 17 May (Thursday) is Constitution Day, then Friday 18 May counts,
    # the weekend does not, and Whit Monday (21 May) is a holiday too: done on Tuesday 22 May.
    assert bd.credit_check_completes_on(date(2029, 5, 16), NO) == date(2029, 5, 22)
    # The same start in the Netherlands: Friday 18 May is day 2 (Whit Monday is theirs too).
    assert bd.credit_check_completes_on(date(2029, 5, 16), NL) == date(2029, 5, 18)


def test_counting_zero_business_days_stays_put() -> None:
    assert NO.add(date(2026, 3, 7), 0) == date(2026, 3, 7)
    with pytest.raises(ValueError, match="forward"):
        NO.add(date(2026, 3, 7), -1)


def test_business_days_between_counts_after_the_start_up_to_the_end() -> None:
    assert NO.between(date(2026, 3, 2), date(2026, 3, 2)) == 0
    assert NO.between(date(2026, 3, 2), date(2026, 3, 9)) == 5


CALENDARS = st.sampled_from([NO, NL, DK, bd.weekends_only()])
DAYS = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@settings(max_examples=300, deadline=None)
@given(calendar=CALENDARS, start=DAYS, count=st.integers(min_value=1, max_value=30))
def test_the_result_is_a_business_day_exactly_n_business_days_later(
    calendar: bd.BusinessCalendar, start: date, count: int
) -> None:
    end = calendar.add(start, count)
    assert calendar.is_business_day(end)
    assert end > start
    assert calendar.between(start, end) == count
    # ...and it is the first such day: the day before has one business day fewer.
    assert calendar.between(start, end - timedelta(days=1)) == count - 1


@settings(max_examples=200, deadline=None)
@given(calendar=CALENDARS, start=DAYS, count=st.integers(min_value=0, max_value=20))
def test_more_business_days_never_end_earlier(
    calendar: bd.BusinessCalendar, start: date, count: int
) -> None:
    assert calendar.add(start, count) <= calendar.add(start, count + 1)
    # No calendar here loses a whole week: a business day at least every seven days.
    assert calendar.add(start, count) <= start + timedelta(days=7 * (count + 1))
