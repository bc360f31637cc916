"""ISO 4217 currencies and their minor-unit exponents."""

from __future__ import annotations

import re

import pytest

from abonnement.domain import currencies
from abonnement.domain.currencies import Currency, UnknownCurrencyError, all_codes, currency


@pytest.mark.parametrize(
    ("code", "exponent"),
    [
        # the seeds' countries and the usual ones
        ("EUR", 2),
        ("NOK", 2),
        ("DKK", 2),
        ("USD", 2),
        ("GBP", 2),
        ("SEK", 2),
        # zero-decimal
        ("JPY", 0),
        ("KRW", 0),
        ("ISK", 0),
        ("CLP", 0),
        ("VND", 0),
        ("XOF", 0),
        # three-decimal
        ("KWD", 3),
        ("BHD", 3),
        ("JOD", 3),
        ("OMR", 3),
        ("TND", 3),
        ("IQD", 3),
        ("LYD", 3),
        # four-decimal units of account
        ("CLF", 4),
        ("UYW", 4),
    ],
)
def test_exponent_of_known_currencies(code: str, exponent: int) -> None:
    found = currency(code)
    assert found.code == code
    assert found.exponent == exponent
    assert str(found) == code


@pytest.mark.parametrize("written", ["eur", " EUR ", "Eur", "eur\n"])
def test_codes_are_case_insensitive_and_trimmed(written: str) -> None:
    assert currency(written) == Currency("EUR", 2)


def test_the_same_code_gives_the_same_currency() -> None:
    assert currency("nok") is currency("NOK")


@pytest.mark.parametrize("code", ["XYZ", "EURO", "EU", "", "XAU", "XXX", "HRK"])
def test_unknown_codes_raise(code: str) -> None:
    with pytest.raises(UnknownCurrencyError) as caught:
        currency(code)
    assert isinstance(caught.value, ValueError)
    assert caught.value.code == code.strip().upper()


def test_an_unknown_code_stays_unknown_after_a_failed_lookup() -> None:
    for _ in range(2):
        with pytest.raises(UnknownCurrencyError):
            currency("QQQ")


@pytest.mark.parametrize("not_a_code", [None, 978, b"EUR"])
def test_non_strings_raise_unknown_currency(not_a_code: object) -> None:
    with pytest.raises(UnknownCurrencyError):
        currency(not_a_code)  # type: ignore[arg-type]


def test_every_known_code_is_three_capital_letters_and_resolves() -> None:
    codes = all_codes()
    assert len(codes) > 150
    for code in codes:
        assert re.fullmatch(r"[A-Z]{3}", code), code
        assert currency(code).exponent in (0, 2, 3, 4)


def test_no_code_has_two_exponents() -> None:
    groups = [
        currencies._ZERO_DECIMAL,
        currencies._TWO_DECIMAL,
        currencies._THREE_DECIMAL,
        currencies._FOUR_DECIMAL,
    ]
    assert sum(len(group) for group in groups) == len(all_codes())
