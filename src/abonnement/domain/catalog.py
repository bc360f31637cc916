"""The catalog: products (SKUs) with their service plans, and the offers that sell them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from abonnement.domain.money import Money
from abonnement.domain.periods import Frequency


class PurchaseChannel(StrEnum):
    """How a subscription was bought, which decides who may change it."""

    ONLINE = "online"  # bought here, paid by a payment method on file
    PREPAID = "prepaid"  # activated with 25-character product keys
    RESELLER = "reseller"  # a partner owns the commerce
    VOLUME = "volume"  # a Volume Licensing agreement owns the commerce


class CancellationModel(StrEnum):
    """Classic: remove licenses or cancel at any time, unused time credited.
    Windowed: reductions and cancellation with refund only inside a window after buying, renewing
    or adding licenses; afterwards reductions wait for renewal and cancelling ends at term end."""

    CLASSIC = "classic"
    WINDOWED = "windowed"


@dataclass(frozen=True, slots=True)
class ServicePlan:
    """One app or service inside a product, e.g. Exchange Online inside Business Standard."""

    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    service_plans: tuple[ServicePlan, ...] = ()


@dataclass(frozen=True, slots=True)
class TrialTerms:
    days: int = 30
    licenses: int = 25
    extension_days: int = 30
    extend_within_days: int = 15


@dataclass(frozen=True, slots=True)
class Offer:
    """A product's price per license per billing period, with its terms and policies."""

    code: str
    product_sku: str
    name: str
    prices: Mapping[str, Money]  # ISO code -> price per license per billing period
    term: Frequency = Frequency.MONTHLY
    billing_frequency: Frequency = Frequency.MONTHLY
    trial: TrialTerms | None = None
    cancellation_model: CancellationModel = CancellationModel.CLASSIC
    cancellation_window_days: int = 7
    online_cancel_limit: int = 25
    channels: frozenset[PurchaseChannel] = field(default_factory=lambda: frozenset(PurchaseChannel))
    end_of_sale: bool = False
    min_quantity: int = 1
    max_quantity: int = 100_000
    expired_days: int = 30
    disabled_days: int = 90

    def __post_init__(self) -> None:
        if self.billing_frequency.months > self.term.months:
            raise ValueError("an offer cannot bill less often than its term renews")
        for code, price in self.prices.items():
            if price.currency.code != code:
                raise ValueError(f"price for {code} is in {price.currency.code}")
            if price.minor < 0:
                raise ValueError("prices cannot be negative")
        if not 1 <= self.min_quantity <= self.max_quantity:
            raise ValueError("quantity bounds must satisfy 1 <= min <= max")
        if self.cancellation_window_days < 0 or self.online_cancel_limit < 0:
            raise ValueError("window and limit cannot be negative")

    def price(self, currency_code: str) -> Money | None:
        """The price per license per billing period in a currency, or None when not offered."""
        return self.prices.get(currency_code)

    def allows(self, channel: PurchaseChannel) -> bool:
        return channel in self.channels
