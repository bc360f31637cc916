"""Licenses in the browser: per product, every subscription together (total, assigned,
available); assigning and unassigning up to 20 people at once, the 21st refused (R1); the
refusal when no licenses are left; the over-assignment warning with its 90-day grace; and what
each role is offered (R1: License admins assign but buy nothing, Global readers only read)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import Page, expect

from abonnement.services import clocks, licensing, subscriptions
from abonnement.services.schemas import LicenseView

from .conftest import Tenant, Web, shot, sign_in


def _buy(web: Web, tenant: Tenant, quantity: int, offer: str = "std-monthly") -> int:
    return web.engine.run(
        web.actor(tenant), subscriptions.buy, tenant.id, offer, quantity=quantity
    ).id


def _counts(page: Page) -> tuple[str, str, str]:
    counts = page.get_by_test_id("counts")
    return (
        counts.get_by_test_id("total").inner_text(),
        counts.get_by_test_id("assigned").inner_text(),
        counts.get_by_test_id("available").inner_text(),
    )


def _check(page: Page, user_ids: list[int]) -> None:
    for user_id in user_ids:
        page.locator(f"input[name=user_id][value='{user_id}']").check()


def _license(web: Web, tenant: Tenant, sku: str = "STD") -> LicenseView:
    return next(
        v for v in web.engine.read(web.op, licensing.licenses, tenant.id) if v.product_sku == sku
    )


def test_r1_a_license_admin_assigns_20_users_at_once_and_the_21st_is_refused(
    web: Web, page_in
) -> None:
    tenant = web.tenant()
    _buy(web, tenant, 15)
    _buy(web, tenant, 10, "std-annual-windowed")  # the same product: counted together
    people = web.people(tenant, 21)
    page = page_in(web)
    sign_in(page, tenant.emails["license_admin"])
    nav = page.get_by_role("navigation", name="Main navigation")
    expect(nav.get_by_role("link", name="Your products")).to_have_count(0)
    nav.get_by_role("link", name="Licenses").click()
    row = page.get_by_test_id("license-STD")
    expect(row.get_by_test_id("total")).to_have_text("25")
    expect(row.get_by_test_id("available")).to_have_text("25")
    shot(page, "licenses")
    row.get_by_role("link", name="Business Standard").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Business Standard")
    _check(page, people)
    page.get_by_role("button", name="Assign licenses", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("At most 20 users can be changed at once; you chose 21.")
    assert _license(web, tenant).assigned == 0  # nothing was assigned
    # the choice is kept: take one back and send the 20
    expect(page.locator("input[name=user_id]:checked")).to_have_count(21)
    shot(page, "21-refused")
    page.locator(f"input[name=user_id][value='{people[-1]}']").uncheck()
    page.get_by_role("button", name="Assign licenses", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("20 users were assigned a license.")
    assert _counts(page) == ("25", "20", "5")
    holders = page.get_by_test_id("holders")
    expect(holders.locator("li")).to_have_count(20)
    expect(holders).to_contain_text("Person")
    shot(page, "20-assigned")
    # R1: a License admin is offered no purchase anywhere on the page
    expect(page.get_by_role("link", name="Buy licenses")).to_have_count(0)
    assert sorted(_license(web, tenant).user_ids) == sorted(people[:20])


def test_unassigning_several_users_frees_their_licenses(web: Web, page_in) -> None:
    tenant = web.tenant()
    _buy(web, tenant, 5)
    people = web.people(tenant, 4)
    web.engine.run(web.op, licensing.assign, tenant.id, "STD", people)
    page = page_in(web)
    sign_in(page, tenant.emails["user_admin"])
    page.goto("/admin/licenses/STD")
    assert _counts(page) == ("5", "4", "1")
    holders = page.get_by_test_id("holders")
    _check(page, people[:3])
    holders.page.get_by_role("button", name="Unassign licenses").click()
    expect(page.get_by_role("status")).to_have_text(
        "3 users' licenses were unassigned. They can be assigned again now."
    )
    assert _counts(page) == ("5", "1", "4")
    assert _license(web, tenant).user_ids == [people[3]]


def test_r4_no_licenses_left_the_refusal_names_the_counts(web: Web, page_in) -> None:
    tenant = web.tenant()
    _buy(web, tenant, 3)
    web.engine.run(web.op, licensing.assign, tenant.id, "STD", web.people(tenant, 3))
    [extra] = web.people(tenant, 1)
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    page.goto("/admin/licenses/STD")
    none_left = page.get_by_test_id("none-left")
    expect(none_left).to_contain_text("All 3 licenses are assigned.")
    expect(none_left).to_contain_text("Buy more licenses, or unassign licenses from other users.")
    # a Global admin may buy: the way there is offered
    expect(none_left.get_by_role("link", name="Buy licenses")).to_be_visible()
    _check(page, [extra])
    page.get_by_role("button", name="Assign licenses", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Business Standard: 1 licenses are needed and 0 are available.")
    expect(alert).to_contain_text("Buy more licenses, or unassign licenses from other users.")
    shot(page, "none-left")
    assert extra not in _license(web, tenant).user_ids


def test_the_search_filter_narrows_the_list(web_sqlite_only: Web, page_in) -> None:
    web = web_sqlite_only
    tenant = web.tenant()
    _buy(web, tenant, 5)
    people = web.people(tenant, 3)
    page = page_in(web)
    sign_in(page, tenant.emails["license_admin"])
    page.goto("/admin/licenses/STD")
    candidates = page.get_by_test_id("candidates")
    expect(candidates.locator("li")).to_have_count(3 + 5)  # the people and the five admins
    named = web.engine.read(web.op, licensing.license_detail, tenant.id, "STD").candidates
    wanted = next(p for p in named if p.id == people[1])
    page.get_by_label("Search users").fill(wanted.display_name)
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r".*/admin/licenses/STD\?q="))
    expect(candidates.locator("li")).to_have_count(1)
    expect(candidates).to_contain_text(wanted.email)
    page.get_by_role("checkbox").check()
    page.get_by_role("button", name="Assign licenses", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("1 users were assigned a license.")
    assert _license(web, tenant).user_ids == [people[1]]


def test_r1_a_global_reader_reads_the_licenses_without_forms(web: Web, page_in) -> None:
    tenant = web.tenant()
    _buy(web, tenant, 4)
    people = web.people(tenant, 2)
    web.engine.run(web.op, licensing.assign, tenant.id, "STD", people[:1])
    page = page_in(web)
    sign_in(page, tenant.emails["global_reader"])
    page.get_by_role("navigation", name="Main navigation").get_by_role(
        "link", name="Licenses"
    ).click()
    expect(page.get_by_test_id("license-STD").get_by_test_id("assigned")).to_have_text("1")
    page.goto("/admin/licenses/STD")
    assert _counts(page) == ("4", "1", "3")
    expect(page.get_by_test_id("holders")).to_contain_text("Person")
    expect(page.get_by_role("checkbox")).to_have_count(0)
    expect(page.get_by_role("button", name="Assign licenses", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Unassign licenses")).to_have_count(0)
    expect(page.locator("form[method=post] input[name=user_id]")).to_have_count(0)
    shot(page, "global-reader")
    # the server refuses it when forced, with a valid form token
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    forced = page.request.post(
        "/admin/licenses/STD/assign", form={"csrf_token": token or "", "user_id": str(people[1])}
    )
    assert forced.status == 403
    assert _license(web, tenant).user_ids == people[:1]


def test_over_assigned_after_a_reduction_at_renewal_warns_with_the_grace(web: Web, page_in) -> None:
    tenant = web.tenant()
    run, op = web.engine.run, web.op
    sub = _buy(web, tenant, 10, "std-annual-windowed")
    run(op, licensing.assign, tenant.id, "STD", web.people(tenant, 5))
    run(op, clocks.advance, tenant.id, days=10)  # past the 7-day window: waits for renewal
    change = run(web.actor(tenant, "billing_admin"), subscriptions.set_quantity, sub, 5)
    assert change.scheduled_on == date(2027, 3, 2)
    run(op, licensing.assign, tenant.id, "STD", web.people(tenant, 3))  # 10 until then
    run(op, clocks.advance, tenant.id, to=date(2027, 3, 2))
    page = page_in(web)
    sign_in(page, tenant.emails["license_admin"])
    page.goto("/admin/licenses")
    warning = page.get_by_test_id("excess-STD")
    expect(warning).to_contain_text(
        "Business Standard: 3 more licenses are assigned than the subscriptions have. "
        "Nobody loses access until May 31, 2027."
    )
    expect(warning).to_contain_text("Buy more licenses, or unassign licenses from 3 users.")
    shot(page, "over-assigned")
    page.goto("/admin/licenses/STD")
    assert _counts(page) == ("5", "8", "0")
    expect(page.get_by_test_id("excess")).to_be_visible()


@pytest.mark.parametrize(
    ("lang", "assign", "add_user", "hint"),
    [
        ("nb", "Tilordne lisenser", "Legg til en bruker", "Velg opptil 20 brukere om gangen."),
        ("nl", "Licenties toewijzen", "Een gebruiker toevoegen", "Kies maximaal 20 gebruikers"),
        ("da", "Tildel licenser", "Tilføj en bruger", "Vælg op til 20 brugere ad gangen."),
    ],
)
def test_r16_licenses_and_users_in_norwegian_dutch_and_danish(
    web_sqlite_only: Web, page_in, lang: str, assign: str, add_user: str, hint: str
) -> None:
    web = web_sqlite_only
    tenant = web.tenant()
    _buy(web, tenant, 2)
    web.people(tenant, 1)
    page = page_in(web, lang)
    sign_in(page, tenant.emails["global_admin"])
    page.goto("/admin/licenses/STD")
    expect(page.get_by_role("heading", name=assign)).to_be_visible()
    expect(page.get_by_role("button", name=assign, exact=True)).to_be_visible()
    expect(page.get_by_text(hint)).to_be_visible()
    shot(page, f"license-{lang}")
    page.goto("/admin/users")
    expect(page.get_by_role("link", name=add_user)).to_be_visible()
