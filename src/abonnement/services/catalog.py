"""The vendor's catalog: products with service plans, and offers with prices and policies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from abonnement.domain.catalog import CancellationModel, PurchaseChannel
from abonnement.domain.errors import Code, error
from abonnement.domain.periods import Frequency
from abonnement.services import validation as v
from abonnement.services.context import Context, offer_to_domain
from abonnement.services.schemas import OfferView, ProductView
from abonnement.store import models as m


def create_product(
    ctx: Context, sku: str, name: str, service_plans: Iterable[tuple[str, str]] = ()
) -> ProductView:
    ctx.require_operator("manage_catalog")
    sku = v.code("sku", sku)
    name = v.text("name", name)
    if ctx.uow.catalog.product_by_sku(sku) is not None:
        raise error(Code.ALREADY_EXISTS, entity="product", name=sku)
    plans: list[m.ServicePlan] = []
    seen: set[str] = set()
    for plan_code, plan_name in service_plans:
        plan_code = v.code("service_plans", plan_code)
        if plan_code in seen:
            raise v.bad("service_plans", f"{plan_code} is listed twice")
        seen.add(plan_code)
        plans.append(m.ServicePlan(code=plan_code, name=v.text("service_plans", plan_name)))
    product = m.Product(sku=sku, name=name, created_at=ctx.now(), service_plans=plans)
    ctx.uow.catalog.add(product)
    ctx.uow.catalog.flush()
    view = ProductView.of(product)
    ctx.audit(
        "product.create",
        "product",
        product.id,
        organization_id=None,
        after=view.model_dump(mode="json"),
    )
    return view


def create_offer(
    ctx: Context,
    *,
    code: str,
    product_sku: str,
    name: str,
    prices: Mapping[str, int],
    term: str = "monthly",
    billing_frequency: str = "monthly",
    trial_days: int | None = None,
    trial_licenses: int | None = None,
    cancellation_model: str = "classic",
    cancellation_window_days: int = 7,
    online_cancel_limit: int = 25,
    channels: Iterable[str] | None = None,
    end_of_sale: bool = False,
    min_quantity: int = 1,
    max_quantity: int = 100_000,
) -> OfferView:
    ctx.require_operator("manage_catalog")
    code = v.code("code", code)
    name = v.text("name", name)
    product = ctx.uow.catalog.product_by_sku(product_sku)
    if product is None:
        raise error(Code.NOT_FOUND, entity="product", id=product_sku)
    if ctx.uow.catalog.offer_by_code(code) is not None:
        raise error(Code.ALREADY_EXISTS, entity="offer", name=code)
    try:
        term_f = Frequency(term)
        billing_f = Frequency(billing_frequency)
    except ValueError:
        raise v.bad("term", "use monthly or annual") from None
    try:
        model = CancellationModel(cancellation_model)
    except ValueError:
        raise v.bad("cancellation_model", "use classic or windowed") from None
    chosen = list(channels) if channels is not None else [c.value for c in PurchaseChannel]
    try:
        channel_set = sorted({PurchaseChannel(c).value for c in chosen})
    except ValueError:
        raise v.bad("channels", "use online, prepaid, reseller or volume") from None
    if not channel_set:
        raise v.bad("channels", "name at least one purchase channel")
    if not prices:
        raise v.bad("prices", "give at least one price")
    price_rows = []
    for currency, amount in prices.items():
        cur = v.currency_code(currency, "prices")
        price_rows.append(
            m.OfferPrice(
                currency=cur, amount_minor=v.non_negative("prices", amount, maximum=10**12)
            )
        )
    if (trial_days is None) != (trial_licenses is None):
        raise v.bad("trial", "give both trial days and trial licenses, or neither")
    if trial_days is not None and trial_licenses is not None:
        v.positive("trial_days", trial_days, maximum=365)
        v.positive("trial_licenses", trial_licenses, maximum=10_000)
    v.non_negative("cancellation_window_days", cancellation_window_days, maximum=365)
    v.non_negative("online_cancel_limit", online_cancel_limit)
    v.positive("min_quantity", min_quantity)
    v.positive("max_quantity", max_quantity)
    if min_quantity > max_quantity:
        raise v.bad("min_quantity", "it is larger than max_quantity")
    if billing_f.months > term_f.months:
        raise v.bad("billing_frequency", "an offer cannot bill less often than its term renews")
    offer = m.Offer(
        code=code,
        product_id=product.id,
        product=product,
        name=name,
        term=term_f,
        billing_frequency=billing_f,
        trial_days=trial_days,
        trial_licenses=trial_licenses,
        cancellation_model=model,
        cancellation_window_days=cancellation_window_days,
        online_cancel_limit=online_cancel_limit,
        channels=",".join(channel_set),
        end_of_sale=end_of_sale,
        min_quantity=min_quantity,
        max_quantity=max_quantity,
        created_at=ctx.now(),
        prices=price_rows,
    )
    offer_to_domain(offer)  # the domain's own invariants, before anything is stored
    ctx.uow.catalog.add(offer)
    ctx.uow.catalog.flush()
    view = OfferView.of(offer)
    ctx.audit(
        "offer.create",
        "offer",
        offer.code,
        organization_id=None,
        after=view.model_dump(mode="json"),
    )
    return view


def set_end_of_sale(ctx: Context, code: str, end_of_sale: bool = True) -> OfferView:
    ctx.require_operator("manage_catalog")
    offer = ctx.offer(code)
    before = offer.end_of_sale
    offer.end_of_sale = end_of_sale
    ctx.uow.catalog.flush()
    ctx.audit(
        "offer.end_of_sale",
        "offer",
        offer.code,
        organization_id=None,
        before={"end_of_sale": before},
        after={"end_of_sale": end_of_sale},
    )
    return OfferView.of(offer)


def list_products(ctx: Context) -> list[ProductView]:
    return [ProductView.of(p) for p in ctx.uow.catalog.products()]


def list_offers(ctx: Context) -> list[OfferView]:
    return [OfferView.of(o) for o in ctx.uow.catalog.offers()]
