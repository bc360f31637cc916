"""The demo's scenarios, one per seed: what each organization does, and what the rules say.

1. seed 002: enter the new total (R3): 100 → 105 buys 5, 105 → 95 removes 10; never below the
   assigned licenses (R4); a user and a license in one step (R2).
2. R5: a subscription for each reason Buy licenses / Remove licenses is unavailable.
3. seeds 000, 001: bought the wrong plan → switch plan, the users' licenses move along (R9).
4. seed 004: a trial has nothing to cancel (R14); cancel online with up to 25 assigned licenses,
   else remove users or "let us call you" (R15); after the window, an annual offer ends at the
   end of its term (R8).
5. partner and Volume Licensing subscriptions are changed through them (R10).
6. only global and billing admins buy licenses (R1).
7. the invoices these scenarios produce, with a clock that moves (R6, R7, R9, R11-R13).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from rich.text import Text

from abonnement.cli import output as o
from abonnement.cli.catalog_commands import offers_table
from abonnement.cli.demo import Demo, ScenarioAbortedError
from abonnement.cli.demo_money import play_money
from abonnement.cli.demo_world import (
    ADMIN,
    ANNUAL,
    BASIC,
    CARD,
    LEGACY,
    PREMIUM,
    STANDARD,
    Org,
    add_licensed_users,
    add_payment,
    buy,
    cancel,
    create_org,
    ensure_catalog,
    free_run,
    is_end_of_sale,
    licenses_line,
    offer_name,
    org_name,
    record_resold,
    set_total,
    show_licenses,
    start_trial,
)
from abonnement.cli.license_commands import callbacks_table, redemption_message
from abonnement.cli.session import _
from abonnement.cli.sub_commands import cancel_message, switch_message
from abonnement.services import cancellation, catalog, licensing, organizations, productkeys
from abonnement.services import subscriptions as subs
from abonnement.services.schemas import SubscriptionView


def seat_changes(demo: Demo, run: int) -> tuple[Org, SubscriptionView]:
    """Seed 002: R2, R3, R4."""
    billing = ("billing", "Billing Admin", "billing_admin")
    licenses = ("licenses", "License Admin", "license_admin")
    org = create_org(demo, "quantity", run, [ADMIN, billing, licenses])
    admin = org["admin"]
    sub = buy(demo, admin, org, STANDARD, 100)
    add_licensed_users(demo, admin, org, "quantity", run, 12, "DEMO-STANDARD")
    set_total(demo, admin, sub, 105, ok=True)
    set_total(demo, admin, sub, 95, ok=True)
    set_total(demo, admin, sub, 10, ok=False)
    return org, sub


def availability(demo: Demo, run: int) -> None:
    """R5: prepaid, trial, reseller, credit check and end of sale, each with reason and remedy."""
    org = create_org(demo, "availability", run, payment=None)
    admin, operator = org["admin"], demo.app.operator
    keys = demo.do(
        operator,
        _(
            "Generate {count} product keys of {licenses} licenses for {offer}",
            count=2,
            licenses=5,
            offer=offer_name(STANDARD),
        ),
        lambda r: _("Keys: {keys}", keys=", ".join(r.keys)),
        productkeys.generate,
        STANDARD,
        count=2,
        licenses=5,
    )
    redeemed = demo.do(
        admin,
        _("Redeem {count} product keys", count=len(keys.keys)),
        redemption_message,
        productkeys.redeem,
        org.id,
        keys.keys,
    )
    demo.availability(admin, redeemed.subscription)
    demo.availability(admin, start_trial(demo, admin, org, PREMIUM))
    demo.availability(admin, record_resold(demo, org, BASIC, 20, "Tailspin Partners"))

    add_payment(demo, admin, org, "invoice", _("Invoice, net 30 days"))
    checked = buy(demo, admin, org, BASIC, 10)
    demo.availability(admin, checked)

    add_payment(demo, admin, org, *CARD)
    if demo.read(operator, is_end_of_sale, LEGACY):  # an earlier demo run ended its sale
        demo.do(
            operator,
            _("Sell {offer} again for this demo run", offer=offer_name(LEGACY)),
            lambda v: _("{offer} is on sale.", offer=v.name),
            catalog.set_end_of_sale,
            LEGACY,
            False,
        )
    legacy = buy(demo, admin, org, LEGACY, 10)
    demo.do(
        operator,
        _("Stop selling {offer}", offer=offer_name(LEGACY)),
        lambda v: _("The vendor no longer sells {offer}.", offer=v.name),
        catalog.set_end_of_sale,
        LEGACY,
        True,
    )
    demo.availability(admin, legacy)

    demo.do(
        operator,
        _("Complete the credit check of subscription #{id}", id=checked.id),
        lambda s: _("The credit check of subscription #{id} is complete.", id=s.id),
        subs.complete_credit_check,
        checked.id,
    )
    demo.availability(admin, checked)
    demo.show(o.subscriptions_table(demo.read(admin, subs.list_for, org.id), _("Subscriptions")))


def switch_plan(demo: Demo, run: int) -> None:
    """Seeds 000 and 001: R9."""
    org = create_org(demo, "switch", run)
    admin = org["admin"]
    wrong = buy(demo, admin, org, BASIC, 10)
    add_licensed_users(demo, admin, org, "switch", run, 6, "DEMO-BASIC")
    demo.do(
        admin,
        _("Switch subscription #{id} to {offer}", id=wrong.id, offer=offer_name(STANDARD)),
        switch_message,
        cancellation.switch_plan,
        wrong.id,
        STANDARD,
    )
    show_licenses(demo, admin, org)


def cancelling(demo: Demo, run: int) -> None:
    """Seed 004: R14, R15, R8."""
    org = create_org(demo, "cancel", run)
    admin, operator = org["admin"], demo.app.operator
    cancel(demo, admin, start_trial(demo, admin, org, PREMIUM), ok=False)

    small = buy(demo, admin, org, BASIC, 25)
    large = buy(demo, admin, org, STANDARD, 40)
    addresses = add_licensed_users(demo, admin, org, "cancel", run, 30, "DEMO-STANDARD")
    everyone = demo.read(admin, organizations.list_users, org.id)
    twenty = [u.id for u in everyone if u.email in addresses[:20]]
    demo.do(
        admin,
        _("Assign {product} licenses to {count} of them", product="Business Basic", count=20),
        lambda r: licenses_line([r.license]),
        licensing.assign,
        org.id,
        "DEMO-BASIC",
        twenty,
    )
    cancel(demo, admin, small, ok=True)
    cancel(demo, admin, large, ok=False)
    phone = "+47 22 00 00 00"
    request = demo.do(
        admin,
        _("Ask to be called at {phone} instead", phone=phone),
        lambda c: _(
            "We will call you at {phone}. Callback request #{id} is open.", phone=c.phone, id=c.id
        ),
        cancellation.request_callback,
        large.id,
        phone=phone,
        note=_("Please help us cancel: 30 users have licenses."),
    )
    queue = demo.do(
        operator,
        _("Open the callback queue"),
        lambda q: _(
            "Callback request #{id} is in the queue. Open requests: {count}.",
            id=request.id,
            count=len(q),
        ),
        cancellation.list_callbacks,
        "open",
    )
    demo.show(callbacks_table([c for c in queue if c.organization_id == org.id]))

    # R8: bought ten days ago, so its 7-day cancellation window has passed.
    now = demo.clock.now()
    demo.set_clock(now - timedelta(days=10), _("Turn the demo clock back {days} days", days=10))
    annual = buy(demo, admin, org, ANNUAL, 10)
    demo.set_clock(now, _("Turn the demo clock forward to today"))
    demo.do(
        admin,
        _(
            "Cancel subscription #{id}, {days} days after buying it (window: {window} days)",
            id=annual.id,
            days=10,
            window=7,
        ),
        cancel_message,
        cancellation.cancel,
        annual.id,
    )


def partners(demo: Demo, run: int) -> None:
    """R10: reseller and Volume Licensing subscriptions are cancelled through them."""
    org = create_org(demo, "partner", run)
    admin, agreement = org["admin"], "VL-4471-2026"
    resold = record_resold(demo, org, BASIC, 15, "Tailspin Partners")
    volume = demo.do(
        demo.app.operator,
        _(
            "Record a purchase of {quantity} licenses of {offer} under the Volume Licensing "
            "agreement {agreement}",
            quantity=50,
            offer=offer_name(PREMIUM),
            agreement=agreement,
        ),
        lambda s: _(
            "Subscription #{id} belongs to the agreement {agreement}.", id=s.id, agreement=agreement
        ),
        subs.buy,
        org.id,
        PREMIUM,
        quantity=50,
        channel="volume",
        agreement_number=agreement,
    )
    cancel(demo, admin, resold, ok=False)
    cancel(demo, admin, volume, ok=False)


def roles(demo: Demo, org: Org, sub: SubscriptionView) -> None:
    """R1: a license admin can't buy licenses; a billing admin can."""
    set_total(demo, org["licenses"], sub, 110, ok=False)
    set_total(demo, org["billing"], sub, 96, ok=True)


