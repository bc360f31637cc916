"""Signing in to the admin center: passwords, sessions that every server process shares, CSRF,
the lockout after repeated failures, signing out, and choosing the language."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import expect

from abonnement.config import Settings
from abonnement.services import apikeys, subscriptions

from .conftest import PASSWORD, SECRET, Server, Web, shot, sign_in


def test_sign_in_shows_the_organization_and_the_user_and_signs_out(web: Web, page_in) -> None:
    tenant = web.tenant("Fabrikam")
    page = page_in(web)
    page.goto("/admin/billing/products")
    expect(page).to_have_url(re.compile(r"/admin/sign-in\?next=%2Fadmin%2Fbilling%2Fproducts"))
    shot(page, "sign-in")
    page.get_by_label("Email address").fill(tenant.emails["global_admin"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # back where the browser wanted to go
    expect(page).to_have_url(re.compile(r"/admin/billing/products$"))
    expect(page.get_by_test_id("organization")).to_have_text("Fabrikam")
    expect(page.get_by_test_id("user")).to_have_text("Global Admin")
    cookie = next(c for c in page.context.cookies() if c["name"] == "abo_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto("/admin")
    expect(page).to_have_url(re.compile(r"/admin/sign-in"))


def test_a_wrong_password_is_refused_and_five_lock_the_account(web: Web, page_in) -> None:
    tenant = web.tenant()
    email = tenant.emails["billing_admin"]
    page = page_in(web)
    page.goto("/admin/sign-in")
    for attempt in range(1, 6):
        page.get_by_label("Email address").fill(email)
        page.get_by_label("Password").fill(f"not the password {attempt}")
        page.get_by_role("button", name="Sign in").click()
        if attempt < 5:
            expect(page.get_by_role("alert")).to_contain_text(
                "The email address or the password is not correct."
            )
    expect(page.get_by_role("alert")).to_contain_text(
        "Too many failed sign-ins: the account is locked for 15 more minutes."
    )
    shot(page, "locked")
    # while locked, even the right password is refused
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("the account is locked for")
    # another account of the same organization is not locked
    sign_in(page, tenant.emails["global_admin"])
    expect(page.get_by_test_id("user")).to_have_text("Global Admin")


def test_an_unknown_address_gets_the_same_answer_as_a_wrong_password(web: Web, page_in) -> None:
    page = page_in(web)
    page.goto("/admin/sign-in")
    page.get_by_label("Email address").fill("nobody@nowhere.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "The email address or the password is not correct."
    )


def test_a_form_without_its_csrf_token_changes_nothing(web: Web, page_in) -> None:
    tenant = web.tenant()
    sub = web.engine.run(
        web.actor(tenant), subscriptions.buy, tenant.id, "std-monthly", quantity=10
    )
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    # the browser's own cookies, but a forged form: no token, then a wrong one
    for token in (None, "forged"):
        form = {"mode": "buy", "total": "11", "step": "save"}
        if token:
            form["csrf_token"] = token
        response = page.request.post(f"/admin/billing/products/{sub.id}/licenses", form=form)
        assert response.status == 403
        assert "The form has expired or did not come from this page" in response.text()
    assert web.engine.read(web.op, subscriptions.get, sub.id).quantity == 10


def test_the_session_holds_on_another_server_process(web: Web, page_in, tmp_path) -> None:
    """Sessions live in the database: a second `abonnement serve` knows the same browser."""
    tenant = web.tenant("Northwind")
    page = page_in(web)
    sign_in(page, tenant.emails["global_reader"])
    other = Server(web.server.database_url, tmp_path)
    try:
        # cookies belong to the host, not the port: the same browser, another process
        page.goto(other.url + "/admin")
        expect(page.get_by_test_id("organization")).to_have_text("Northwind")
        # signing out on one process ends the session on every one
        page.get_by_role("button", name="Sign out").click()
        page.goto(web.url + "/admin")
        expect(page).to_have_url(re.compile(r"/admin/sign-in"))
    finally:
        other.stop()


def test_the_language_switcher_saves_the_users_setting(web: Web, page_in) -> None:
    """R16: the user's setting wins over the browser's Accept-Language."""
    tenant = web.tenant()
    page = page_in(web, "en")
    sign_in(page, tenant.emails["global_admin"])
    page.get_by_label("Language").select_option("nb")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hjem")
    expect(page.locator("html")).to_have_attribute("lang", "nb")
    # a new browser that prefers Dutch still gets the user's Norwegian once signed in
    other = page_in(web, "nl")
    other.goto("/admin/sign-in")
    expect(other.get_by_role("button", name="Aanmelden")).to_be_visible()
    sign_in_as = tenant.emails["global_admin"]
    other.locator("#email").fill(sign_in_as)
    other.locator("#password").fill(PASSWORD)
    other.get_by_role("button", name="Aanmelden").click()
    expect(other.get_by_role("heading", level=1)).to_have_text("Hjem")


def test_the_sign_in_page_sends_a_signed_in_browser_on(web: Web, page_in) -> None:
    tenant = web.tenant()
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    page.goto("/admin/sign-in?next=%2Fadmin%2Fbilling%2Fproducts")
    expect(page).to_have_url(re.compile(r"/admin/billing/products$"))
    # never to another site
    page.goto("/admin/sign-in?next=https%3A%2F%2Fexample.org%2F")
    expect(page).to_have_url(re.compile(r"/admin$"))


def test_a_global_admin_sets_a_password_over_the_api_and_the_user_signs_in(
    web: Web, page_in
) -> None:
    """R1: global admins give passwords (PUT /v1/users/{id}/password); others may not."""
    tenant = web.tenant()
    person = web.people(tenant, 1)[0]
    pepper = apikeys.server_secret(Settings(database_url="sqlite://", secret_key=SECRET))

    def key(role: str) -> str:
        return web.engine.run(
            web.op, apikeys.create_user_key, tenant.users[role], label=role, pepper=pepper
        ).key

    url = f"{web.url}/v1/users/{person}/password"
    body = {"password": "my own long password"}
    refused = httpx.put(url, json=body, headers={"Authorization": f"Bearer {key('user_admin')}"})
    assert refused.status_code == 403, refused.text
    short = httpx.put(
        url,
        json={"password": "short"},
        headers={"Authorization": f"Bearer {key('global_admin')}", "Accept-Language": "nb"},
    )
    assert short.status_code == 422
    assert short.json()["code"] == "password_too_short"
    assert short.json()["detail"] == "Passordet må ha minst 10 tegn."
    done = httpx.put(url, json=body, headers={"Authorization": f"Bearer {key('global_admin')}"})
    assert done.status_code == 200, done.text
    assert done.json()["id"] == person
    email = done.json()["email"]
    page = page_in(web)
    sign_in(page, email, "my own long password")
    expect(page.get_by_role("heading", level=1)).to_have_text("Home")
