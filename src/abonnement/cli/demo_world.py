"""The demo's world: its catalog, its organizations (new ones on every run), and the steps the
scenarios are made of, each told in the reader's language."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from abonnement.cli import output as o
from abonnement.cli.demo import Demo
from abonnement.cli.license_commands import licenses_table
from abonnement.cli.session import _
from abonnement.cli.sub_commands import cancel_message, quantity_message
from abonnement.domain.money import Money
from abonnement.services import cancellation, catalog, licensing, organizations, signin
from abonnement.services import subscriptions as subs
from abonnement.services.context import Actor, Context
from abonnement.services.schemas import LicenseCountsView, LicenseView, SubscriptionView, UserView

# -- the catalog -----------------------------------------------------------------------------------
_PLANS = [("EXCHANGE", "Exchange Online"), ("TEAMS", "Teams"), ("SHAREPOINT", "SharePoint")]
PRODUCTS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("DEMO-BASIC", "Business Basic", _PLANS),
    ("DEMO-STANDARD", "Business Standard", [*_PLANS, ("APPS", "Office apps")]),
    ("DEMO-PREMIUM", "Business Premium", [*_PLANS, ("APPS", "Office apps"), ("INTUNE", "Intune")]),
]
BASIC, STANDARD, PREMIUM = "demo-basic-monthly", "demo-standard-monthly", "demo-premium-monthly"
ANNUAL, LEGACY = "demo-standard-annual", "demo-standard-2019"
OFFERS: list[dict[str, Any]] = [
    {
        "code": BASIC,
        "product_sku": "DEMO-BASIC",
        "name": "Business Basic (monthly)",
        "prices": {"EUR": 600, "NOK": 6700, "DKK": 4500},
    },
    {
        "code": STANDARD,
        "product_sku": "DEMO-STANDARD",
        "name": "Business Standard (monthly)",
        "prices": {"EUR": 1250, "NOK": 14000, "DKK": 9300},
    },
    {
        "code": PREMIUM,
        "product_sku": "DEMO-PREMIUM",
        "name": "Business Premium (monthly)",
        "prices": {"EUR": 2200, "NOK": 24600, "DKK": 16400},
        "trial_days": 30,
        "trial_licenses": 25,
    },
    {
        "code": ANNUAL,
        "product_sku": "DEMO-STANDARD",
        "name": "Business Standard (annual)",
        "prices": {"EUR": 15000, "NOK": 168000, "DKK": 111600},
        "term": "annual",
        "billing_frequency": "annual",
        "cancellation_model": "windowed",
        "cancellation_window_days": 7,
        "channels": ["online"],
    },
    {
        # Sold until the R5 scenario has bought it; then the vendor ends its sale.
        "code": LEGACY,
        "product_sku": "DEMO-STANDARD",
        "name": "Business Standard 2019 (monthly)",
        "prices": {"EUR": 1100, "NOK": 12300, "DKK": 8200},
        "channels": ["online"],
    },
]


def ensure_catalog(ctx: Context) -> dict[str, int]:
    """Create the demo products and offers that are missing (one transaction)."""
    created = 0
    for sku, name, plans in PRODUCTS:
        if ctx.uow.catalog.product_by_sku(sku) is None:
            catalog.create_product(ctx, sku, name, plans)
            created += 1
    for offer in OFFERS:
        if ctx.uow.catalog.offer_by_code(offer["code"]) is None:
            catalog.create_offer(ctx, **offer)
            created += 1
    return {"products": len(PRODUCTS), "offers": len(OFFERS), "created": created}


# -- the organizations -----------------------------------------------------------------------------
# key -> (name, slug for e-mail domains, country, currency, time zone, locale)
ORGANIZATIONS: dict[str, tuple[str, str, str, str, str, str]] = {
    "quantity": ("Fabrikam ApS", "fabrikam", "DK", "DKK", "Europe/Copenhagen", "da"),
    "availability": ("Northwind Traders AS", "northwind", "NO", "NOK", "Europe/Oslo", "nb"),
    "switch": ("Contoso BV", "contoso", "NL", "EUR", "Europe/Amsterdam", "nl"),
    "cancel": ("Litware AS", "litware", "NO", "NOK", "Europe/Oslo", "nb"),
    "partner": ("Adventure Works BV", "adventure-works", "NL", "EUR", "Europe/Amsterdam", "nl"),
    "invoice-grow": ("Tailspin Toys AS", "tailspin", "NO", "NOK", "Europe/Oslo", "nb"),
    "invoice-shrink": ("Wingtip Toys ApS", "wingtip", "DK", "DKK", "Europe/Copenhagen", "da"),
    "invoice-switch": ("Woodgrove BV", "woodgrove", "NL", "EUR", "Europe/Amsterdam", "nl"),
    "invoice-cancel": ("Proseware AS", "proseware", "NO", "NOK", "Europe/Oslo", "nb"),
}


def org_name(key: str, run: int) -> str:
    name = ORGANIZATIONS[key][0]
    return name if run == 1 else f"{name} ({run})"


def email(key: str, run: int, local: str) -> str:
    slug = ORGANIZATIONS[key][1]
    return f"{local}@{slug}.example" if run == 1 else f"{local}@{slug}{run}.example"


def free_run(ctx: Context) -> int:
    """The first run number whose organization names and admin addresses are all unused."""
    names = {org.name for org in organizations.list_organizations(ctx)}
    run = 1
    while any(
        org_name(key, run) in names or ctx.uow.users.by_email(email(key, run, "admin"))
        for key in ORGANIZATIONS
    ):
        run += 1
    return run


#: The password of every demo admin in the admin center (/admin), printed at the end of the demo.
DEMO_PASSWORD = "demo-admin-2026"


def setup_organization(
    ctx: Context,
    key: str,
    run: int,
    admins: Sequence[tuple[str, str, str]],
    payment: tuple[str, str] | None,
) -> dict[str, Any]:
    """The operator creates an organization with its admins and, maybe, a payment method."""
    _name, _slug, country, currency, time_zone, locale = ORGANIZATIONS[key]
    org = organizations.create_organization(
        ctx,
        name=org_name(key, run),
        country=country,
        currency=currency,
        time_zone=time_zone,
        locale=locale,
    )
    users = [
        organizations.add_user(
            ctx, org.id, email=email(key, run, local), display_name=display, roles=[role]
        )
        for local, display, role in admins
    ]
    for user in users:  # so that they can sign in to the admin center at once
        signin.set_password(ctx, user.id, DEMO_PASSWORD)
    if payment is not None:
        organizations.add_payment_method(
            ctx, org.id, kind=payment[0], label=payment[1], **payment_details(payment[0])
        )
    return {"organization": org, "users": users}


OFFER_NAMES: dict[str, str] = {offer["code"]: offer["name"] for offer in OFFERS}
OFFER_PRICES: dict[str, dict[str, int]] = {offer["code"]: offer["prices"] for offer in OFFERS}
PRODUCT_NAMES: dict[str, str] = {sku: name for sku, name, _plans in PRODUCTS}
CARD = ("card", "Visa •••• 4242")


def payment_details(kind: str) -> dict[str, Any]:
    """The sandbox's always-succeeding test card and bank account."""
    if kind == "card":
        return {"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    if kind == "bank_account":
        return {"iban": "NL91ABNA0417164300", "holder": "Demo"}
    return {}


ADMIN = ("admin", "Global Admin", "global_admin")


def offer_name(code: str) -> str:
    return OFFER_NAMES[code]


def is_end_of_sale(ctx: Context, code: str) -> bool:
    return any(v.code == code and v.end_of_sale for v in catalog.list_offers(ctx))


class Org:
    """A demo organization: its id and its admins' actors, by the local part of their e-mail."""

    def __init__(self, demo: Demo, setup: dict[str, Any]) -> None:
        self.id: int = setup["organization"].id
        users: list[UserView] = setup["users"]
        self.actors = {u.email.split("@")[0]: demo.app.actor(u.email) for u in users}

    def __getitem__(self, local: str) -> Actor:
        return self.actors[local]


def create_org(
    demo: Demo,
    key: str,
    run: int,
    admins: Sequence[tuple[str, str, str]] = (ADMIN,),
    payment: tuple[str, str] | None = CARD,
) -> Org:
    setup = demo.do(
        demo.app.operator,
        _("Create the organization {name} with its admins", name=org_name(key, run)),
        lambda r: _(
            "Organization #{id}: {admins}.",
            id=r["organization"].id,
            admins=", ".join(f"{u.email} ({o.role(u.roles[0])})" for u in r["users"]),
        ),
        setup_organization,
        key,
        run,
        admins,
        payment,
    )
    demo.admin_emails.extend(u.email for u in setup["users"])
    return Org(demo, setup)


# -- steps -----------------------------------------------------------------------------------------
def licenses_line(views: Sequence[LicenseCountsView]) -> str:
    return "; ".join(
        _(
            "{product}: {assigned} of {total} licenses assigned",
            product=v.product_name,
            assigned=v.assigned,
            total=v.total,
        )
        for v in views
    )


def _add_people(
    ctx: Context, organization_id: int, addresses: Sequence[str], sku: str
) -> list[LicenseView]:
    """R2: each person is added with a license in the same step (one transaction for all)."""
    for address in addresses:
        licensing.add_user_with_license(
            ctx,
            organization_id,
            email=address,
            display_name=address.split("@")[0].title(),
            product_skus=[sku],
        )
    return [v for v in licensing.licenses(ctx, organization_id) if v.product_sku == sku]


def add_licensed_users(
    demo: Demo, actor: Actor, org: Org, key: str, run: int, count: int, sku: str
) -> list[str]:
    """Add `count` people, each with a license of `sku` (R2); their addresses."""
    addresses = [email(key, run, f"person{n:02d}") for n in range(1, count + 1)]
    demo.do(
        actor,
        _(
            "Add {count} users, each with a {product} license in the same step",
            count=count,
            product=PRODUCT_NAMES[sku],
        ),
        licenses_line,
        _add_people,
        org.id,
        addresses,
        sku,
    )
    return addresses


def buy(demo: Demo, actor: Actor, org: Org, offer: str, quantity: int) -> SubscriptionView:
    return demo.do(
        actor,
        _("Buy {quantity} licenses of {offer}", quantity=quantity, offer=offer_name(offer)),
        lambda s: _(
            "Subscription #{id} is active with {quantity} licenses at {price} per license each "
            "billing period.",
            id=s.id,
            quantity=s.quantity,
            price=Money.of(OFFER_PRICES[offer][s.currency], s.currency),
        ),
        subs.buy,
        org.id,
        offer,
        quantity=quantity,
    )


def start_trial(demo: Demo, actor: Actor, org: Org, offer: str) -> SubscriptionView:
    return demo.do(
        actor,
        _("Start a trial of {offer}", offer=offer_name(offer)),
        lambda s: _(
            "Trial subscription #{id} with {quantity} licenses until {ends_on}.",
            id=s.id,
            quantity=s.quantity,
            ends_on=s.term_end,
        ),
        subs.buy,
        org.id,
        offer,
        trial=True,
    )


def record_resold(
    demo: Demo, org: Org, offer: str, quantity: int, partner: str
) -> SubscriptionView:
    """The operator records a purchase a reseller made for the organization."""
    return demo.do(
        demo.app.operator,
        _(
            "Record a purchase of {quantity} licenses of {offer} through the partner {partner}",
            quantity=quantity,
            offer=offer_name(offer),
            partner=partner,
        ),
        lambda s: _("Subscription #{id} is managed by {partner}.", id=s.id, partner=partner),
        subs.buy,
        org.id,
        offer,
        quantity=quantity,
        channel="reseller",
        partner_name=partner,
    )


def add_payment(demo: Demo, actor: Actor, org: Org, kind: str, label: str) -> None:
    demo.do(
        actor,
        _("Add a payment method: {label}", label=label),
        lambda v: _("Payment method #{id} is the default now.", id=v.id),
        organizations.add_payment_method,
        org.id,
        kind=kind,
        label=label,
        **payment_details(kind),
    )


def set_total(demo: Demo, actor: Actor, sub: SubscriptionView, total: int, *, ok: bool) -> None:
    """R3: the admin enters the new total."""
    action = _("Enter the new total: {quantity} licenses", quantity=total)
    if ok:
        demo.do(actor, action, quantity_message, subs.set_quantity, sub.id, total)
    else:
        demo.refused(actor, action, subs.set_quantity, sub.id, total)


def cancel(demo: Demo, actor: Actor, sub: SubscriptionView, *, ok: bool) -> None:
    action = _("Cancel subscription #{id}", id=sub.id)
    if ok:
        demo.do(actor, action, cancel_message, cancellation.cancel, sub.id)
    else:
        demo.refused(actor, action, cancellation.cancel, sub.id)


def show_licenses(demo: Demo, actor: Actor, org: Org) -> None:
    views = demo.do(actor, _("Open the Licenses page"), licenses_line, licensing.licenses, org.id)
    demo.show(licenses_table(views))
