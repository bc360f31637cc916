"""Tokenizing cards and bank accounts: what is accepted, what is refused, what is kept."""

from __future__ import annotations

from datetime import date

import pytest

from abonnement.payments import (
    InputProblem,
    PaymentField,
    PaymentInputError,
    PaymentMethodKind,
    SandboxProcessor,
)

from .conftest import TODAY, card

NUMBER = "4242424242424242"


def test_card_token_keeps_no_number_and_describes_the_card(sandbox: SandboxProcessor) -> None:
    method = sandbox.tokenize_card("4242 4242 4242 4242", 12, 2030, "123", today=TODAY)
    assert method.kind is PaymentMethodKind.CARD
    assert method.label == "Visa •••• 4242"
    assert method.brand == "visa"
    assert method.last4 == "4242"
    assert (method.exp_month, method.exp_year) == (12, 2030)
    assert NUMBER not in method.token
    assert "424242" not in method.token
    assert "123" not in method.token.split("_")
    assert len(method.token) <= 200


def test_each_tokenization_gives_a_new_token(sandbox: SandboxProcessor) -> None:
    assert card(sandbox).token != card(sandbox).token


@pytest.mark.parametrize(
    ("number", "brand", "label"),
    [
        ("5555555555554444", "mastercard", "Mastercard •••• 4444"),
        ("2223003122003222", "mastercard", "Mastercard •••• 3222"),
        ("378282246310005", "amex", "American Express •••• 0005"),
        ("6011111111111117", "discover", "Discover •••• 1117"),
        ("3566002020360505", None, "Card •••• 0505"),
    ],
)
def test_card_brands(sandbox: SandboxProcessor, number: str, brand: str | None, label: str) -> None:
    method = sandbox.tokenize_card(number, 1, 2031, "1234", today=TODAY)
    assert (method.brand, method.label) == (brand, label)


def test_two_digit_expiry_years_mean_this_century(sandbox: SandboxProcessor) -> None:
    assert sandbox.tokenize_card(NUMBER, 5, 29, "123", today=TODAY).exp_year == 2029


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("4242424242424241", InputProblem.CHECKSUM),  # bad Luhn
        ("4000000000000001", InputProblem.CHECKSUM),
        ("4242-4242-4242-424X", InputProblem.NOT_DIGITS),
        ("٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢", InputProblem.NOT_DIGITS),  # non-ASCII digits
        ("42424242426", InputProblem.WRONG_LENGTH),  # 11 digits
        ("4" * 19 + "42", InputProblem.WRONG_LENGTH),  # 21 digits
        ("", InputProblem.MISSING),
        ("  ", InputProblem.MISSING),
    ],
)
def test_bad_card_numbers_are_refused(
    sandbox: SandboxProcessor, number: str, problem: InputProblem
) -> None:
    with pytest.raises(PaymentInputError) as caught:
        sandbox.tokenize_card(number, 12, 2030, "123", today=TODAY)
    assert (caught.value.field, caught.value.problem) == (PaymentField.NUMBER, problem)
    if len(number) > 10:
        assert number not in str(caught.value)  # the message never repeats the number


def test_twelve_and_nineteen_digit_numbers_are_accepted(sandbox: SandboxProcessor) -> None:
    from stdnum import luhn

    for body in ("41111111111", "411111111111111111"):
        number = body + luhn.calc_check_digit(body)
        assert sandbox.tokenize_card(number, 1, 2030, "123", today=TODAY).last4 == number[-4:]


@pytest.mark.parametrize(
    ("month", "year", "today", "field"),
    [
        (2, 2026, date(2026, 3, 15), PaymentField.EXP_MONTH),  # last month
        (12, 2025, date(2026, 3, 15), PaymentField.EXP_YEAR),  # last year
        (12, 25, date(2026, 1, 1), PaymentField.EXP_YEAR),
        (3, 2026, date(2026, 4, 1), PaymentField.EXP_MONTH),  # expired the day before
    ],
)
def test_expired_cards_are_refused_relative_to_the_injected_date(
    sandbox: SandboxProcessor, month: int, year: int, today: date, field: PaymentField
) -> None:
    with pytest.raises(PaymentInputError) as caught:
        sandbox.tokenize_card(NUMBER, month, year, "123", today=today)
    assert (caught.value.field, caught.value.problem) == (field, InputProblem.EXPIRED)


