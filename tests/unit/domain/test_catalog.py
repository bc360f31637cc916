"""The catalog: products, service plans and offers with their terms and policies."""

from __future__ import annotations

from typing import Any

import pytest

from abonnement.domain.catalog import (
    CancellationModel,
    Offer,
    Product,
    PurchaseChannel,
    ServicePlan,
    TrialTerms,
)
from abonnement.domain.money import Money
from abonnement.domain.periods import Frequency


def make_offer(**overrides: Any) -> Offer:
    fields: dict[str, Any] = {
        "code": "bs-monthly",
        "product_sku": "BUS-STD",
        "name": "Business Standard",
        "prices": {"EUR": Money.of(1250, "EUR"), "NOK": Money.of(14000, "NOK")},
    }
    fields.update(overrides)
    return Offer(**fields)


def test_product_has_service_plans() -> None:
    exchange = ServicePlan("EXCHANGE_S_STANDARD", "Exchange Online")
    product = Product("BUS-STD", "Business Standard", (exchange,))
    assert product.service_plans == (exchange,)
    assert Product("X", "X").service_plans == ()


def test_offer_defaults() -> None:
    offer = make_offer()
    assert offer.term is Frequency.MONTHLY
    assert offer.billing_frequency is Frequency.MONTHLY
    assert offer.trial is None
    assert offer.cancellation_model is CancellationModel.CLASSIC
    assert offer.channels == frozenset(PurchaseChannel)
    assert not offer.end_of_sale
    assert (offer.min_quantity, offer.max_quantity) == (1, 100_000)
    assert (offer.expired_days, offer.disabled_days) == (30, 90)


def test_r8_default_cancellation_window_is_seven_days() -> None:
    """R8: 7 days is the common value of the cancellation window."""
    assert make_offer().cancellation_window_days == 7


def test_r15_online_cancel_limit_is_offer_data_defaulting_to_25() -> None:
    """R15: the limit is offer data (default 25)."""
    assert make_offer().online_cancel_limit == 25
    assert make_offer(online_cancel_limit=300).online_cancel_limit == 300


def test_trial_terms_default_to_30_days_25_licenses_extend_once_by_30_within_15() -> None:
    assert TrialTerms() == TrialTerms(
        days=30, licenses=25, extension_days=30, extend_within_days=15
    )


def test_price_by_currency_or_none() -> None:
    offer = make_offer()
    assert offer.price("EUR") == Money.of(1250, "EUR")
    assert offer.price("NOK") == Money.of(14000, "NOK")
    assert offer.price("DKK") is None


def test_allows_only_its_channels() -> None:
    offer = make_offer(channels=frozenset({PurchaseChannel.ONLINE, PurchaseChannel.PREPAID}))
    assert offer.allows(PurchaseChannel.ONLINE)
    assert offer.allows(PurchaseChannel.PREPAID)
    assert not offer.allows(PurchaseChannel.RESELLER)
    assert not offer.allows(PurchaseChannel.VOLUME)


def test_annual_term_may_bill_monthly_or_annually() -> None:
    assert make_offer(term=Frequency.ANNUAL).billing_frequency is Frequency.MONTHLY
    annual = make_offer(term=Frequency.ANNUAL, billing_frequency=Frequency.ANNUAL)
    assert annual.billing_frequency is Frequency.ANNUAL


def test_a_free_offer_is_allowed() -> None:
    assert make_offer(prices={"EUR": Money.of(0, "EUR")}).price("EUR") == Money.of(0, "EUR")


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"term": Frequency.MONTHLY, "billing_frequency": Frequency.ANNUAL}, "bill less often"),
        ({"prices": {"EUR": Money.of(100, "NOK")}}, "price for EUR is in NOK"),
        ({"prices": {"eur": Money.of(100, "EUR")}}, "price for eur"),
        ({"prices": {"EUR": Money.of(-1, "EUR")}}, "negative"),
        ({"min_quantity": 0}, "quantity bounds"),
        ({"min_quantity": 10, "max_quantity": 9}, "quantity bounds"),
        ({"cancellation_window_days": -1}, "cannot be negative"),
        ({"online_cancel_limit": -1}, "cannot be negative"),
    ],
)
def test_offer_refuses_inconsistent_terms(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_offer(**overrides)


def test_channel_and_model_values_are_stable() -> None:
    assert [c.value for c in PurchaseChannel] == ["online", "prepaid", "reseller", "volume"]
    assert [m.value for m in CancellationModel] == ["classic", "windowed"]
