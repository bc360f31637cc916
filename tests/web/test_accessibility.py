"""Accessibility basics of the admin center: every field has a label, the keyboard reaches
everything (a skip link first), and the focus is visible."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from abonnement.services import subscriptions

from .conftest import Web, sign_in

UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(el => el.labels.length === 0 && !el.getAttribute('aria-label'))
    .map(el => el.outerHTML)"""


def _unlabelled(page: Page) -> list[str]:
    found: list[str] = page.evaluate(UNLABELLED)
    return found


def test_fields_have_labels_and_the_keyboard_reaches_the_pages(
    web_sqlite_only: Web, page_in
) -> None:
    web = web_sqlite_only
    tenant = web.tenant()
    sub = web.engine.run(
        web.actor(tenant), subscriptions.buy, tenant.id, "std-monthly", quantity=10
    ).id
    page = page_in(web)
    page.goto("/admin/sign-in")
    assert _unlabelled(page) == []
    sign_in(page, tenant.emails["global_admin"])
    for path in (
        "/admin",
        "/admin/billing/products",
        f"/admin/billing/products/{sub}",
        f"/admin/billing/products/{sub}/licenses",
        f"/admin/billing/products/{sub}/cancel",
        f"/admin/billing/products/{sub}/switch",
    ):
        page.goto(path)
        assert _unlabelled(page) == [], path
        assert page.locator("h1").count() == 1, path
    # the first Tab stop is the skip link; it moves the focus to the content
    page.goto("/admin")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    # the focus is drawn: an outline of its own
    outline = skip.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline not in ("none", ""), outline
    # Tab through the top bar and the navigation to Your products, and open it with Enter
    for _ in range(20):
        page.keyboard.press("Tab")
        focused = page.evaluate("() => document.activeElement.textContent.trim()")
        if focused == "Your products":
            break
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your products")
    # and on to Buy licenses, the total and Save, all by keyboard
    page.get_by_role("link", name="Buy licenses").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("New quantity: total licenses")).to_be_visible()
    page.get_by_label("New quantity: total licenses").focus()
    page.keyboard.press("Control+a")
    page.keyboard.type("12")
    page.get_by_role("button", name="Save").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("You bought 2 licenses.")
