"""Cancelling in the browser (R8, R10, R14, R15 with "Let us call you") and the switch-plan
wizard (R9). What cancelling or switching would charge or credit is the services' preview."""

from __future__ import annotations

from playwright.sync_api import expect

from abonnement import i18n
from abonnement.domain.money import Money
from abonnement.services import cancellation, clocks, invoices, licensing, subscriptions

from .conftest import Tenant, Web, shot, sign_in


def _buy(web: Web, tenant: Tenant, quantity: int, offer: str = "std-monthly") -> int:
    return web.engine.run(
        web.actor(tenant), subscriptions.buy, tenant.id, offer, quantity=quantity
    ).id


def _assign(web: Web, tenant: Tenant, sku: str, count: int) -> None:
    people = web.people(tenant, count)
    for start in range(0, count, 20):  # at most 20 at once
        web.engine.run(web.op, licensing.assign, tenant.id, sku, people[start : start + 20])


def _eur(minor: int) -> str:
    return i18n.format_money(Money.of(minor, "EUR"), "en")


def test_r15_cancelling_under_the_limit_ends_now_with_a_credit(web: Web, page_in) -> None:
    tenant = web.tenant()
    sub = _buy(web, tenant, 30)
    _assign(web, tenant, "STD", 25)  # exactly the limit: still online (R15)
    expected = web.engine.run(
        web.actor(tenant), invoices.preview, tenant.id, cancellation.cancel, sub
    )
    assert expected.charged_now < 0  # R11: a credit at once
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    page.goto(f"/admin/billing/products/{sub}")
    page.get_by_role("link", name="Cancel subscription").click()
    expect(page.get_by_test_id("cancel-outcome")).to_contain_text(
        "The subscription ends today and its licenses stop working."
    )
    expect(page.get_by_test_id("charged-now")).to_have_text(
        f"Credited now: {_eur(-expected.charged_now)}"
    )
    shot(page, "cancel-preview")
    page.get_by_role("button", name="Cancel subscription").click()
    expect(page.get_by_role("status")).to_have_text(
        "The subscription is cancelled. A final invoice with a credit was issued."
    )
    expect(page.get_by_test_id(f"subscription-{sub}")).to_contain_text("disabled")
    assert web.engine.read(web.op, subscriptions.get, sub).status == "disabled"


def test_r15_over_the_limit_offers_let_us_call_you(web: Web, page_in) -> None:
    tenant = web.tenant()
    sub = _buy(web, tenant, 30)
    _assign(web, tenant, "STD", 26)
    page = page_in(web)
    sign_in(page, tenant.emails["billing_admin"])
    page.goto(f"/admin/billing/products/{sub}/cancel")
    refusal = page.get_by_test_id("cancel-refusal")
    expect(refusal).to_contain_text(
        "This subscription has 26 assigned licenses; it can be cancelled online with at most 25."
    )
    expect(refusal).to_contain_text(
        "Remove users until 25 or fewer have licenses, or choose “Let us call you”."
    )
    expect(page.get_by_role("button", name="Cancel subscription")).to_have_count(0)
    shot(page, "cancel-over-limit")
    page.get_by_label("Phone number").fill("+47 22 00 00 00")
    page.get_by_label("Note (optional)").fill("Please call in the morning.")
    page.get_by_role("button", name="Let us call you").click()
    expect(page.get_by_role("status")).to_have_text(
        "Thank you. We will call you at the number you gave."
    )
    queue = web.engine.read(web.op, cancellation.list_callbacks)
    mine = [c for c in queue if c.subscription_id == sub]
    assert len(mine) == 1 and mine[0].phone == "+47 22 00 00 00"
    assert web.engine.read(web.op, subscriptions.get, sub).status == "active"


def test_a_callback_without_a_phone_number_is_refused_with_the_field(web: Web, page_in) -> None:
    tenant = web.tenant()
    sub = _buy(web, tenant, 30)
    _assign(web, tenant, "STD", 26)
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    page.goto(f"/admin/billing/products/{sub}/cancel")
    page.get_by_label("Phone number").fill("no digits here")
    page.get_by_role("button", name="Let us call you").click()
    expect(page.get_by_role("alert").last).to_contain_text("The value of phone is not valid")


