"""One Money type: an integer amount in the currency's minor unit plus the currency.

Floats never enter. Arithmetic across currencies is an error. Intermediate maths happens in
`Decimal` and comes back to minor units through `round_half_up`, the only rounding function of
the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Self

from abonnement.domain.currencies import Currency, currency


class CurrencyMismatchError(ValueError):
    """Two amounts in different currencies were combined."""

    def __init__(self, left: Currency, right: Currency) -> None:
        super().__init__(f"cannot combine {left.code} and {right.code}")
        self.left = left
        self.right = right


def round_half_up(value: Decimal) -> int:
    """Round a Decimal number of minor units to an integer, halves away from zero.

    This is the engine's one rounding function: every invoice line is rounded here, once.
    """
    if not isinstance(value, Decimal):
        raise TypeError(f"round_half_up takes a Decimal, not {type(value).__name__}")
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """An exact amount: `minor` units (cents, øre, yen) of `currency`."""

    minor: int
    currency: Currency

    def __post_init__(self) -> None:
        # bool is an int subclass; refuse it along with floats and Decimals.
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise TypeError(f"Money takes integer minor units, not {type(self.minor).__name__}")
        if not isinstance(self.currency, Currency):
            raise TypeError("Money needs a Currency")

    # construction -------------------------------------------------------------------------
    @classmethod
    def of(cls, minor: int, code: str) -> Self:
        """Money from minor units and an ISO 4217 code: `Money.of(1250, "EUR")` is €12.50."""
        return cls(minor, currency(code))

    @classmethod
    def zero(cls, cur: Currency | str) -> Self:
        return cls(0, cur if isinstance(cur, Currency) else currency(cur))

    @classmethod
    def parse(cls, major: str | Decimal, code: str) -> Self:
        """Money from a major-unit amount written exactly ("12.50"), refusing sub-minor digits."""
        if isinstance(major, float):
            raise TypeError("Money never takes a float")
        cur = currency(code)
        try:
            value = Decimal(major) if isinstance(major, str) else major
        except ArithmeticError as exc:  # decimal.InvalidOperation: not a number at all
            raise ValueError(f"not an amount: {major!r}") from exc
        if not value.is_finite():
            raise ValueError(f"not a finite amount: {major!r}")
        scaled = value.scaleb(cur.exponent)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{major} has more decimals than {cur.code} allows ({cur.exponent})")
        return cls(int(scaled), cur)

    @classmethod
    def from_decimal_minor(cls, minor: Decimal, cur: Currency) -> Self:
        """Money from an exact Decimal number of minor units, rounded once, half up."""
        return cls(round_half_up(minor), cur)

    # views --------------------------------------------------------------------------------
    @property
    def major(self) -> Decimal:
        """The amount in major units as an exact Decimal (for display and export)."""
        return Decimal(self.minor).scaleb(-self.currency.exponent)

    def __str__(self) -> str:
        return f"{self.major:.{self.currency.exponent}f} {self.currency.code}"

    # arithmetic ---------------------------------------------------------------------------
    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatchError(self.currency, other.currency)

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __mul__(self, factor: int) -> Money:
        if not isinstance(factor, int) or isinstance(factor, bool):
            raise TypeError("Money multiplies by an integer only; use Decimal maths and round once")
        return Money(self.minor * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.minor >= other.minor

    def is_zero(self) -> bool:
        return self.minor == 0


def total(amounts: list[Money], cur: Currency) -> Money:
    """The sum of amounts, all in `cur` (an empty list is zero)."""
    result = Money(0, cur)
    for amount in amounts:
        result = result + amount
    return result
