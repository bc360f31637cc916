"""Day-based proration: R/D of the period price, rounded once per line, half up (R7, R12)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abonnement.domain.money import Money, round_half_up
from abonnement.domain.periods import Frequency, Period, nth_period
from abonnement.domain.proration import Piece, exact_share, prorate, split

JUNE = Period(date(2025, 6, 1), date(2025, 7, 1))  # 30 days


# exact_share and prorate -----------------------------------------------------------------------
def test_exact_share_is_quantity_times_price_times_days_over_period() -> None:
    price = Money.of(3000, "EUR")
    assert exact_share(price, 3, 10, 30) == Decimal(3000)
    assert exact_share(price, 1, 30, 30) == Decimal(3000)
    assert exact_share(price, 5, 0, 30) == Decimal(0)
    assert Decimal("33.333") < exact_share(Money.of(100, "EUR"), 1, 1, 3) < Decimal("33.334")


@pytest.mark.parametrize(
    ("quantity", "days", "period_days", "match"),
    [
        (1, 1, 0, "at least one day"),
        (1, 31, 30, "do not fit"),
        (1, -1, 30, "do not fit"),
        (-1, 10, 30, "negative"),
    ],
)
def test_exact_share_refuses_impossible_inputs(
    quantity: int, days: int, period_days: int, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        exact_share(Money.of(100, "EUR"), quantity, days, period_days)


@pytest.mark.parametrize(
    ("price", "quantity", "days", "period_days", "expected"),
    [
        (100, 1, 1, 3, 33),  # 33.33
        (100, 1, 2, 3, 67),  # 66.67
        (1, 1, 1, 2, 1),  # 0.5 rounds half up
        (3, 1, 1, 2, 2),  # 1.5 rounds half up
        (5, 1, 1, 2, 3),  # 2.5 rounds half up, not to even
        (1250, 7, 12, 31, 3387),  # 3387.096...
    ],
)
def test_prorate_rounds_each_line_once_half_up(
    price: int, quantity: int, days: int, period_days: int, expected: int
) -> None:
    assert prorate(Money.of(price, "EUR"), quantity, days, period_days) == Money.of(expected, "EUR")


def test_prorate_keeps_the_price_currency() -> None:
    assert prorate(Money.of(999, "JPY"), 1, 15, 30) == Money.of(500, "JPY")  # 499.5 -> 500
    assert prorate(Money.of(1001, "KWD"), 1, 1, 2).currency.code == "KWD"


def test_r7_licenses_added_mid_period_are_charged_for_the_days_at_each_quantity() -> None:
    """R7: 100 licenses, 105 from June 11: 10 days at 100 and 20 days at 105."""
    price = Money.of(3000, "EUR")
    pieces = split(JUNE, [(date(2025, 6, 11), 105)], 100)
    assert pieces == [
        Piece(date(2025, 6, 1), date(2025, 6, 11), 100),
        Piece(date(2025, 6, 11), date(2025, 7, 1), 105),
    ]
    lines = [prorate(price, p.quantity, p.days, JUNE.days) for p in pieces]
    assert lines == [Money.of(100_000, "EUR"), Money.of(210_000, "EUR")]


# split -----------------------------------------------------------------------------------------
def test_split_without_changes_is_the_whole_period() -> None:
    assert split(JUNE, [], 7) == [Piece(JUNE.start, JUNE.end, 7)]


def test_split_a_change_on_the_first_day_replaces_the_initial_quantity() -> None:
    assert split(JUNE, [(JUNE.start, 9)], 7) == [Piece(JUNE.start, JUNE.end, 9)]


def test_split_several_changes_on_one_day_keep_the_last() -> None:
    day = date(2025, 6, 20)
    assert split(JUNE, [(day, 3), (day, 12), (day, 5)], 7) == [
        Piece(JUNE.start, day, 7),
        Piece(day, JUNE.end, 5),
    ]


def test_split_sorts_changes_by_day() -> None:
    assert split(JUNE, [(date(2025, 6, 20), 2), (date(2025, 6, 10), 4)], 1) == [
        Piece(date(2025, 6, 1), date(2025, 6, 10), 1),
        Piece(date(2025, 6, 10), date(2025, 6, 20), 4),
        Piece(date(2025, 6, 20), date(2025, 7, 1), 2),
    ]


def test_split_a_change_on_the_last_day_makes_a_one_day_piece() -> None:
    assert split(JUNE, [(date(2025, 6, 30), 2)], 1)[-1] == Piece(
        date(2025, 6, 30), date(2025, 7, 1), 2
    )


@pytest.mark.parametrize("day", [date(2025, 5, 31), date(2025, 7, 1), date(2026, 6, 10)])
def test_split_refuses_changes_outside_the_period(day: date) -> None:
    with pytest.raises(ValueError, match="outside"):
        split(JUNE, [(day, 3)], 1)


# properties ------------------------------------------------------------------------------------
PRICES = st.integers(min_value=0, max_value=10**7)
CODES = st.sampled_from(["EUR", "JPY", "KWD"])
QUANTITIES = st.integers(min_value=0, max_value=500)


@st.composite
def periods(draw: st.DrawFn) -> Period:
    anchor = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2039, 12, 31)))
    frequency = draw(st.sampled_from(list(Frequency)))
    index = draw(st.integers(min_value=0, max_value=24))
    return nth_period(anchor, frequency, index)


@st.composite
def changes_in(
    draw: st.DrawFn, period: Period, quantities: st.SearchStrategy[int]
) -> list[tuple[date, int]]:
    offsets = st.integers(min_value=0, max_value=period.days - 1)
    return draw(
        st.lists(
            st.tuples(offsets.map(lambda o: period.start + timedelta(days=o)), quantities),
            max_size=10,
        )
    )


def quantity_days(period: Period, changes: list[tuple[date, int]], initial: int) -> int:
    """Seat-days counted day by day, independently of `split`."""
    seat_days = 0
    for offset in range(period.days):
        day = period.start + timedelta(days=offset)
        quantity = initial
        for when, new in sorted(changes, key=lambda change: change[0]):
            if when <= day:
                quantity = new
        seat_days += quantity
    return seat_days


@settings(max_examples=200, deadline=None)
@given(data=st.data(), price=PRICES, code=CODES, initial=QUANTITIES, period=periods())
def test_r7_pieces_sum_to_the_seat_days_used_within_one_minor_unit_per_piece(
    data: st.DataObject, price: int, code: str, initial: int, period: Period
) -> None:
    """R7, R12: a sequence of changes in a period charges exactly the seat-days used, give or
    take one minor unit per invoice line."""
    changes = data.draw(changes_in(period, QUANTITIES))
    unit = Money.of(price, code)
    pieces = split(period, changes, initial)

    # the pieces tile the period exactly
    assert pieces[0].start == period.start
    assert pieces[-1].end == period.end
    assert all(a.end == b.start for a, b in itertools.pairwise(pieces))
    assert all(piece.days > 0 for piece in pieces)

    seat_days = quantity_days(period, changes, initial)
    assert sum(piece.quantity * piece.days for piece in pieces) == seat_days

    lines = [prorate(unit, piece.quantity, piece.days, period.days) for piece in pieces]
    charged = sum(line.minor for line in lines)
    exact = Decimal(price) * seat_days / Decimal(period.days)
    whole = round_half_up(exact)
    assert abs(charged - whole) <= len(pieces)
    assert abs(Decimal(charged) - exact) <= Decimal(len(pieces)) / 2
    assert all(line.currency.code == code for line in lines)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), price=PRICES, code=CODES, quantity=QUANTITIES, period=periods())
def test_constant_quantity_pieces_sum_to_price_times_quantity(
    data: st.DataObject, price: int, code: str, quantity: int, period: Period
) -> None:
    """However a period is cut, a constant quantity charges price × quantity (± 1 per piece)."""
    changes = data.draw(changes_in(period, st.just(quantity)))
    pieces = split(period, changes, quantity)
    lines = [prorate(Money.of(price, code), p.quantity, p.days, period.days) for p in pieces]
    charged = sum(line.minor for line in lines)
    assert abs(charged - price * quantity) <= len(pieces)
    if len(pieces) == 1:
        assert charged == price * quantity


@settings(max_examples=300, deadline=None)
@given(
    price=st.integers(min_value=0, max_value=10**7),
    code=st.sampled_from(["NOK", "JPY", "KWD"]),
    quantity=st.integers(min_value=0, max_value=1000),
    period_days=st.integers(min_value=1, max_value=366),
    data=st.data(),
)
def test_a_cached_proration_is_the_one_computed_afresh(
    price: int, code: str, quantity: int, period_days: int, data: st.DataObject
) -> None:
    """`prorate` is cached (a run prices the same periods again and again): asked twice, it
    answers what the rounding of the exact share gives."""
    days = data.draw(st.integers(min_value=0, max_value=period_days))
    unit = Money.of(price, code)
    exact = round_half_up(exact_share(unit, quantity, days, period_days))
    assert prorate(unit, quantity, days, period_days) == Money(exact, unit.currency)
    assert prorate(unit, quantity, days, period_days) == prorate.__wrapped__(
        unit, quantity, days, period_days
    )
