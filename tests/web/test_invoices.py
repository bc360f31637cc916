"""Billing > Invoices in the browser: the list with each invoice's status, the detail with its
lines, reversal and tax in two languages, the PDF in the reader's language, the credit note of
a cancellation (R11) and its refund in the next billing cycle (R13), and who may read them (R1).

The figures are the issued invoices' own (read through the services), formatted as the reader
reads them; the page must show them as they are."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from abonnement import i18n
from abonnement.domain.money import Money
from abonnement.services import cancellation, clocks, invoices, organizations, subscriptions
from abonnement.web.pages.invoices import statuses

from .conftest import Tenant, Web, shot, sign_in


def _money(minor: int, locale: str = "en", currency: str = "EUR") -> str:
    return i18n.format_money(Money.of(minor, currency), locale)


def _bought_and_cancelled(web: Web, tenant: Tenant) -> tuple[str, str]:
    """10 licenses bought and paid by card, cancelled 10 days later: an invoice and a credit
    note (R11). Returns their numbers."""
    actor = web.actor(tenant)
    sub = web.engine.run(actor, subscriptions.buy, tenant.id, "std-monthly", quantity=10)
    web.engine.run(web.op, clocks.advance, tenant.id, days=10)
    web.engine.run(actor, cancellation.cancel, sub.id)
    rows = web.engine.read(actor, invoices.list_invoices, tenant.id)
    assert [r.kind for r in rows] == ["invoice", "credit_note"]
    return rows[0].number, rows[1].number


def _row(page: Page, number: str):  # type: ignore[no-untyped-def]
    return page.get_by_test_id(f"invoice-{number}")


def test_r11_r13_invoices_credit_note_payments_refund_and_balance(web: Web, page_in) -> None:
    tenant = web.tenant()
    invoice_no, credit_no = _bought_and_cancelled(web, tenant)
    actor = web.actor(tenant)
    invoice = web.engine.read(actor, invoices.get_invoice, invoice_no)
    credit = web.engine.read(actor, invoices.get_invoice, credit_no)
    assert credit.total < 0
    page = page_in(web)
    sign_in(page, tenant.emails["billing_admin"])
    page.get_by_role("navigation", name="Main navigation").get_by_role(
        "link", name="Invoices"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Invoices")
    expect(_row(page, invoice_no).get_by_test_id("total")).to_have_text(_money(invoice.total))
    expect(_row(page, invoice_no).get_by_test_id("status")).to_have_text("Paid")
    expect(_row(page, credit_no).get_by_test_id("total")).to_have_text(_money(credit.total))
    expect(_row(page, credit_no).get_by_test_id("status")).to_have_text("Credit note")
    expect(_row(page, credit_no)).to_contain_text("Cancellation")
    # R11: the credit waits on the account until the next billing cycle
    expect(page.get_by_test_id("balance")).to_contain_text(
        f"You have a credit of {_money(-credit.total)}."
    )
    payments = page.get_by_test_id("payments")
    expect(payments.locator("tbody tr")).to_have_count(1)
    expect(payments).to_contain_text(_money(invoice.total))
    shot(page, "invoices-with-credit")
    # R13: the next billing cycle refunds the credit to the card
    web.engine.run(web.op, clocks.advance, tenant.id, days=25)
    page.reload()
    expect(payments.locator("tbody tr")).to_have_count(2)
    refund = payments.locator("tbody tr").first
    expect(refund).to_contain_text("Refund")
    expect(refund).to_contain_text(_money(credit.total))
    expect(refund).to_contain_text("Succeeded")
    expect(page.get_by_test_id("balance")).to_have_text("Nothing is owed.")
    shot(page, "invoices-after-refund")


def test_the_invoice_detail_in_english_and_norwegian(web: Web, page_in) -> None:
    tenant = web.tenant()
    _, credit_no = _bought_and_cancelled(web, tenant)
    credit = web.engine.read(web.actor(tenant), invoices.get_invoice, credit_no)
    for lang, title, reversal, tax in (
        ("en", "Credit note", "Reversal", "VAT"),
        ("nb", "Kreditnota", "Tilbakeføring", "MVA"),
    ):
        page = page_in(web, lang)
        sign_in(page, tenant.emails["global_reader"])
        page.goto(f"/admin/billing/invoices/{credit_no}")
        expect(page.get_by_role("heading", level=1)).to_have_text(f"{title} {credit_no}")
        lines = page.get_by_test_id("lines")
        expect(lines.locator("tbody tr")).to_have_count(2)
        expect(lines.locator("tbody tr.reversal")).to_contain_text(reversal)
        expect(lines.locator("tbody tr.reversal")).to_contain_text(
            _money(credit.lines[0].amount, lang)
        )
        expect(lines.locator("tfoot")).to_contain_text(tax)
        expect(page.get_by_test_id("invoice-total")).to_have_text(_money(credit.total, lang))
        shot(page, f"credit-note-{lang}")


def test_the_pdf_downloads_in_the_readers_language(web: Web, page_in) -> None:
    tenant = web.tenant()
    invoice_no, _ = _bought_and_cancelled(web, tenant)
    for lang in ("nl", "da"):
        page = page_in(web, lang)
        sign_in(page, tenant.emails["global_admin"])
        page.goto(f"/admin/billing/invoices/{invoice_no}")
        with page.expect_download() as info:
            page.get_by_test_id("pdf").click()
        download = info.value
        assert download.suggested_filename == f"{invoice_no}.pdf"
        path = download.path()
        assert path is not None
        data = path.read_bytes()
        assert data.startswith(b"%PDF")
        assert re.search(rb"/Lang \((\w+)\)", data).group(1) == lang.encode()  # type: ignore[union-attr]


def test_an_invoice_paid_by_transfer_is_open_until_paid(web_sqlite_only: Web, page_in) -> None:
    web = web_sqlite_only
    tenant = web.tenant(card=False)
    web.engine.run(web.op, organizations.add_payment_method, tenant.id, kind="invoice")
    web.engine.run(web.actor(tenant), subscriptions.buy, tenant.id, "std-monthly", quantity=4)
    (invoice,) = web.engine.read(web.op, invoices.list_invoices, tenant.id)
    page = page_in(web)
    sign_in(page, tenant.emails["global_reader"])
    page.goto("/admin/billing/invoices")
    expect(_row(page, invoice.number).get_by_test_id("status")).to_have_text("Open")
    expect(page.get_by_test_id("balance")).to_have_text(f"You owe {_money(invoice.total)}.")
    expect(page.get_by_test_id("payments")).to_contain_text("Pending")
    _row(page, invoice.number).get_by_role("link", name=invoice.number, exact=True).click()
    due = i18n.format_date(invoice.due_date, "en")
    expect(page.get_by_test_id("open-amount")).to_have_text(
        f"{_money(invoice.total)} is due on {due}."
    )
    shot(page, "open-invoice")


def test_r1_license_and_user_admins_have_no_invoices(web_sqlite_only: Web, page_in) -> None:
    web = web_sqlite_only
    tenant = web.tenant()
    invoice_no, _ = _bought_and_cancelled(web, tenant)
    for role in ("license_admin", "user_admin"):
        page = page_in(web)
        sign_in(page, tenant.emails[role])
        nav = page.get_by_role("navigation", name="Main navigation")
        expect(nav.get_by_role("link", name="Invoices")).to_have_count(0)
        response = page.goto(f"/admin/billing/invoices/{invoice_no}")
        assert response is not None and response.status == 403
        expect(page.get_by_role("alert")).to_contain_text("view invoices")
        response = page.goto(f"/admin/billing/invoices/{invoice_no}.pdf")
        assert response is not None and response.status == 403


def test_r1_another_organizations_invoice_is_not_found(web_sqlite_only: Web, page_in) -> None:
    web = web_sqlite_only
    ours, theirs = web.tenant(), web.tenant("Fabrikam")
    invoice_no, _ = _bought_and_cancelled(web, theirs)
    page = page_in(web)
    sign_in(page, ours.emails["global_admin"])
    response = page.goto(f"/admin/billing/invoices/{invoice_no}")
    assert response is not None and response.status == 404


def test_open_invoices_are_the_newest_ones_the_balance_still_owes() -> None:
    """The status is read from the ledger's balance: what is owed is the newest invoices."""
    from datetime import date

    from abonnement.services.schemas import InvoiceView

    def inv(i: int, total: int, kind: str = "invoice") -> InvoiceView:
        day = date(2026, 3, i)
        return InvoiceView(
            id=i,
            number=f"INV-{i:06d}",
            kind=kind,
            reason="statement",
            organization_id=1,
            issue_date=day,
            due_date=day,
            period_start=day,
            period_end=day,
            currency="EUR",
            subtotal=total,
            tax_rate_bp=0,
            tax=0,
            total=total,
            sold_to={},
            bill_to={},
            lines=[],
        )

    rows = statuses([inv(1, 1000), inv(2, -300, "credit_note"), inv(3, 500)], receivable=700)
    assert [(r.invoice.id, r.status, r.open_amount) for r in rows] == [
        (3, "open", 500),
        (2, "credit_note", 0),
        (1, "open", 200),
    ]
    assert [r.status for r in statuses([inv(1, 1000)], receivable=-50)] == ["paid"]
    assert [r.status for r in statuses([inv(1, 1000)], receivable=0)] == ["paid"]
