"""The vendor's operator view in the browser: its own sign-in, the organizations with their
subscriptions, the support callback an admin asked for (R15) seen and closed by the operator,
what the billing runs did, and that an organization's admin can't reach any of it (R1)."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from abonnement import i18n
from abonnement.services import (
    cancellation,
    clocks,
    licensing,
    operations,
    signin,
    subscriptions,
)

from .conftest import PASSWORD, Web, shot, sign_in


def _operator(web: Web) -> str:
    login = f"ops-{uuid.uuid4().hex[:8]}@vendor.example"
    web.engine.run(web.op, signin.set_operator_password, login, PASSWORD)
    return login


def _operator_sign_in(page: Page, login: str, password: str = PASSWORD) -> None:
    page.goto("/admin/operator/sign-in")
    page.get_by_label("Operator login").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_r15_the_operator_sees_the_callback_an_admin_asked_for_and_closes_it(
    web: Web, page_in
) -> None:
    tenant = web.tenant("Northwind")
    sub = web.engine.run(
        web.actor(tenant), subscriptions.buy, tenant.id, "std-monthly", quantity=30
    ).id
    people = web.people(tenant, 26)
    for start in range(0, 26, 20):
        web.engine.run(web.op, licensing.assign, tenant.id, "STD", people[start : start + 20])
    # the admin asks to be called: more than 25 assigned licenses can't be cancelled online
    admin = page_in(web)
    sign_in(admin, tenant.emails["global_admin"])
    admin.goto(f"/admin/billing/products/{sub}/cancel")
    admin.get_by_label("Phone number").fill("+47 22 00 00 00")
    admin.get_by_label("Note (optional)").fill("Mornings, please.")
    admin.get_by_role("button", name="Let us call you").click()
    expect(admin.get_by_role("status")).to_have_text(
        "Thank you. We will call you at the number you gave."
    )
    callback = next(
        c for c in web.engine.read(web.op, cancellation.list_callbacks) if c.subscription_id == sub
    )
    # the operator's queue
    page = page_in(web)
    _operator_sign_in(page, _operator(web))
    page.wait_for_url(re.compile(r".*/admin/operator/organizations$"))
    nav = page.get_by_role("navigation", name="Main navigation")
    expect(nav.locator("[aria-current=page]")).to_have_text("Organizations")
    row = page.get_by_test_id(f"organization-{tenant.id}")
    expect(row.get_by_test_id("subscriptions")).to_have_text("1")
    expect(row.get_by_test_id("statuses")).to_have_text("1 active")
    shot(page, "organizations")
    page.get_by_role("navigation", name="Main navigation").get_by_role(
        "link", name="Support callbacks"
    ).click()
    entry = page.get_by_test_id(f"callback-{callback.id}")
    expect(entry).to_contain_text("Northwind")
    expect(entry).to_contain_text("Business Standard")
    expect(entry).to_contain_text("+47 22 00 00 00")
    expect(entry).to_contain_text("Mornings, please.")
    expect(entry).to_contain_text(tenant.emails["global_admin"])
    shot(page, "callbacks")
    entry.get_by_role("button", name=f"Close callback request #{callback.id}").click()
    expect(page.get_by_role("status")).to_have_text(f"Callback request #{callback.id} is closed.")
    expect(page.get_by_test_id(f"callback-{callback.id}")).to_have_count(0)
    page.get_by_role("link", name="All", exact=True).click()
    expect(page.get_by_test_id(f"callback-{callback.id}")).to_contain_text("Closed")
    assert all(c.id != callback.id for c in web.engine.read(web.op, cancellation.list_callbacks))


def test_the_billing_runs_page_shows_what_each_day_did(web: Web, page_in) -> None:
    tenant = web.tenant()
    web.engine.run(web.actor(tenant), subscriptions.buy, tenant.id, "std-monthly", quantity=3)
    web.engine.run(web.op, clocks.advance, tenant.id, days=31)  # the renewal on April 2
    page = page_in(web)
    _operator_sign_in(page, _operator(web))
    page.goto("/admin/operator/billing-runs")
    renewal = page.get_by_test_id("day-2026-04-02")
    expect(renewal.get_by_test_id("invoices")).not_to_have_text("0")
    expect(renewal.get_by_test_id("events")).to_contain_text("invoice.issued")
    runs = web.engine.read(web.op, operations.billing_runs)
    (cursor,) = [c for c in runs.cursors if c.organization_id == tenant.id]
    expect(page.get_by_test_id(f"cursor-{tenant.id}")).to_contain_text(
        i18n.format_date(cursor.processed_through, "en", "medium")
    )
    shot(page, "billing-runs")


def test_r1_an_organization_admin_cannot_reach_the_operator_view(
    web_sqlite_only: Web, page_in
) -> None:
    web = web_sqlite_only
    tenant = web.tenant()
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    nav = page.get_by_role("navigation", name="Main navigation")
    expect(nav.get_by_role("link", name="Support callbacks")).to_have_count(0)
    for path in (
        "/admin/operator",
        "/admin/operator/organizations",
        "/admin/operator/callbacks",
        "/admin/operator/billing-runs",
    ):
        response = page.goto(path)
        assert response is not None and response.status == 403
        expect(page.get_by_role("alert")).to_contain_text(
            "These pages are for the vendor's operators."
        )
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    response = page.request.post(
        "/admin/operator/callbacks/1/close", form={"csrf_token": token or ""}
    )
    assert response.status == 403
    shot(page, "refused")
    # an organization admin's password is not an operator's
    other = page_in(web)
    _operator_sign_in(other, tenant.emails["global_admin"])
    expect(other.get_by_role("alert")).to_be_visible()
    assert other.url.endswith("/admin/operator/sign-in")


def test_without_a_session_the_operator_signs_in_and_comes_back(
    web_sqlite_only: Web, page_in
) -> None:
    web = web_sqlite_only
    page = page_in(web)
    page.goto("/admin/operator/billing-runs")
    page.wait_for_url(re.compile(r".*/admin/operator/sign-in\?next=.*"))
    login = _operator(web)
    page.get_by_label("Operator login").fill(login)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/admin/operator/billing-runs$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing runs")
    nav = page.get_by_role("navigation", name="Main navigation")
    expect(nav.locator("[aria-current=page]")).to_have_text("Billing runs")
    expect(page.get_by_test_id("user")).to_have_text(login)