def test_r8_after_the_window_cancelling_turns_recurring_billing_off(web: Web, page_in) -> None:
    tenant = web.tenant()
    sub = _buy(web, tenant, 10, "std-annual-windowed")
    web.engine.run(web.op, clocks.advance, tenant.id, days=10)  # the 7-day window has passed
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    page.goto(f"/admin/billing/products/{sub}/cancel")
    expect(page.get_by_test_id("cancel-outcome")).to_contain_text(
        "The cancellation window has passed, so cancelling turns recurring billing off: the "
        "subscription ends on March 2, 2027, at the end of its term."
    )
    page.get_by_role("button", name="Cancel subscription").click()
    expect(page.get_by_role("status")).to_have_text(
        "Recurring billing is off, so the subscription ends on March 2, 2027, at the end of "
        "its term."
    )
    view = web.engine.read(web.op, subscriptions.get, sub)
    assert view.status == "active" and view.recurring_billing is False


def test_r14_r10_trials_and_partner_subscriptions_are_not_cancelled_here(web: Web, page_in) -> None:
    tenant = web.tenant()
    run, op = web.engine.run, web.op
    trial = run(web.actor(tenant), subscriptions.buy, tenant.id, "std-monthly", trial=True).id
    resold = run(
        op,
        subscriptions.buy,
        tenant.id,
        "basic-monthly",
        quantity=5,
        channel="reseller",
        partner_name="Partner AS",
    ).id
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    page.goto(f"/admin/billing/products/{trial}/cancel")
    expect(page.get_by_test_id("cancel-refusal")).to_contain_text("A trial has nothing to cancel.")
    expect(page.get_by_test_id("cancel-refusal")).to_contain_text(
        "It expires by itself unless you add a payment method"
    )
    page.goto(f"/admin/billing/products/{resold}/cancel")
    expect(page.get_by_test_id("cancel-refusal")).to_contain_text(
        "Contact your partner to buy, remove or cancel licenses."
    )
    expect(page.get_by_role("button", name="Cancel subscription")).to_have_count(0)


def test_r9_switching_plan_moves_the_licenses_and_credits_the_rest(web: Web, page_in) -> None:
    tenant = web.tenant()
    sub = _buy(web, tenant, 10)
    _assign(web, tenant, "STD", 3)
    expected = web.engine.run(
        web.actor(tenant),
        invoices.preview,
        tenant.id,
        cancellation.switch_plan,
        sub,
        "basic-monthly",
        10,
    )
    page = page_in(web)
    sign_in(page, tenant.emails["billing_admin"])
    page.goto(f"/admin/billing/products/{sub}")
    page.get_by_role("link", name="Switch plan").click()
    page.get_by_label("Business Basic").check()
    # too few licenses for the people who have one: refused, with the counts
    page.get_by_label("Licenses on the new plan").fill("2")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "The new plan would have 2 licenses, but 3 users have licenses to move."
    )
    page.get_by_label("Business Basic").check()
    page.get_by_label("Licenses on the new plan").fill("10")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_test_id("switch-summary")).to_contain_text(
        "From Business Standard to Business Basic, with 10 licenses."
    )
    charged = page.get_by_test_id("charged-now")
    if expected.charged_now > 0:
        expect(charged).to_have_text(
            f"Charged now to your payment method: {_eur(expected.charged_now)}"
        )
    else:
        expect(charged).to_have_text(f"Credited now: {_eur(-expected.charged_now)}")
    shot(page, "switch-review")
    page.get_by_role("button", name="Switch plan").click()
    expect(page.get_by_role("status")).to_contain_text(
        "The plan was switched. 3 users' licenses moved to the new subscription"
    )
    subs = web.engine.read(web.actor(tenant), subscriptions.list_for, tenant.id)
    new = next(s for s in subs if s.offer == "basic-monthly")
    assert new.assigned == 3 and new.quantity == 10
    assert next(s for s in subs if s.id == sub).status == "disabled"
