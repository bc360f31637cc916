"""Checks of raw payment details before they are tokenized: card numbers (Luhn, brand),
expiry dates, CVCs, IBANs and account holders. Each refusal is a `PaymentInputError` naming the
field and the problem; no message ever repeats a card number."""

from __future__ import annotations

import re
from datetime import date
from typing import Final

from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

from abonnement.payments.base import InputProblem, PaymentField, PaymentInputError

MAX_HOLDER_LENGTH: Final = 70  # SEPA's limit for a debtor name
MAX_EXPIRY_YEARS: Final = 20  # how far ahead an expiry date may lie

BRANDS: Final[tuple[tuple[str, str], ...]] = (
    ("visa", "Visa"),
    ("mastercard", "Mastercard"),
    ("amex", "American Express"),
    ("discover", "Discover"),
)
BRAND_NAMES: Final = dict(BRANDS)
_DIGITS_RE: Final = re.compile(r"[0-9]+")


def card_brand(digits: str) -> str | None:
    if digits.startswith("4"):
        return "visa"
    two, four = int(digits[:2]), int(digits[:4])
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard"
    if two in (34, 37):
        return "amex"
    if digits.startswith(("6011", "65")) or 644 <= int(digits[:3]) <= 649:
        return "discover"
    return None


def card_number(number: str) -> str:
    if not isinstance(number, str):
        raise PaymentInputError(PaymentField.NUMBER, InputProblem.INVALID_FORMAT)
    digits = number.replace(" ", "").replace("-", "")
    if not digits:
        raise PaymentInputError(PaymentField.NUMBER, InputProblem.MISSING)
    if _DIGITS_RE.fullmatch(digits) is None:
        raise PaymentInputError(PaymentField.NUMBER, InputProblem.NOT_DIGITS)
    if not 12 <= len(digits) <= 19:
        raise PaymentInputError(PaymentField.NUMBER, InputProblem.WRONG_LENGTH)
    if not luhn.is_valid(digits):
        raise PaymentInputError(PaymentField.NUMBER, InputProblem.CHECKSUM)
    return digits


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def expiry(exp_month: int, exp_year: int, today: date) -> tuple[int, int]:
    if not is_int(exp_month) or not 1 <= exp_month <= 12:
        raise PaymentInputError(PaymentField.EXP_MONTH, InputProblem.OUT_OF_RANGE)
    if not is_int(exp_year) or exp_year < 0:
        raise PaymentInputError(PaymentField.EXP_YEAR, InputProblem.OUT_OF_RANGE)
    year = 2000 + exp_year if exp_year < 100 else exp_year
    if year < today.year:
        raise PaymentInputError(PaymentField.EXP_YEAR, InputProblem.EXPIRED)
    if year == today.year and exp_month < today.month:
        raise PaymentInputError(PaymentField.EXP_MONTH, InputProblem.EXPIRED)
    if year > today.year + MAX_EXPIRY_YEARS:
        raise PaymentInputError(PaymentField.EXP_YEAR, InputProblem.OUT_OF_RANGE)
    return exp_month, year


def cvc(cvc: str) -> None:
    if not isinstance(cvc, str):
        raise PaymentInputError(PaymentField.CVC, InputProblem.INVALID_FORMAT)
    if not cvc:
        raise PaymentInputError(PaymentField.CVC, InputProblem.MISSING)
    if _DIGITS_RE.fullmatch(cvc) is None:
        raise PaymentInputError(PaymentField.CVC, InputProblem.NOT_DIGITS)
    if not 3 <= len(cvc) <= 4:
        raise PaymentInputError(PaymentField.CVC, InputProblem.WRONG_LENGTH)


_IBAN_PROBLEMS: Final[tuple[tuple[type[ValidationError], InputProblem], ...]] = (
    (InvalidChecksum, InputProblem.CHECKSUM),
    (InvalidLength, InputProblem.WRONG_LENGTH),
    (InvalidFormat, InputProblem.INVALID_FORMAT),
    (InvalidComponent, InputProblem.INVALID_FORMAT),
)


def iban(value: str) -> str:
    if not isinstance(value, str):
        raise PaymentInputError(PaymentField.IBAN, InputProblem.INVALID_FORMAT)
    compact = stdnum_iban.compact(value)
    if not compact:
        raise PaymentInputError(PaymentField.IBAN, InputProblem.MISSING)
    try:
        return stdnum_iban.validate(compact)
    except ValidationError as exc:
        for kind, problem in _IBAN_PROBLEMS:
            if isinstance(exc, kind):
                raise PaymentInputError(PaymentField.IBAN, problem) from None
        raise PaymentInputError(PaymentField.IBAN, InputProblem.INVALID_FORMAT) from None


def holder(value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PaymentInputError(PaymentField.HOLDER, InputProblem.MISSING)
    holder = " ".join(value.split())
    if len(holder) > MAX_HOLDER_LENGTH:
        raise PaymentInputError(PaymentField.HOLDER, InputProblem.TOO_LONG)
    return holder
