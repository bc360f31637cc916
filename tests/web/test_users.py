"""Users in the browser: the list with licenses and admin roles; adding a user with a license in
one step (R2); deleting a user frees their license at once; granting and revoking admin roles
(R1: Global admins only; User admins manage users without admin roles; Global readers read);
setting an admin-center password; tenancy (another organization's user is not found)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from abonnement.services import licensing, organizations, subscriptions
from abonnement.services.schemas import UserView

from .conftest import PASSWORD, Tenant, Web, shot, sign_in


def _buy(web: Web, tenant: Tenant, quantity: int, offer: str = "std-monthly") -> int:
    return web.engine.run(
        web.actor(tenant), subscriptions.buy, tenant.id, offer, quantity=quantity
    ).id


def _users(web: Web, tenant: Tenant) -> dict[str, UserView]:
    return {u.email: u for u in web.engine.read(web.op, organizations.list_users, tenant.id)}


def _available(web: Web, tenant: Tenant, sku: str = "STD") -> int:
    views = web.engine.read(web.op, licensing.licenses, tenant.id)
    return next(v.available for v in views if v.product_sku == sku)


def _nav(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("navigation", name="Main navigation")


def test_r2_a_user_admin_adds_a_user_with_a_license_in_one_step(web: Web, page_in) -> None:
    tenant = web.tenant()
    _buy(web, tenant, 5)
    _buy(web, tenant, 2, "basic-monthly")
    page = page_in(web)
    sign_in(page, tenant.emails["user_admin"])
    _nav(page).get_by_role("link", name="Users").click()
    shot(page, "users")
    page.get_by_role("link", name="Add a user").click()
    # R1: a User admin adds users, but grants no admin roles
    expect(page.get_by_role("checkbox", name="Global administrator")).to_have_count(0)
    page.get_by_label("Name").fill("Kari Nordmann")
    page.get_by_label("Email address").fill("kari@contoso.example")
    page.get_by_role("checkbox", name="Business Standard").check()
    expect(page.get_by_text("5 of 5 available")).to_be_visible()
    shot(page, "add-user")
    page.get_by_role("button", name="Add the user").click()
    expect(page.get_by_role("status")).to_have_text("The user was added and got 1 licenses.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kari Nordmann")
    expect(page.get_by_role("checkbox", name="Business Standard")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Business Basic")).not_to_be_checked()
    added = _users(web, tenant)["kari@contoso.example"]
    assert (added.licenses, added.roles) == (["STD"], [])
    assert _available(web, tenant) == 4
    page.get_by_role("link", name="Users").first.click()
    row = page.get_by_test_id(f"user-{added.id}")
    expect(row.get_by_test_id("licenses")).to_have_text("Business Standard")


def test_r2_adding_a_user_is_all_or_nothing_when_no_license_is_left(web: Web, page_in) -> None:
    tenant = web.tenant()
    _buy(web, tenant, 1)
    web.engine.run(web.op, licensing.assign, tenant.id, "STD", web.people(tenant, 1))
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    page.goto("/admin/users/new")
    page.get_by_label("Name").fill("Ola Nordmann")
    page.get_by_label("Email address").fill("ola@contoso.example")
    page.get_by_role("checkbox", name="Business Standard").check()
    page.get_by_role("button", name="Add the user").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Business Standard: 1 licenses are needed and 0 are available.")
    expect(alert).to_contain_text("Buy more licenses, or unassign licenses from other users.")
    # what was typed is kept, and nobody was added
    expect(page.get_by_label("Email address")).to_have_value("ola@contoso.example")
    assert "ola@contoso.example" not in _users(web, tenant)


def test_deleting_a_user_frees_their_license_at_once(web: Web, page_in) -> None:
    tenant = web.tenant()
    _buy(web, tenant, 2)
    [person] = web.people(tenant, 1)
    web.engine.run(web.op, licensing.assign, tenant.id, "STD", [person])
    assert _available(web, tenant) == 1
    page = page_in(web)
    sign_in(page, tenant.emails["user_admin"])
    page.goto(f"/admin/users/{person}")
    page.get_by_role("link", name="Delete user").click()
    consequences = page.get_by_test_id("delete-consequences")
    expect(consequences).to_contain_text(
        "Their 1 licenses are freed at once and can be assigned to others right away:"
    )
    expect(consequences).to_contain_text("Business Standard")
    shot(page, "delete-confirm")
    page.get_by_role("button", name="Delete user").click()
    expect(page).to_have_url(re.compile(r".*/admin/users\?done="))
    expect(page.get_by_role("status")).to_have_text(
        "The user was deleted. Their 1 licenses were freed and can be assigned to others right "
        "away."
    )
    expect(page.get_by_test_id(f"user-{person}")).to_have_count(0)
    assert _available(web, tenant) == 2
    page.goto("/admin/licenses/STD")
    expect(page.get_by_test_id("counts").get_by_test_id("available")).to_have_text("2")


def test_r1_a_global_admin_grants_and_revokes_admin_roles(web: Web, page_in) -> None:
    tenant = web.tenant()
    [person] = web.people(tenant, 1)
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    page.goto(f"/admin/users/{person}")
    page.get_by_role("checkbox", name="License administrator").check()
    page.get_by_role("checkbox", name="Billing administrator").check()
    page.get_by_role("button", name="Save roles").click()
    expect(page.get_by_role("status")).to_have_text("The admin roles are saved.")
    expect(page.get_by_test_id("roles")).to_have_text(
        "Billing administrator, License administrator"
    )
    shot(page, "roles")
    page.get_by_role("checkbox", name="Billing administrator").uncheck()
    page.get_by_role("button", name="Save roles").click()
    expect(page.get_by_test_id("roles")).to_have_text("License administrator")
    user = web.engine.read(web.op, organizations.get_user, person)
    assert user.roles == ["license_admin"]
    # the last global administrator stays one
    page.goto(f"/admin/users/{tenant.users['global_admin']}")
    page.get_by_role("checkbox", name="Global administrator").uncheck()
    page.get_by_role("button", name="Save roles").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "The organization must keep at least one global administrator."
    )
    admin = web.engine.read(web.op, organizations.get_user, tenant.users["global_admin"])
    assert admin.roles == ["global_admin"]


def test_r1_a_user_admin_can_not_grant_admin_roles(web: Web, page_in) -> None:
    tenant = web.tenant()
    [person] = web.people(tenant, 1)
    page = page_in(web)
    sign_in(page, tenant.emails["user_admin"])
    page.goto(f"/admin/users/{person}")
    expect(page.get_by_role("button", name="Save roles")).to_have_count(0)
    expect(page.get_by_role("checkbox", name="Global administrator")).to_have_count(0)
    expect(page.get_by_role("button", name="Set password")).to_have_count(0)
    expect(page.get_by_role("link", name="Delete user")).to_be_visible()
    # an admin is deleted by Global admins only: not offered
    page.goto(f"/admin/users/{tenant.users['billing_admin']}")
    expect(page.get_by_role("link", name="Delete user")).to_have_count(0)
    shot(page, "user-admin")
    # forced anyway, with a valid form token: refused, nothing changed
    token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    forced = page.request.post(
        f"/admin/users/{person}/roles", form={"csrf_token": token, "role": "global_admin"}
    )
    assert forced.status == 403
    assert "Your admin role does not allow this action (manage admin roles)." in forced.text()
    forced = page.request.post(
        "/admin/users/new",
        form={
            "csrf_token": token,
            "display_name": "Sneaky",
            "email": "sneaky@contoso.example",
            "role": "global_admin",
        },
    )
    assert forced.status == 403
    assert web.engine.read(web.op, organizations.get_user, person).roles == []
    assert "sneaky@contoso.example" not in _users(web, tenant)


def test_r1_a_global_reader_sees_no_forms(web: Web, page_in) -> None:
    tenant = web.tenant()
    _buy(web, tenant, 3)
    [person] = web.people(tenant, 1)
    web.engine.run(web.op, licensing.assign, tenant.id, "STD", [person])
    page = page_in(web)
    sign_in(page, tenant.emails["global_reader"])
    _nav(page).get_by_role("link", name="Users").click()
    row = page.get_by_test_id(f"user-{person}")
    expect(row.get_by_test_id("licenses")).to_have_text("Business Standard")
    admin_row = page.get_by_test_id(f"user-{tenant.users['license_admin']}")
    expect(admin_row.get_by_test_id("roles")).to_have_text("License administrator")
    expect(page.get_by_role("link", name="Add a user")).to_have_count(0)
    page.goto(f"/admin/users/{person}")
    expect(page.get_by_test_id("licenses")).to_contain_text("Business Standard")
    expect(page.locator("main form[method=post]")).to_have_count(0)
    expect(page.get_by_role("checkbox")).to_have_count(0)
    expect(page.get_by_role("link", name="Delete user")).to_have_count(0)
    shot(page, "global-reader")


def test_r1_a_license_admin_has_no_users_page(web_sqlite_only: Web, page_in) -> None:
    web = web_sqlite_only
    tenant = web.tenant()
    page = page_in(web)
    sign_in(page, tenant.emails["license_admin"])
    expect(_nav(page).get_by_role("link", name="Licenses")).to_be_visible()
    expect(_nav(page).get_by_role("link", name="Users")).to_have_count(0)
    response = page.goto("/admin/users")
    assert response is not None and response.status == 403


def test_tenancy_another_organizations_user_answers_404(web: Web, page_in) -> None:
    tenant, other = web.tenant(), web.tenant("Fabrikam")
    [stranger] = web.people(other, 1)
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    for path in (f"/admin/users/{stranger}", f"/admin/users/{stranger}/delete"):
        response = page.goto(path)
        assert response is not None and response.status == 404
        expect(page.get_by_role("alert")).to_contain_text(f"No user with the id {stranger}")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    forced = page.request.post(f"/admin/users/{stranger}/delete", form={"csrf_token": token})
    assert forced.status == 404
    forced = page.request.post(
        f"/admin/users/{stranger}/roles", form={"csrf_token": token, "role": "global_admin"}
    )
    assert forced.status == 404
    assert web.engine.read(web.op, organizations.get_user, stranger).roles == []


def test_a_global_admin_sets_a_users_password_and_they_sign_in(
    web_sqlite_only: Web, page_in
) -> None:
    web = web_sqlite_only
    tenant = web.tenant()
    [person] = web.people(tenant, 1)
    web.engine.run(web.op, organizations.set_roles, person, grant=["global_reader"])
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    page.goto(f"/admin/users/{person}")
    page.get_by_label("New password", exact=True).fill("a new password for the reader")
    page.get_by_label("New password again").fill("not the same one at all")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("alert")).to_contain_text("the two passwords are not the same")
    page.get_by_label("New password", exact=True).fill("a new password for the reader")
    page.get_by_label("New password again").fill("a new password for the reader")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("status")).to_contain_text("The password is set.")
    email = web.engine.read(web.op, organizations.get_user, person).email
    reader = page_in(web)
    sign_in(reader, email, "a new password for the reader")
    expect(reader.get_by_test_id("user")).to_be_visible()
    assert PASSWORD != "a new password for the reader"


def test_a_users_licenses_are_changed_on_their_page_all_or_nothing(web: Web, page_in) -> None:
    tenant = web.tenant()
    _buy(web, tenant, 2)
    _buy(web, tenant, 1, "basic-monthly")
    [person, other] = web.people(tenant, 2)
    web.engine.run(web.op, licensing.assign, tenant.id, "STD", [person])
    web.engine.run(web.op, licensing.assign, tenant.id, "BASIC", [other])
    page = page_in(web)
    sign_in(page, tenant.emails["user_admin"])
    page.goto(f"/admin/users/{person}")
    # Business Basic has none left: swapping Standard for Basic is refused, and nothing changes
    page.get_by_role("checkbox", name="Business Standard").uncheck()
    page.get_by_role("checkbox", name="Business Basic").check()
    page.get_by_role("button", name="Save licenses").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Business Basic: 1 licenses are needed and 0 are available."
    )
    assert web.engine.read(web.op, organizations.get_user, person).licenses == ["STD"]
    web.engine.run(web.op, licensing.unassign, tenant.id, "BASIC", [other])
    page.goto(f"/admin/users/{person}")
    page.get_by_role("checkbox", name="Business Standard").uncheck()
    page.get_by_role("checkbox", name="Business Basic").check()
    page.get_by_role("button", name="Save licenses").click()
    expect(page.get_by_role("status")).to_have_text("The user's licenses are saved.")
    expect(page.get_by_role("checkbox", name="Business Basic")).to_be_checked()
    assert web.engine.read(web.op, organizations.get_user, person).licenses == ["BASIC"]
    assert _available(web, tenant) == 2
