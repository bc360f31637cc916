"""Billing > Billing accounts in the browser: the bill-to details (Global and Billing admins),
what the vendor set shown read-only, payment methods added with the sandbox's test numbers,
the default and the backup, a declined card's message when it is charged (R6), refusals beside
their field, and what each role is offered (R1)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from abonnement.services import invoices, organizations, productkeys, subscriptions

from .conftest import Tenant, Web, shot, sign_in

DECLINED = "4000 0000 0000 0002"  # the sandbox declines every charge on it
SUCCEEDS = "5555 5555 5555 4444"


def _methods(web: Web, tenant: Tenant) -> list[tuple[str, bool, bool]]:
    views = web.engine.read(web.op, organizations.list_payment_methods, tenant.id)
    return [(v.label[-4:], v.is_default, v.is_backup) for v in views]


def _add_card(page: Page, number: str, *, month: str = "12", year: str = "2030") -> None:
    form = page.locator("form").filter(has=page.locator("input[name=kind][value=card]"))
    form.get_by_label("Card number").fill(number)
    form.get_by_label("Expiry month").fill(month)
    form.get_by_label("Expiry year").fill(year)
    form.get_by_label("Security code (CVC)").fill("123")
    form.get_by_role("button", name="Add card").click()


def test_r1_r6_a_card_added_as_default_is_declined_with_its_message_then_the_default_changes(
    web: Web, page_in
) -> None:
    tenant = web.tenant()  # a card ending 4242 is the default
    sub = web.engine.run(
        web.actor(tenant), subscriptions.buy, tenant.id, "std-monthly", quantity=10
    ).id
    page = page_in(web)
    sign_in(page, tenant.emails["billing_admin"])
    page.get_by_role("navigation", name="Main navigation").get_by_role(
        "link", name="Billing accounts"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing accounts")
    _add_card(page, DECLINED)
    expect(page.get_by_role("status")).to_have_text("The card is added.")
    assert _methods(web, tenant) == [("0002", True, False), ("4242", False, False)]
    methods = page.get_by_test_id("payment-methods")
    expect(methods.locator("tbody tr").first).to_contain_text("0002")
    expect(methods.locator("tbody tr").first.get_by_test_id("use")).to_have_text("Default")
    shot(page, "card-added")
    # R6: buying charges the default payment method at once; the sandbox declines this card
    page.goto(f"/admin/billing/products/{sub}/licenses?mode=buy")
    page.get_by_label("New quantity: total licenses").fill("15")
    page.get_by_role("button", name="Save").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("was declined, so nothing was bought.")
    expect(alert).to_contain_text(
        "Use another payment method, or ask your bank why the card was declined."
    )
    shot(page, "declined")
    assert web.engine.read(web.op, subscriptions.get, sub).quantity == 10
    # the card that works becomes the default again, and the purchase goes through
    page.goto("/admin/billing/accounts")
    page.get_by_role("button", name="Make Visa •••• 4242 the default").click()
    expect(page.get_by_role("status")).to_have_text(
        "Visa •••• 4242 is now the default payment method."
    )
    assert _methods(web, tenant) == [("4242", True, False), ("0002", False, True)]
    page.goto(f"/admin/billing/products/{sub}/licenses?mode=buy")
    page.get_by_label("New quantity: total licenses").fill("15")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text(
        "You bought 5 licenses. They can be assigned right away."
    )


def test_refusals_are_shown_beside_their_field_and_nothing_is_added(web: Web, page_in) -> None:
    tenant = web.tenant()
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    page.goto("/admin/billing/accounts")
    _add_card(page, "4242 4242 4242 4241")
    error = page.get_by_test_id("error-card_number")
    expect(error).to_have_text("This card number is not valid. Check the digits.")
    expect(page.get_by_label("Card number")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Card number")).to_have_value("")  # never echoed back
    shot(page, "card-number-refused")
    _add_card(page, SUCCEEDS, year="2020")
    expect(page.get_by_test_id("error-exp_year")).to_have_text("This card has expired.")
    expect(page.get_by_label("Expiry year")).to_have_value("2020")
    _add_card(page, SUCCEEDS, month="ab")
    expect(page.get_by_test_id("error-exp_month")).to_have_text("Enter the expiry month, 1 to 12.")
    bank = page.locator("form").filter(has=page.locator("input[name=kind][value=bank_account]"))
    bank.get_by_label("IBAN").fill("NL91 ABNA 0417 1643 01")
    bank.get_by_label("Account holder").fill("Contoso BV")
    bank.get_by_role("button", name="Add bank account").click()
    expect(page.get_by_test_id("error-iban")).to_have_text(
        "This IBAN is not valid. Check it against your bank statement."
    )
    expect(page.get_by_label("Account holder")).to_have_value("Contoso BV")
    assert _methods(web, tenant) == [("4242", True, False)]
    # the right details are added
    bank = page.locator("form").filter(has=page.locator("input[name=kind][value=bank_account]"))
    bank.get_by_label("IBAN").fill("NL91 ABNA 0417 1643 00")
    bank.get_by_role("button", name="Add bank account").click()
    expect(page.get_by_role("status")).to_have_text("The bank account is added.")
    page.get_by_role("button", name="Add pay by invoice").click()
    expect(page.get_by_role("status")).to_have_text("Pay by invoice is added.")
    labels = [label for label, _, _ in _methods(web, tenant)]
    assert labels[0] == "4242" and len(labels) == 3
    shot(page, "three-methods")


def test_backup_and_remove(web_sqlite_only: Web, page_in) -> None:
    web = web_sqlite_only
    tenant = web.tenant()
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    page.goto("/admin/billing/accounts")
    page.get_by_label("Make it the default payment method").first.uncheck()
    _add_card(page, SUCCEEDS)
    page.get_by_role("button", name="Add pay by invoice").click()
    assert _methods(web, tenant) == [
        ("4242", True, False),
        ("oice", False, True),
        ("4444", False, True),
    ]
    page.get_by_role("button", name="Use Mastercard •••• 4444 as the backup").click()
    expect(page.get_by_role("status")).to_have_text(
        "Mastercard •••• 4444 is now the backup payment method."
    )
    assert _methods(web, tenant) == [
        ("4242", True, False),
        ("4444", False, True),
        ("oice", False, False),
    ]
    page.get_by_role("button", name="Remove Visa •••• 4242").click()
    expect(page.get_by_role("status")).to_have_text("The payment method is removed.")
    assert [label for label, default, _ in _methods(web, tenant) if default] == ["4444"]


def test_bill_to_is_kept_by_admins_and_the_vendors_terms_are_read_only(web: Web, page_in) -> None:
    tenant = web.tenant()
    page = page_in(web)
    sign_in(page, tenant.emails["global_admin"])
    page.goto("/admin/billing/accounts")
    facts = page.get_by_test_id("account-facts")
    expect(facts).to_contain_text("EUR")
    expect(facts).to_contain_text("Netherlands")
    expect(facts).to_contain_text("21%")
    expect(facts).to_contain_text("Net 30 days")
    expect(page.get_by_label("Tax rate")).to_have_count(0)  # not a field: the vendor's
    page.get_by_label("Bill to: name").fill("")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("error-bill_to_name")).to_have_text(
        "Enter the name invoices are addressed to."
    )
    page.get_by_label("Bill to: name").fill("Contoso Finance BV")
    page.get_by_label("Bill to: address").fill("Herengracht 1\n1015 BA Amsterdam")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text(
        "The bill-to details are saved. New invoices use them."
    )
    account = web.engine.read(web.op, invoices.get_billing_account, tenant.id)
    assert (account.bill_to_name, account.bill_to_address) == (
        "Contoso Finance BV",
        "Herengracht 1\n1015 BA Amsterdam",
    )
    shot(page, "bill-to")


def test_r1_a_global_reader_sees_the_account_but_no_payment_methods(
    web_sqlite_only: Web, page_in
) -> None:
    web = web_sqlite_only
    tenant = web.tenant()
    page = page_in(web)
    sign_in(page, tenant.emails["global_reader"])
    page.goto("/admin/billing/accounts")
    expect(page.get_by_test_id("account-facts")).to_contain_text("EUR")
    expect(page.get_by_label("Bill to: name")).to_have_count(0)
    expect(page.get_by_role("heading", name="Payment methods")).to_have_count(0)
    expect(page.get_by_role("button", name="Add card")).to_have_count(0)
    # the services refuse it anyway (R1), with a valid form
    method = web.engine.read(web.op, organizations.list_payment_methods, tenant.id)[0]
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    response = page.request.post(
        f"/admin/billing/accounts/payment-methods/{method.id}/remove",
        form={"csrf_token": token or ""},
    )
    assert response.status == 403
    assert "does not allow this action" in response.text()
    assert _methods(web, tenant) == [("4242", True, False)]
    for role in ("license_admin", "user_admin"):
        other = page_in(web)
        sign_in(other, tenant.emails[role])
        nav = other.get_by_role("navigation", name="Main navigation")
        expect(nav.get_by_role("link", name="Billing accounts")).to_have_count(0)
        assert other.goto("/admin/billing/accounts").status == 403  # type: ignore[union-attr]


def _typo(key: str) -> str:
    """The key with one character changed: the check character catches it."""
    i = 7 if key[7] != "-" else 8
    swap = "B" if key[i] != "B" else "C"
    return key[:i] + swap + key[i + 1 :]


def test_redeeming_two_keys_at_once_and_a_mistyped_key_is_refused(web: Web, page_in) -> None:
    tenant = web.tenant()
    keys = web.engine.run(web.op, productkeys.generate, "std-monthly", count=3, licenses=5).keys
    page = page_in(web)
    sign_in(page, tenant.emails["billing_admin"])
    page.goto("/admin/billing/accounts")
    page.get_by_role("link", name="Redeem product keys").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Redeem product keys")
    # a typo in the second key: refused by its check character, and neither key is used
    page.get_by_label("Product keys, one a line").fill(f"{keys[0]}\n{_typo(keys[1])}")
    page.get_by_role("button", name="Redeem").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("has a typing error.")
    expect(alert).to_contain_text("Check each character against the key you received.")
    expect(page.get_by_label("Product keys, one a line")).to_have_value(
        f"{keys[0]}\n{_typo(keys[1])}"
    )
    shot(page, "key-typo")
    assert web.engine.read(web.op, subscriptions.list_for, tenant.id) == []
    # two keys at once, the first typed in lower case with spaces
    page.get_by_label("Product keys, one a line").fill(
        f"{keys[0].lower().replace('-', ' ')}\n{keys[1]}"
    )
    page.get_by_role("button", name="Redeem").click()
    expect(page.get_by_test_id("redeemed")).to_contain_text(
        "2 product keys redeemed: 10 licenses were added to Business Standard, 10 licenses in all."
    )
    shot(page, "keys-redeemed")
    (sub,) = web.engine.read(web.op, subscriptions.list_for, tenant.id)
    assert (sub.channel, sub.quantity, sub.prepaid_quantity) == ("prepaid", 10, 10)
    # a key works once
    page.get_by_label("Product keys, one a line").fill(keys[0])
    page.get_by_role("button", name="Redeem").click()
    expect(page.get_by_role("alert")).to_contain_text("has already been used.")


def test_r1_only_global_and_billing_admins_redeem_keys(web_sqlite_only: Web, page_in) -> None:
    web = web_sqlite_only
    tenant = web.tenant()
    page = page_in(web)
    sign_in(page, tenant.emails["global_reader"])
    response = page.goto("/admin/billing/keys")
    assert response is not None and response.status == 403


def test_r16_billing_accounts_and_keys_in_danish_and_dutch(web_sqlite_only: Web, page_in) -> None:
    web = web_sqlite_only
    tenant = web.tenant(country="DK", currency="DKK")
    for lang, heading, refusal, keys_heading in (
        (
            "da",
            "Faktureringskonti",
            "Dette kortnummer er ikke gyldigt. Tjek cifrene.",
            "Indløs produktnøgler",
        ),
        (
            "nl",
            "Factureringsaccounts",
            "Dit kaartnummer is niet geldig. Controleer de cijfers.",
            "Productsleutels inwisselen",
        ),
    ):
        page = page_in(web, lang)
        sign_in(page, tenant.emails["global_admin"])
        page.goto("/admin/billing/accounts")
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        form = page.locator("form").filter(has=page.locator("input[name=kind][value=card]"))
        form.locator("input[name=card_number]").fill("4242 4242 4242 4241")
        form.locator("input[name=exp_month]").fill("12")
        form.locator("input[name=exp_year]").fill("2030")
        form.locator("input[name=cvc]").fill("123")
        form.locator("button[type=submit]").click()
        expect(page.get_by_test_id("error-card_number")).to_have_text(refusal)
        shot(page, f"refusal-{lang}")
        page.goto("/admin/billing/keys")
        expect(page.get_by_role("heading", level=1)).to_have_text(keys_heading)
