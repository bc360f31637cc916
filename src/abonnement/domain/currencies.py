"""ISO 4217 currencies and their minor-unit exponents.

The table lists the active codes of ISO 4217 (list one). Most have two decimals; the exceptions are
named explicitly below, so adding a code means deciding its exponent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

_ZERO_DECIMAL: Final = frozenset(
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split()
)
_THREE_DECIMAL: Final = frozenset("BHD IQD JOD KWD LYD OMR TND".split())
_FOUR_DECIMAL: Final = frozenset("CLF UYW".split())
_TWO_DECIMAL: Final = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN
    BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
    GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP
    LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR
    NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN
    SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR
    ZMW ZWG
    """.split()
)


class UnknownCurrencyError(ValueError):
    """Raised for a code that is not an active ISO 4217 currency."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown currency {code!r}")
        self.code = code


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 currency: its three-letter code and how many decimals its minor unit has."""

    code: str
    exponent: int

    def __str__(self) -> str:
        return self.code


def _exponent(code: str) -> int:
    if code in _TWO_DECIMAL:
        return 2
    if code in _ZERO_DECIMAL:
        return 0
    if code in _THREE_DECIMAL:
        return 3
    if code in _FOUR_DECIMAL:
        return 4
    raise UnknownCurrencyError(code)


_CACHE: dict[str, Currency] = {}


def currency(code: str) -> Currency:
    """The currency for an ISO 4217 code (case-insensitive). Unknown codes raise."""
    if not isinstance(code, str):
        raise UnknownCurrencyError(repr(code))
    key = code.strip().upper()
    found = _CACHE.get(key)
    if found is None:
        found = Currency(key, _exponent(key))
        _CACHE[key] = found
    return found


def all_codes() -> frozenset[str]:
    """Every active code this table knows."""
    return _TWO_DECIMAL | _ZERO_DECIMAL | _THREE_DECIMAL | _FOUR_DECIMAL