def test_a_card_is_valid_through_the_end_of_its_expiry_month(sandbox: SandboxProcessor) -> None:
    method = sandbox.tokenize_card(NUMBER, 3, 2026, "123", today=date(2026, 3, 31))
    assert (method.exp_month, method.exp_year) == (3, 2026)
    # the same card tokenized "a year earlier" is fine too: only the injected date counts
    sandbox.tokenize_card(NUMBER, 3, 2026, "123", today=date(2025, 3, 1))


@pytest.mark.parametrize(
    ("month", "year", "field"),
    [
        (0, 2030, PaymentField.EXP_MONTH),
        (13, 2030, PaymentField.EXP_MONTH),
        (True, 2030, PaymentField.EXP_MONTH),
        (12, 2060, PaymentField.EXP_YEAR),
        (12, -1, PaymentField.EXP_YEAR),
    ],
)
def test_impossible_expiry_dates_are_refused(
    sandbox: SandboxProcessor, month: int, year: int, field: PaymentField
) -> None:
    with pytest.raises(PaymentInputError) as caught:
        sandbox.tokenize_card(NUMBER, month, year, "123", today=TODAY)
    assert (caught.value.field, caught.value.problem) == (field, InputProblem.OUT_OF_RANGE)


@pytest.mark.parametrize(
    ("cvc", "problem"),
    [
        ("12", InputProblem.WRONG_LENGTH),
        ("12345", InputProblem.WRONG_LENGTH),
        ("12a", InputProblem.NOT_DIGITS),
        (" 123", InputProblem.NOT_DIGITS),
        ("", InputProblem.MISSING),
        (123, InputProblem.INVALID_FORMAT),
    ],
)
def test_bad_cvcs_are_refused(sandbox: SandboxProcessor, cvc: str, problem: InputProblem) -> None:
    with pytest.raises(PaymentInputError) as caught:
        sandbox.tokenize_card(NUMBER, 12, 2030, cvc, today=TODAY)
    assert (caught.value.field, caught.value.problem) == (PaymentField.CVC, problem)


def test_input_errors_are_value_errors(sandbox: SandboxProcessor) -> None:
    with pytest.raises(ValueError, match="invalid cvc"):
        sandbox.tokenize_card(NUMBER, 12, 2030, "1", today=TODAY)


def test_bank_account_token_keeps_country_and_last_digits_only(sandbox: SandboxProcessor) -> None:
    method = sandbox.tokenize_bank_account("nl91 abna 0417 1643 00", "  J.  Jansen ")
    assert method.kind is PaymentMethodKind.BANK_ACCOUNT
    assert method.label == "IBAN •••• 4300"
    assert (method.country, method.last4, method.brand) == ("NL", "4300", None)
    assert "0417164300" not in method.token
    assert method.token.startswith("sbx_bank_ok_")


@pytest.mark.parametrize(
    ("iban", "problem"),
    [
        ("NL91ABNA0417164301", InputProblem.CHECKSUM),
        ("NL91ABNA041716430", InputProblem.CHECKSUM),
        ("NL9!ABNA0417164300", InputProblem.INVALID_FORMAT),
        ("", InputProblem.MISSING),
        ("   ", InputProblem.MISSING),
    ],
)
def test_bad_ibans_are_refused(sandbox: SandboxProcessor, iban: str, problem: InputProblem) -> None:
    with pytest.raises(PaymentInputError) as caught:
        sandbox.tokenize_bank_account(iban, "J. Jansen")
    assert (caught.value.field, caught.value.problem) == (PaymentField.IBAN, problem)


@pytest.mark.parametrize(
    ("holder", "problem"),
    [("", InputProblem.MISSING), (" ", InputProblem.MISSING), ("x" * 71, InputProblem.TOO_LONG)],
)
def test_bank_account_needs_a_holder(
    sandbox: SandboxProcessor, holder: str, problem: InputProblem
) -> None:
    with pytest.raises(PaymentInputError) as caught:
        sandbox.tokenize_bank_account("NL91ABNA0417164300", holder)
    assert (caught.value.field, caught.value.problem) == (PaymentField.HOLDER, problem)
