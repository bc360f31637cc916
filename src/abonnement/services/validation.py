"""Checks of caller input that every adapter shares, each failing with INVALID_INPUT and the
field's name, before anything is written."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale

from abonnement.domain.currencies import UnknownCurrencyError, currency
from abonnement.domain.errors import Code, error

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
# CLDR territories with two letters, less its groupings and pseudo-regions (ZZ is "Unknown").
_NOT_COUNTRIES = {"EU", "EZ", "QO", "UN", "XA", "XB", "ZZ"}
_COUNTRIES = (
    frozenset(t for t in Locale("en").territories if isinstance(t, str) and len(t) == 2)
    - _NOT_COUNTRIES
)
LOCALES = ("en", "nb", "nl", "da")


def bad(field: str, problem: str) -> Exception:
    return error(Code.INVALID_INPUT, field=field, problem=problem)


def text(field: str, value: str, *, max_length: int = 200) -> str:
    cleaned = (value or "").strip()
    if not cleaned:
        raise bad(field, "it is empty")
    if len(cleaned) > max_length:
        raise bad(field, f"it is longer than {max_length} characters")
    return cleaned


def code(field: str, value: str) -> str:
    cleaned = (value or "").strip()
    if not _CODE.match(cleaned):
        raise bad(field, "use 1-64 letters, digits, '.', '_' or '-'")
    return cleaned


def email(value: str) -> str:
    cleaned = (value or "").strip().lower()
    if len(cleaned) > 254 or not _EMAIL.match(cleaned):
        raise bad("email", "it is not an e-mail address")
    return cleaned


def country(value: str) -> str:
    cleaned = (value or "").strip().upper()
    if len(cleaned) != 2 or cleaned not in _COUNTRIES:
        raise bad("country", "use a two-letter ISO 3166 country code")
    return cleaned


def currency_code(value: str, field: str = "currency") -> str:
    try:
        return currency(value).code
    except UnknownCurrencyError:
        raise bad(field, "use an ISO 4217 currency code") from None


def time_zone(value: str) -> str:
    cleaned = (value or "").strip()
    try:
        ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad("time_zone", "use an IANA time zone such as Europe/Oslo") from None
    return cleaned


def locale(value: str | None, field: str = "locale") -> str:
    cleaned = (value or "").strip().lower().replace("-", "_").split("_")[0]
    aliases = {"no": "nb", "nn": "nb"}
    cleaned = aliases.get(cleaned, cleaned)
    if cleaned not in LOCALES:
        raise bad(field, "use en, nb, nl or da")
    return cleaned


def positive(field: str, value: int, *, maximum: int = 1_000_000) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
        raise bad(field, f"use a whole number from 1 to {maximum}")
    return value


def non_negative(field: str, value: int, *, maximum: int = 1_000_000) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise bad(field, f"use a whole number from 0 to {maximum}")
    return value
