"""R16: Billing > Your products in English, Norwegian, Dutch and Danish, in the product's own
words (TERMS.md and the seeds), with money and dates written as each language writes them."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from abonnement import i18n
from abonnement.domain.money import Money
from abonnement.services import invoices, subscriptions

from .conftest import Web, shot, sign_in

WORDS = {
    "en": {
        "heading": "Your products",
        "billing": "Billing",
        "buy": "Buy licenses",
        "remove": "Remove licenses",
        "channel": "Purchase channel",
        "total": "New quantity: total licenses",
        "preview": "Preview the cost",
        "charged": "Charged now to your payment method: {amount}",
        "sign_out": "Sign out",
    },
    "nb": {
        "heading": "Dine produkter",
        "billing": "Fakturering",
        "buy": "Kjøp lisenser",
        "remove": "Fjern lisenser",
        "channel": "Kjøpskanal",
        "total": "Nytt antall: totalt antall lisenser",
        "preview": "Forhåndsvis kostnaden",
        "charged": "Belastes betalingsmåten nå: {amount}",
        "sign_out": "Logg av",
    },
    "nl": {
        "heading": "Uw producten",
        "billing": "Facturering",
        "buy": "Licenties kopen",
        "remove": "Licenties verwijderen",
        "channel": "Aankoopkanaal",
        "total": "Nieuwe hoeveelheid: totaal aantal licenties",
        "preview": "Kosten bekijken",
        "charged": "Nu in rekening gebracht bij uw betaalmethode: {amount}",
        "sign_out": "Afmelden",
    },
    "da": {
        "heading": "Dine produkter",
        "billing": "Fakturering",
        "buy": "Køb licenser",
        "remove": "Fjern licenser",
        "channel": "Købskanal",
        "total": "Ny mængde: Samlet antal licenser",
        "preview": "Se prisen",
        "charged": "Trækkes nu på din betalingsmetode: {amount}",
        "sign_out": "Log af",
    },
}
ORGS = {
    "en": ("Contoso Ltd", "EUR", "IE"),
    "nb": ("Contoso AS", "NOK", "NO"),
    "nl": ("Contoso BV", "EUR", "NL"),
    "da": ("Contoso ApS", "DKK", "DK"),
}


@pytest.mark.parametrize("lang", ["en", "nb", "nl", "da"])
def test_r16_the_products_page_in_each_language(web: Web, page_in, lang: str) -> None:
    name, currency, country = ORGS[lang]
    tenant = web.tenant(name, currency=currency, country=country)
    admin = web.actor(tenant)
    sub = web.engine.run(admin, subscriptions.buy, tenant.id, "std-monthly", quantity=100).id
    expected = web.engine.run(
        admin, invoices.preview, tenant.id, subscriptions.set_quantity, sub, 105
    )
    words = WORDS[lang]
    page = page_in(web, lang)  # the browser's Accept-Language chooses
    sign_in(page, tenant.emails["global_admin"])
    page.goto("/admin/billing/products")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.get_by_role("heading", level=1)).to_have_text(words["heading"])
    nav = page.get_by_role("navigation")
    expect(nav).to_contain_text(words["billing"])
    expect(page.get_by_role("columnheader", name=words["channel"])).to_be_visible()
    row = page.get_by_test_id(f"subscription-{sub}")
    expect(row.get_by_role("link", name=words["buy"])).to_be_visible()
    expect(row.get_by_role("link", name=words["remove"])).to_be_visible()
    expect(row).to_contain_text(i18n.format_date(expected_renewal(web, sub), lang))
    expect(page.get_by_role("button", name=words["sign_out"])).to_be_visible()
    shot(page, f"products-{lang}")
    row.get_by_role("link", name=words["buy"]).click()
    page.get_by_label(words["total"]).fill("105")
    page.get_by_role("button", name=words["preview"]).click()
    amount = i18n.format_money(Money.of(expected.charged_now, currency), lang)
    expect(page.get_by_test_id("charged-now")).to_have_text(words["charged"].format(amount=amount))
    shot(page, f"buy-preview-{lang}")


def expected_renewal(web: Web, sub: int):  # type: ignore[no-untyped-def]
    return web.engine.read(web.op, subscriptions.get, sub).term_end