def play(demo: Demo) -> None:
    """The catalog, then each scenario in its own organization. A scenario whose setup fails
    stops there (its refusal shown); the others still run."""
    operator = demo.app.operator
    run = demo.read(operator, free_run)
    if run > 1:
        message = _(
            "The demo organizations exist already; this run creates new ones, named with ({run}).",
            run=run,
        )
        demo.show(Text(message, style="yellow"))

    demo.begin(_("The demo catalog"), [], _("Vendor operator"), number=0)
    try:
        demo.do(
            operator,
            _("Set up the demo catalog"),
            lambda r: _(
                "{products} products and {offers} offers, {created} of them new.",
                products=r["products"],
                offers=r["offers"],
                created=r["created"],
            ),
            ensure_catalog,
        )
    except ScenarioAbortedError:
        return
    demo.show(offers_table(demo.read(operator, catalog.list_offers)))

    first: tuple[Org, SubscriptionView] | None = None

    def seats() -> None:
        nonlocal first
        first = seat_changes(demo, run)

    scenarios: list[tuple[str, list[str], str, Callable[[], None]]] = [
        (
            _("Buy or remove licenses by entering the new total"),
            ["R2", "R3", "R4"],
            "quantity",
            seats,
        ),
        (
            _("Why Buy licenses or Remove licenses is unavailable"),
            ["R5"],
            "availability",
            lambda: availability(demo, run),
        ),
        (_("Bought the wrong plan: switch plan"), ["R9"], "switch", lambda: switch_plan(demo, run)),
        (
            _("Cancelling a subscription"),
            ["R14", "R15", "R8"],
            "cancel",
            lambda: cancelling(demo, run),
        ),
        (
            _("Subscriptions from a partner or a Volume Licensing agreement"),
            ["R10"],
            "partner",
            lambda: partners(demo, run),
        ),
        (
            _("Only global and billing admins buy licenses"),
            ["R1"],
            "quantity",
            lambda: roles(demo, *first) if first else None,
        ),
    ]
    scenarios.append(
        (
            _("The invoices of the seed scenarios"),
            ["R6", "R7", "R9", "R11", "R12", "R13"],
            "invoice-grow",
            lambda: play_money(demo, run),
        )
    )
    for title, rules, key, scenario in scenarios:
        demo.begin(title, rules, org_name(key, run))
        try:
            scenario()
        except ScenarioAbortedError:
            continue
