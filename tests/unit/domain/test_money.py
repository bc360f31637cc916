"""Money: integer minor units plus a currency; no floats, no mixed currencies, one rounding."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abonnement.domain.currencies import UnknownCurrencyError, currency
from abonnement.domain.money import CurrencyMismatchError, Money, round_half_up, total

EUR = currency("EUR")
JPY = currency("JPY")
KWD = currency("KWD")
BHD = currency("BHD")


# construction ----------------------------------------------------------------------------------
def test_of_builds_minor_units_in_the_named_currency() -> None:
    price = Money.of(1250, "EUR")
    assert price.minor == 1250
    assert price.currency is EUR
    assert price.major == Decimal("12.50")


def test_of_takes_the_code_case_insensitively() -> None:
    assert Money.of(5, "eur") == Money.of(5, "EUR")


@pytest.mark.parametrize("bad", [12.5, 1.0, Decimal("12"), "12", None])
def test_money_refuses_non_integer_minor_units(bad: object) -> None:
    with pytest.raises(TypeError):
        Money(bad, EUR)  # type: ignore[arg-type]


@pytest.mark.parametrize("flag", [True, False])
def test_money_refuses_bools_although_bool_is_an_int(flag: bool) -> None:
    with pytest.raises(TypeError):
        Money(flag, EUR)


def test_money_refuses_a_currency_code_string_instead_of_a_currency() -> None:
    with pytest.raises(TypeError):
        Money(100, "EUR")  # type: ignore[arg-type]


def test_money_is_immutable() -> None:
    price = Money.of(100, "EUR")
    with pytest.raises(FrozenInstanceError):
        price.minor = 200  # type: ignore[misc]


def test_zero_accepts_a_currency_or_a_code() -> None:
    assert Money.zero("JPY") == Money(0, JPY)
    assert Money.zero(KWD) == Money(0, KWD)
    assert Money.zero("EUR").is_zero()
    assert not Money.of(1, "EUR").is_zero()


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(UnknownCurrencyError):
        Money.of(100, "XYZ")


# parse -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "code", "minor"),
    [
        ("12.50", "EUR", 1250),
        ("12.5", "EUR", 1250),
        ("12", "EUR", 1200),
        ("0.01", "EUR", 1),
        ("-0.01", "EUR", -1),
        (" 7.00 ", "EUR", 700),
        ("1200", "JPY", 1200),
        ("12.345", "KWD", 12345),
        ("0.001", "BHD", 1),
        ("12.3", "KWD", 12300),
    ],
)
def test_parse_reads_an_exact_major_amount(text: str, code: str, minor: int) -> None:
    assert Money.parse(text, code) == Money.of(minor, code)


def test_parse_takes_a_decimal() -> None:
    assert Money.parse(Decimal("3.99"), "EUR") == Money.of(399, "EUR")


def test_parse_refuses_a_float() -> None:
    with pytest.raises(TypeError):
        Money.parse(12.5, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("12.345", "EUR"),  # three decimals in a two-decimal currency
        ("0.001", "EUR"),
        ("12.5", "JPY"),  # any decimal in a zero-decimal currency
        ("1.2345", "KWD"),  # four decimals in a three-decimal currency
        ("1.2345", "BHD"),
    ],
)
def test_parse_refuses_digits_below_the_minor_unit(text: str, code: str) -> None:
    with pytest.raises(ValueError, match="more decimals"):
        Money.parse(text, code)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "abc", "", "12,50", "1.2.3"])
def test_parse_refuses_what_is_not_a_finite_amount_with_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a finite amount|not an amount"):
        Money.parse(text, "EUR")


@settings(max_examples=300, deadline=None)
@given(
    minor=st.integers(min_value=-(10**12), max_value=10**12),
    code=st.sampled_from(["EUR", "JPY", "KWD", "BHD", "CLF", "NOK", "DKK"]),
)
def test_parse_of_the_major_view_gives_back_the_same_money(minor: int, code: str) -> None:
    money = Money.of(minor, code)
    assert Money.parse(str(money.major), code) == money
    assert Money.parse(str(money).split()[0], code) == money


# zero- and three-decimal currencies ------------------------------------------------------------
def test_zero_decimal_currency_has_no_minor_digits() -> None:
    yen = Money.of(1200, "JPY")
    assert yen.major == Decimal(1200)
    assert str(yen) == "1200 JPY"


@pytest.mark.parametrize("code", ["KWD", "BHD"])
def test_three_decimal_currencies_show_three_decimals(code: str) -> None:
    amount = Money.of(12345, code)
    assert amount.major == Decimal("12.345")
    assert str(amount) == f"12.345 {code}"


@pytest.mark.parametrize(
    ("minor", "code", "shown"),
    [
        (1250, "EUR", "12.50 EUR"),
        (-1, "EUR", "-0.01 EUR"),
        (0, "EUR", "0.00 EUR"),
        (-1, "KWD", "-0.001 KWD"),
    ],
)
def test_str_shows_every_minor_digit(minor: int, code: str, shown: str) -> None:
    assert str(Money.of(minor, code)) == shown


# arithmetic ------------------------------------------------------------------------------------
def test_add_sub_neg_in_one_currency() -> None:
    a, b = Money.of(1250, "EUR"), Money.of(399, "EUR")
    assert a + b == Money.of(1649, "EUR")
    assert a - b == Money.of(851, "EUR")
    assert b - a == Money.of(-851, "EUR")
    assert -a == Money.of(-1250, "EUR")


def test_multiply_by_an_integer_count_of_licenses() -> None:
    price = Money.of(1250, "EUR")
    assert price * 3 == Money.of(3750, "EUR")
    assert 3 * price == Money.of(3750, "EUR")
    assert price * 0 == Money.of(0, "EUR")


@pytest.mark.parametrize("factor", [1.5, Decimal("1.5"), True, "2"])
def test_multiply_refuses_anything_but_an_integer(factor: object) -> None:
    with pytest.raises(TypeError):
        Money.of(100, "EUR") * factor  # type: ignore[operator]


def test_combining_two_currencies_is_refused() -> None:
    eur, nok = Money.of(100, "EUR"), Money.of(100, "NOK")
    for combine in (
        lambda: eur + nok,
        lambda: eur - nok,
        lambda: eur < nok,
        lambda: eur <= nok,
        lambda: eur > nok,
        lambda: eur >= nok,
    ):
        with pytest.raises(CurrencyMismatchError) as caught:
            combine()
        assert caught.value.left.code == "EUR"
        assert caught.value.right.code == "NOK"
        assert isinstance(caught.value, ValueError)


def test_combining_with_a_plain_number_is_refused() -> None:
    with pytest.raises(TypeError):
        Money.of(100, "EUR") + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money.of(100, "EUR") < 1  # type: ignore[operator]  # noqa: B015


def test_comparisons_in_one_currency() -> None:
    small, big = Money.of(1, "EUR"), Money.of(2, "EUR")
    assert small < big
    assert small <= big
    assert small <= Money.of(1, "EUR")
    assert big > small
    assert big >= small
    assert not big < small


def test_equal_amounts_in_different_currencies_are_not_equal() -> None:
    assert Money.of(100, "EUR") != Money.of(100, "NOK")
    assert Money.of(100, "EUR") == Money.of(100, "EUR")
    assert hash(Money.of(100, "EUR")) == hash(Money.of(100, "EUR"))


def test_total_sums_one_currency_and_empty_is_zero() -> None:
    assert total([], EUR) == Money(0, EUR)
    assert total([Money.of(1, "EUR"), Money.of(2, "EUR"), Money.of(-4, "EUR")], EUR) == Money.of(
        -1, "EUR"
    )


def test_total_refuses_a_foreign_amount() -> None:
    with pytest.raises(CurrencyMismatchError):
        total([Money.of(1, "EUR"), Money.of(1, "DKK")], EUR)
    with pytest.raises(CurrencyMismatchError):
        total([Money.of(1, "DKK")], EUR)


# rounding --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        ("2.5", 3),
        ("-2.5", -3),
        ("0.5", 1),
        ("-0.5", -1),
        ("1.5", 2),  # not banker's rounding (which would give 2 here and 2 for 2.5)
        ("3.5", 4),
        ("2.4999999", 2),
        ("-2.4999999", -2),
        ("2.5000001", 3),
        ("0", 0),
        ("7", 7),
        ("1249.5", 1250),
    ],
)
def test_round_half_up_rounds_halves_away_from_zero(value: str, rounded: int) -> None:
    assert round_half_up(Decimal(value)) == rounded


@pytest.mark.parametrize("bad", [2.5, 2, "2.5"])
def test_round_half_up_takes_only_a_decimal(bad: object) -> None:
    with pytest.raises(TypeError):
        round_half_up(bad)  # type: ignore[arg-type]


def test_from_decimal_minor_rounds_once_half_up() -> None:
    assert Money.from_decimal_minor(Decimal("1249.5"), EUR) == Money.of(1250, "EUR")
    assert Money.from_decimal_minor(Decimal("-1249.5"), EUR) == Money.of(-1250, "EUR")
    assert Money.from_decimal_minor(Decimal("99.4"), JPY) == Money.of(99, "JPY")


@settings(max_examples=300, deadline=None)
@given(
    whole=st.integers(min_value=-(10**9), max_value=10**9),
    tenths=st.integers(min_value=0, max_value=9),
)
def test_round_half_up_is_within_half_a_unit_and_symmetric(whole: int, tenths: int) -> None:
    value = Decimal(whole) + Decimal(tenths) / 10 * (1 if whole >= 0 else -1)
    rounded = round_half_up(value)
    assert abs(Decimal(rounded) - value) <= Decimal("0.5")
    assert round_half_up(-value) == -rounded
