"""Billing periods: anniversaries of the anchor, clamped at month end, [start, end)."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abonnement.domain.periods import (
    Frequency,
    Period,
    add_months,
    boundary,
    nth_period,
    period_containing,
)

ANCHORS = st.dates(min_value=date(2000, 1, 1), max_value=date(2039, 12, 31))
FREQUENCIES = st.sampled_from(list(Frequency))


def last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def test_frequency_lengths() -> None:
    assert Frequency.MONTHLY.months == 1
    assert Frequency.ANNUAL.months == 12
    assert Frequency("monthly") is Frequency.MONTHLY


# month-end clamping ----------------------------------------------------------------------------
def test_jan_31_goes_to_feb_28_then_back_to_mar_31() -> None:
    anchor = date(2023, 1, 31)
    assert [boundary(anchor, Frequency.MONTHLY, i) for i in range(5)] == [
        date(2023, 1, 31),
        date(2023, 2, 28),
        date(2023, 3, 31),
        date(2023, 4, 30),
        date(2023, 5, 31),
    ]


def test_jan_31_goes_to_feb_29_in_a_leap_year_then_mar_31() -> None:
    anchor = date(2024, 1, 31)
    assert boundary(anchor, Frequency.MONTHLY, 1) == date(2024, 2, 29)
    assert boundary(anchor, Frequency.MONTHLY, 2) == date(2024, 3, 31)
    assert nth_period(anchor, Frequency.MONTHLY, 1) == Period(date(2024, 2, 29), date(2024, 3, 31))


def test_annual_anchor_on_feb_29_clamps_and_comes_back() -> None:
    anchor = date(2024, 2, 29)
    assert boundary(anchor, Frequency.ANNUAL, 1) == date(2025, 2, 28)
    assert boundary(anchor, Frequency.ANNUAL, 3) == date(2027, 2, 28)
    assert boundary(anchor, Frequency.ANNUAL, 4) == date(2028, 2, 29)


@pytest.mark.parametrize(
    ("anchor", "months", "expected"),
    [
        (date(2023, 12, 15), 1, date(2024, 1, 15)),
        (date(2024, 1, 15), -1, date(2023, 12, 15)),
        (date(2024, 3, 31), -1, date(2024, 2, 29)),
        (date(2023, 8, 31), 1, date(2023, 9, 30)),
        (date(2023, 5, 10), 0, date(2023, 5, 10)),
        (date(2023, 5, 10), 25, date(2025, 6, 10)),
    ],
)
def test_add_months(anchor: date, months: int, expected: date) -> None:
    assert add_months(anchor, months) == expected


# Period ----------------------------------------------------------------------------------------
def test_period_is_half_open() -> None:
    period = Period(date(2025, 3, 1), date(2025, 4, 1))
    assert period.days == 31
    assert date(2025, 3, 1) in period
    assert date(2025, 3, 31) in period
    assert date(2025, 4, 1) not in period
    assert date(2025, 2, 28) not in period
    assert "2025-03-01" not in period
    assert str(period) == "2025-03-01 .. 2025-04-01"


@pytest.mark.parametrize("end", [date(2025, 3, 1), date(2025, 2, 1)])
def test_period_must_end_after_it_starts(end: date) -> None:
    with pytest.raises(ValueError, match="must end after"):
        Period(date(2025, 3, 1), end)


def test_remaining_days_count_the_change_day() -> None:
    period = Period(date(2025, 3, 1), date(2025, 4, 1))
    assert period.remaining_days(date(2025, 3, 1)) == 31
    assert period.remaining_days(date(2025, 3, 11)) == 21
    assert period.remaining_days(date(2025, 3, 31)) == 1
    for outside in (date(2025, 4, 1), date(2025, 2, 28)):
        with pytest.raises(ValueError, match="outside"):
            period.remaining_days(outside)


def test_period_containing_a_boundary_day_is_the_new_period() -> None:
    anchor = date(2025, 1, 31)
    assert period_containing(anchor, Frequency.MONTHLY, date(2025, 2, 28)) == Period(
        date(2025, 2, 28), date(2025, 3, 31)
    )
    assert period_containing(anchor, Frequency.MONTHLY, date(2025, 2, 27)) == Period(
        date(2025, 1, 31), date(2025, 2, 28)
    )
    assert period_containing(anchor, Frequency.MONTHLY, date(2025, 3, 30)) == Period(
        date(2025, 2, 28), date(2025, 3, 31)
    )


def test_period_containing_a_day_before_the_anchor() -> None:
    anchor = date(2025, 3, 31)
    assert period_containing(anchor, Frequency.MONTHLY, date(2025, 3, 1)) == Period(
        date(2025, 2, 28), date(2025, 3, 31)
    )
    assert period_containing(anchor, Frequency.ANNUAL, date(2024, 6, 1)) == Period(
        date(2024, 3, 31), date(2025, 3, 31)
    )


# properties across 40 years --------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(anchor=ANCHORS, index=st.integers(min_value=0, max_value=480))
def test_monthly_boundary_day_is_the_anchor_day_clamped_to_month_end(
    anchor: date, index: int
) -> None:
    start = boundary(anchor, Frequency.MONTHLY, index)
    year, month0 = divmod(anchor.year * 12 + anchor.month - 1 + index, 12)
    assert (start.year, start.month) == (year, month0 + 1)
    assert start.day == min(anchor.day, last_day(start.year, start.month))


@settings(max_examples=300, deadline=None)
@given(anchor=ANCHORS, frequency=FREQUENCIES, index=st.integers(min_value=0, max_value=480))
def test_periods_are_contiguous_and_of_a_plausible_length(
    anchor: date, frequency: Frequency, index: int
) -> None:
    this, following = nth_period(anchor, frequency, index), nth_period(anchor, frequency, index + 1)
    assert this.end == following.start
    assert this.start == boundary(anchor, frequency, index)
    if frequency is Frequency.MONTHLY:
        assert 28 <= this.days <= 31
    else:
        assert 365 <= this.days <= 366


@settings(max_examples=300, deadline=None)
@given(
    anchor=ANCHORS,
    frequency=FREQUENCIES,
    day=st.dates(min_value=date(1990, 1, 1), max_value=date(2080, 12, 31)),
)
def test_period_containing_contains_the_day_and_is_an_anniversary_period(
    anchor: date, frequency: Frequency, day: date
) -> None:
    period = period_containing(anchor, frequency, day)
    assert day in period
    # It is one of the anchor's own periods, not any period around the day.
    months = (period.start.year - anchor.year) * 12 + period.start.month - anchor.month
    assert months % frequency.months == 0
    index = months // frequency.months
    assert period == nth_period(anchor, frequency, index)


@settings(max_examples=200, deadline=None)
@given(anchor=ANCHORS, index=st.integers(min_value=0, max_value=480))
def test_every_day_of_a_period_maps_back_to_it(anchor: date, index: int) -> None:
    period = nth_period(anchor, Frequency.MONTHLY, index)
    for offset in (0, 1, period.days - 2, period.days - 1):
        assert period_containing(anchor, Frequency.MONTHLY, period.start + timedelta(offset)) == (
            period
        )


# the cache ---------------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(
    anchor=ANCHORS, frequency=FREQUENCIES, index=st.integers(-30, 60), offset=st.integers(-800, 800)
)
def test_cached_boundaries_are_the_computed_ones(
    anchor: date, frequency: Frequency, index: int, offset: int
) -> None:
    """The boundaries are cached (a run asks for the same ones again and again): a cached
    answer is the one computed afresh, asked once or twice."""
    day = anchor + timedelta(days=offset)
    for _twice in range(2):
        assert add_months(anchor, index) == add_months.__wrapped__(anchor, index)
        assert boundary(anchor, frequency, index) == boundary.__wrapped__(anchor, frequency, index)
        assert nth_period(anchor, frequency, index) == nth_period.__wrapped__(
            anchor, frequency, index
        )
        assert period_containing(anchor, frequency, day) == period_containing.__wrapped__(
            anchor, frequency, day
        )


def test_a_cached_period_cannot_be_changed_by_whoever_got_it() -> None:
    period = nth_period(date(2026, 1, 31), Frequency.MONTHLY, 1)
    with pytest.raises(AttributeError):
        period.start = date(2000, 1, 1)  # type: ignore[misc]
    assert nth_period(date(2026, 1, 31), Frequency.MONTHLY, 1).start == date(2026, 2, 28)
