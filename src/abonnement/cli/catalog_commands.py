"""`abonnement catalog`: the vendor's products (SKUs with service plans) and offers."""

from __future__ import annotations

from enum import StrEnum

import typer

from abonnement.cli import output as o
from abonnement.cli.session import _, current
from abonnement.domain.errors import N_
from abonnement.services import catalog
from abonnement.services.schemas import OfferView, ProductView

app = typer.Typer(help=N_("Products and offers the vendor sells."), no_args_is_help=True)


class Frequency(StrEnum):
    monthly = "monthly"
    annual = "annual"


class Model(StrEnum):
    classic = "classic"
    windowed = "windowed"


class Channel(StrEnum):
    online = "online"
    prepaid = "prepaid"
    reseller = "reseller"
    volume = "volume"


def pairs(values: list[str], option: str) -> list[tuple[str, str]]:
    """`KEY=VALUE` option values, refused with a localized message when malformed."""
    result = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip() or not rest.strip():
            raise typer.BadParameter(
                _("Write {option} as KEY=VALUE, not '{value}'.", option=option, value=value)
            )
        result.append((key.strip(), rest.strip()))
    return result


def prices(values: list[str]) -> dict[str, int]:
    result: dict[str, int] = {}
    for currency, amount in pairs(values, "--price"):
        if not amount.isdigit():
            raise typer.BadParameter(
                _(
                    "A price is a whole number of minor units (cents, øre), e.g. EUR=1250 for "
                    "12.50 euros; '{amount}' is not.",
                    amount=amount,
                )
            )
        result[currency.upper()] = int(amount)
    return result


def show_product(product: ProductView) -> None:
    o.say(_("Product {sku} added.", sku=product.sku))
    o.show(
        o.table(
            None,
            [_("SKU"), _("Name"), _("Service plans")],
            [(product.sku, product.name, ", ".join(p.name for p in product.service_plans))],
        )
    )


def offer_rows(offers: list[OfferView]) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for offer in offers:
        terms = [f"{o.frequency(offer.term)} / {o.frequency(offer.billing_frequency)}"]
        model = o.model(offer.cancellation_model)
        if offer.cancellation_model == "windowed":
            model += " " + _("({days} days)", days=offer.cancellation_window_days)
        terms.append(model)
        terms.append(_("cancel online: at most {limit} assigned", limit=offer.online_cancel_limit))
        if offer.trial_days:
            terms.append(
                _(
                    "trial: {days} days, {licenses} licenses",
                    days=offer.trial_days,
                    licenses=offer.trial_licenses,
                )
            )
        channels = [o.channel(c) for c in offer.channels]
        if offer.end_of_sale:
            channels.append(_("no longer sold"))
        rows.append(
            (
                offer.code,
                offer.name,
                "\n".join(o.money(amount, cur) for cur, amount in sorted(offer.prices.items())),
                "\n".join(terms),
                "\n".join(channels),
            )
        )
    return rows


def offers_table(offers: list[OfferView]) -> object:
    return o.table(
        _("Offers"),
        [
            _("Code"),
            _("Name"),
            _("Price per license"),
            _("Terms"),
            _("Purchase channels"),
        ],
        offer_rows(offers),
    )


@app.command("product-add", help=N_("Add a product (SKU) with its service plans."))
def product_add(
    sku: str = typer.Argument(..., help=N_("The product's SKU, e.g. M365-STANDARD.")),
    name: str = typer.Argument(..., help=N_("The product's name.")),
    plan: list[str] = typer.Option(
        [], "--plan", metavar="CODE=NAME", help=N_("A service plan (app) inside the product.")
    ),
) -> None:
    product = current().run(catalog.create_product, sku, name, pairs(plan, "--plan"))
    o.emit(product, lambda: show_product(product))


@app.command("offer-add", help=N_("Add an offer: a product's prices, term and policies."))
def offer_add(
    code: str = typer.Argument(..., help=N_("The offer's code, e.g. standard-monthly.")),
    product: str = typer.Option(..., "--product", metavar="SKU", help=N_("The product sold.")),
    name: str = typer.Option(..., "--name", help=N_("The offer's name.")),
    price: list[str] = typer.Option(
        ...,
        "--price",
        metavar="CUR=MINOR",
        help=N_("Price per license per billing period in minor units, e.g. EUR=1250."),
    ),
    term: Frequency = typer.Option(Frequency.monthly, "--term", help=N_("Term length.")),
    billing: Frequency = typer.Option(
        Frequency.monthly, "--billing", help=N_("Billing frequency.")
    ),
    trial_days: int | None = typer.Option(None, "--trial-days", help=N_("Trial length in days.")),
    trial_licenses: int | None = typer.Option(
        None, "--trial-licenses", help=N_("Licenses in a trial.")
    ),
    cancel_model: Model = typer.Option(
        Model.classic, "--model", help=N_("Seat-reduction and cancellation model.")
    ),
    window_days: int = typer.Option(
        7, "--window-days", help=N_("Cancellation window after buying or renewing, in days.")
    ),
    cancel_limit: int = typer.Option(
        25, "--cancel-limit", help=N_("Most assigned licenses that can be cancelled online.")
    ),
    channels: list[Channel] = typer.Option(
        [], "--channel", help=N_("A purchase channel (default: all of them).")
    ),
    end_of_sale: bool = typer.Option(
        False, "--end-of-sale", help=N_("The offer is no longer sold.")
    ),
) -> None:
    offer = current().run(
        catalog.create_offer,
        code=code,
        product_sku=product,
        name=name,
        prices=prices(price),
        term=term.value,
        billing_frequency=billing.value,
        trial_days=trial_days,
        trial_licenses=trial_licenses,
        cancellation_model=cancel_model.value,
        cancellation_window_days=window_days,
        online_cancel_limit=cancel_limit,
        channels=[c.value for c in channels] or None,
        end_of_sale=end_of_sale,
    )

    def show() -> None:
        o.say(_("Offer {code} added.", code=offer.code))
        o.show(offers_table([offer]))

    o.emit(offer, show)


@app.command("list", help=N_("List the products and offers."))
def list_catalog() -> None:
    session = current()
    products = session.read(catalog.list_products)
    offers = session.read(catalog.list_offers)

    def show() -> None:
        o.show(
            o.table(
                _("Products"),
                [_("SKU"), _("Name"), _("Service plans")],
                [(p.sku, p.name, ", ".join(s.name for s in p.service_plans)) for p in products],
            ),
            offers_table(offers),
        )

    o.emit({"products": products, "offers": offers}, show)
