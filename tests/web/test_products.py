"""Billing > Your products in the browser: buying and removing licenses by entering the new
total with a preview of the money (R3, R6, R7, R12), the refusal below the assigned licenses
(R4), every reason Buy/Remove are unavailable (R5, R10), recurring billing, and what each role
is offered (R1).

Figures are checked two ways: by hand where the rule is simple (R6: 5 licenses for a whole
period at EUR 12.50 plus 21 % VAT), and against the services' own preview, which the page
must show as it is, never recompute."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from abonnement import i18n
from abonnement.domain.money import Money
from abonnement.services import (
    invoices,
    licensing,
    productkeys,
    subscriptions,
)

from .conftest import Tenant, Web, shot, sign_in


def _buy(web: Web, tenant: Tenant, quantity: int, offer: str = "std-monthly") -> int:
    return web.engine.run(
        web.actor(tenant), subscriptions.buy, tenant.id, offer, quantity=quantity
    ).id


def _money(minor: int, currency: str = "EUR", locale: str = "en") -> str:
    return i18n.format_money(Money.of(minor, currency), locale)


def _row(page: Page, sub_id: int):  # type: ignore[no-untyped-def]
    return page.get_by_test_id(f"subscription-{sub_id}")


def test_r3_r6_r7_buying_5_more_by_entering_105_previews_the_charge(web: Web, page_in) -> None:
    tenant = web.tenant()
    sub = _buy(web, tenant, 100)
    expected = web.engine.run(
        web.actor(tenant), invoices.preview, tenant.id, subscriptions.set_quantity, sub, 105
    )
    page = page_in(web)
    sign_in(page, tenant.emails["billing_admin"])
    nav = page.get_by_role("navigation", name="Main navigation")
    nav.get_by_role("link", name="Your products").click()
    expect(_row(page, sub).get_by_test_id("quantity")).to_have_text("100")
    shot(page, "products")
    _row(page, sub).get_by_role("link", name="Buy licenses").click()
    total = page.get_by_label("New quantity: total licenses")
    expect(total).to_have_value("100")
    total.fill("105")
    page.get_by_role("button", name="Preview the cost").click()
    # R6: charged at once, 5 licenses x EUR 12.50 for the whole period, 21 % VAT: EUR 75.63
    charged = page.get_by_test_id("charged-now")
    expect(charged).to_have_text("Charged now to your payment method: €75.63")
    assert expected.charged_now == 7563
    # R7: the next statement reverses and restates the period; as the services computed it
    assert expected.next_invoice is not None
    expect(page.get_by_test_id("next-invoice")).to_have_text(
        f"Total of the next invoice: {_money(expected.next_invoice.total)}"
    )
    shot(page, "buy-preview")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text(
        "You bought 5 licenses. They can be assigned right away."
    )
    expect(_row(page, sub).get_by_test_id("quantity")).to_have_text("105")
    assert web.engine.read(web.op, subscriptions.get, sub).quantity == 105


def test_r3_r12_removing_5_by_entering_95_previews_the_credit(web: Web, page_in) -> None:
    tenant = web.tenant()
    sub = _buy(web, tenant, 100)
    expected = web.engine.run(
        web.actor(tenant), invoices.preview, tenant.id, subscriptions.set_quantity, sub, 95
    )
    assert expected.charged_now == 0  # classic offer: the credit waits for the next bill (R12)
    assert expected.next_invoice is not None
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    page.goto("/admin/billing/products")
    _row(page, sub).get_by_role("link", name="Remove licenses").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Remove licenses")
    page.get_by_label("New quantity: total licenses").fill("95")
    page.get_by_role("button", name="Preview the cost").click()
    expect(page.get_by_test_id("charged-now")).to_have_text("Nothing is charged now.")
    expect(page.get_by_test_id("next-invoice")).to_have_text(
        f"Total of the next invoice: {_money(expected.next_invoice.total)}"
    )
    shot(page, "remove-preview")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text(
        "You removed 5 licenses. Their unused time is credited on your next bill."
    )
    expect(_row(page, sub).get_by_test_id("quantity")).to_have_text("95")


def test_the_preview_follows_the_typing_with_htmx(web_sqlite_only: Web, page_in) -> None:
    web = web_sqlite_only
    tenant = web.tenant()
    sub = _buy(web, tenant, 100)
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    page.goto(f"/admin/billing/products/{sub}/licenses?mode=buy")
    page.get_by_label("New quantity: total licenses").fill("105")
    # no click: the preview comes as the number is typed
    expect(page.get_by_test_id("charged-now")).to_have_text(
        "Charged now to your payment method: €75.63"
    )
    page.get_by_label("New quantity: total licenses").fill("0")
    expect(page.get_by_role("alert")).to_contain_text("between 1 and 100000")


def test_r4_all_licenses_assigned_no_remove_and_the_refusal_names_the_counts(
    web: Web, page_in
) -> None:
    tenant = web.tenant()
    sub = _buy(web, tenant, 3)
    people = web.people(tenant, 3)
    web.engine.run(web.op, licensing.assign, tenant.id, "STD", people)
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    page.goto("/admin/billing/products")
    row = _row(page, sub)
    expect(row.get_by_role("link", name="Buy licenses")).to_be_visible()
    expect(row.get_by_role("link", name="Remove licenses")).to_have_count(0)
    reasons = page.get_by_test_id(f"reasons-{sub}")
    expect(reasons).to_contain_text("All 3 licenses are assigned to users, so none can be removed.")
    expect(reasons).to_contain_text("Unassign licenses from one or more users first.")
    shot(page, "all-assigned")
    # typed in anyway: the services refuse, and say why with both counts
    page.goto(f"/admin/billing/products/{sub}/licenses?mode=remove")
    page.get_by_label("New quantity: total licenses").fill("2")
    page.get_by_role("button", name="Save").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(
        "You can't reduce the number of licenses to 2, because 3 licenses are assigned to users."
    )
    expect(alert).to_contain_text("Unassign licenses from users first, then remove the licenses.")
    assert web.engine.read(web.op, subscriptions.get, sub).quantity == 3


def test_r5_r10_each_unavailable_reason_is_shown_with_its_remedy(web: Web, page_in) -> None:
    tenant = web.tenant()
    run, op, admin = web.engine.run, web.op, web.actor(tenant)
    checked = run(admin, subscriptions.buy, tenant.id, "std-monthly", quantity=10).id
    run(op, subscriptions.start_credit_check, checked)
    resold = run(
        op,
        subscriptions.buy,
        tenant.id,
        "std-monthly",
        quantity=40,
        channel="reseller",
        partner_name="Partner AS",
    ).id
    volume = run(
        op,
        subscriptions.buy,
        tenant.id,
        "std-monthly",
        quantity=200,
        channel="volume",
        agreement_number="VL-1234",
    ).id
    trial = run(admin, subscriptions.buy, tenant.id, "std-monthly", trial=True).id
    # prepaid by product key, in an organization without a card
    keyed = web.tenant("Keyed", card=False)
    key = run(op, productkeys.generate, "std-monthly", count=1, licenses=5).keys[0]
    prepaid = run(web.actor(keyed), productkeys.redeem, keyed.id, [key]).subscription.id

    page = page_in(web)
    sign_in(page, tenant.emails["billing_admin"])
    page.goto("/admin/billing/products")
    expectations = {
        checked: (
            "A credit check is pending for this subscription.",
            "The credit check completes within two business days.",
        ),
        resold: (
            "This subscription was bought through a partner.",
            "Contact your partner to buy, remove or cancel licenses.",
        ),
        volume: (
            "This subscription belongs to a Volume Licensing agreement.",
            "Make changes through your agreement's Volume Licensing Service Center.",
        ),
        trial: (
            "This is a trial subscription.",
            "Buy the subscription first; then you can buy or remove licenses.",
        ),
    }
    for sub, (reason, remedy) in expectations.items():
        row = _row(page, sub)
        expect(row.get_by_role("link", name="Buy licenses")).to_have_count(0)
        expect(row.get_by_role("link", name="Remove licenses")).to_have_count(0)
        reasons = page.get_by_test_id(f"reasons-{sub}")
        expect(reasons).to_contain_text(reason)
        expect(reasons).to_contain_text(remedy)
    expect(_row(page, resold)).to_contain_text("reseller (Partner AS)")
    shot(page, "unavailable-reasons")

    keyed_page = page_in(web)
    sign_in(keyed_page, keyed.emails["global_admin"])
    keyed_page.goto("/admin/billing/products")
    reasons = keyed_page.get_by_test_id(f"reasons-{prepaid}")
    expect(reasons).to_contain_text("This subscription was prepaid with a product key.")
    expect(reasons).to_contain_text("Add licenses by redeeming another product key")
    expect(reasons).to_contain_text("The 5 licenses prepaid with a product key can't be removed.")


def test_recurring_billing_can_be_turned_off_and_on(web: Web, page_in) -> None:
    tenant = web.tenant()
    sub = _buy(web, tenant, 10)
    page = page_in(web)
    sign_in(page, tenant.emails["billing_admin"])
    page.goto("/admin/billing/products")
    toggle = _row(page, sub).get_by_role("switch")
    expect(toggle).to_have_attribute("aria-checked", "true")
    toggle.click()
    expect(page.get_by_role("status")).to_have_text(
        "Recurring billing is off: the subscription ends on April 2, 2026, at the end of its term."
    )
    expect(_row(page, sub).get_by_role("switch")).to_have_attribute("aria-checked", "false")
    expect(_row(page, sub)).to_contain_text("Ends on April 2, 2026")
    assert web.engine.read(web.op, subscriptions.get, sub).recurring_billing is False
    _row(page, sub).get_by_role("switch").click()
    expect(page.get_by_role("status")).to_contain_text("Recurring billing is on")
    assert web.engine.read(web.op, subscriptions.get, sub).recurring_billing is True


def test_r1_a_license_admin_sees_no_buy_buttons_and_is_refused_if_forced(web: Web, page_in) -> None:
    tenant = web.tenant()
    sub = _buy(web, tenant, 10)
    page = page_in(web)
    sign_in(page, tenant.emails["license_admin"])
    nav = page.get_by_role("navigation", name="Main navigation")
    expect(nav.get_by_role("link", name="Home")).to_be_visible()
    expect(nav.get_by_role("link", name="Your products")).to_have_count(0)
    expect(page.get_by_role("link", name="Buy licenses")).to_have_count(0)
    response = page.goto("/admin/billing/products")
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text(
        "Your admin role does not allow this action (view subscriptions)."
    )
    expect(page.get_by_role("link", name="Buy licenses")).to_have_count(0)
    shot(page, "license-admin")
    # the server refuses it when forced, with a valid form token
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    forced = page.request.post(
        f"/admin/billing/products/{sub}/licenses",
        form={"csrf_token": token or "", "mode": "buy", "total": "20", "step": "save"},
    )
    assert forced.status == 403
    assert web.engine.read(web.op, subscriptions.get, sub).quantity == 10


def test_r1_a_global_reader_reads_the_products_without_actions(web: Web, page_in) -> None:
    tenant = web.tenant()
    sub = _buy(web, tenant, 10)
    page = page_in(web)
    sign_in(page, tenant.emails["global_reader"])
    page.goto("/admin/billing/products")
    expect(_row(page, sub).get_by_test_id("quantity")).to_have_text("10")
    expect(page.get_by_role("link", name="Buy licenses")).to_have_count(0)
    expect(page.get_by_role("link", name="Remove licenses")).to_have_count(0)
    expect(page.get_by_role("switch")).to_have_count(0)
    page.goto(f"/admin/billing/products/{sub}")
    expect(page.get_by_role("link", name="Cancel subscription")).to_have_count(0)


def test_home_shows_the_subscriptions_and_what_needs_attention(web: Web, page_in) -> None:
    tenant = web.tenant()
    run, op, admin = web.engine.run, web.op, web.actor(tenant)
    ending = _buy(web, tenant, 10)
    run(admin, subscriptions.set_recurring_billing, ending, False)
    checked = _buy(web, tenant, 5, "basic-monthly")
    run(op, subscriptions.start_credit_check, checked)
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    expect(page.get_by_role("heading", level=1)).to_have_text("Home")
    alerts = page.locator(".alerts")
    expect(alerts).to_contain_text(
        "Business Standard expires on April 2, 2026: recurring billing is off."
    )
    expect(alerts).to_contain_text("A credit check is pending for Business Basic.")
    expect(page.get_by_text(re.compile(r"2 active subscriptions with 15 licenses"))).to_be_visible()
    shot(page, "home")
