"""Invoices and credit notes as HTML, PDF and text, in en, nb, nl and da (R16), from views built
by hand: title and number, dates, billing period, sold-to and bill-to, one line per charge with
its period shown to the last day included, reversals marked, tax per rate and totals; a credit
note says when the credit comes back (R11, R13)."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser
from typing import Any

import pytest

from abonnement import i18n
from abonnement.domain.money import Money
from abonnement.rendering import Vendor, render_html, render_lines_text, render_pdf, render_text
from abonnement.services.schemas import InvoiceLineView, InvoiceView

from .pdftext import pdf_chunks, pdf_text

LOCALES = ("en", "nb", "nl", "da")
KINDS = ("invoice", "credit_note")

TITLES = {
    ("invoice", "en"): "Invoice",
    ("invoice", "nb"): "Faktura",
    ("invoice", "nl"): "Factuur",
    ("invoice", "da"): "Faktura",
    ("credit_note", "en"): "Credit note",
    ("credit_note", "nb"): "Kreditnota",
    ("credit_note", "nl"): "Creditnota",
    ("credit_note", "da"): "Kreditnota",
}
VAT = {"en": "VAT 25%", "nb": "MVA 25 %", "nl": "btw 21%", "da": "moms 25 %"}
# A period stored as [2 March, 2 April) is shown up to 1 April, the last day included.
MARCH = {
    "en": "Mar 2 – Apr 1, 2026",
    "nb": "2. mars–1. apr. 2026",
    "nl": "2 mrt – 1 apr 2026",
    "da": "2. mar.–1. apr. 2026",
}
REVERSAL = {
    "en": "Reversal of the charge for 100 licenses",
    "nb": "Tilbakeføring av belastningen for 100 lisenser",
    "nl": "Terugboeking van de kosten voor 100 licenties",
    "da": "Tilbageførsel af gebyret for 100 licenser",
}
CREDIT_SENTENCE = {
    "en": "used on your next invoice",
    "nb": "brukes på neste faktura",
    "nl": "verrekend met uw volgende factuur",
    "da": "bruges på din næste faktura",
}
# The currency and tax rate each reader's invoice is in (nl: EUR at 21 %).
CURRENCY = {"en": "NOK", "nb": "NOK", "nl": "EUR", "da": "DKK"}
RATE_BP = {"en": 2500, "nb": 2500, "nl": 2100, "da": 2500}


def plain(text: str) -> str:
    """CLDR's no-break and thin spaces and its minus sign, written plainly."""
    for char in ("\u00a0", "\u202f", "\u2009"):
        text = text.replace(char, " ")
    return text.replace("\u2212", "-")


def line(
    line_id: int,
    kind: str,
    start: date,
    end: date,
    quantity: int,
    amount: int,
    *,
    period: tuple[date, date] = (date(2026, 3, 2), date(2026, 4, 2)),
    unit_price: int = 1250,
) -> InvoiceLineView:
    return InvoiceLineView(
        id=line_id,
        subscription_id=7,
        kind=kind,
        description="Business Standard (monthly)",
        period_start=period[0],
        period_end=period[1],
        start=start,
        end=end,
        days=(end - start).days,
        period_days=(period[1] - period[0]).days,
        quantity=quantity,
        unit_price=unit_price,
        amount=amount,
        reverses_id=1 if kind == "reversal" else None,
    )


def make_invoice(
    kind: str, currency: str = "NOK", rate_bp: int = 2500, **extra: Any
) -> InvoiceView:
    """R7's statement (reverse March, restate it at 100 then 105 licenses, April in advance) or
    R11's final credit note (reverse the month, charge the 15 days used)."""
    if kind == "invoice":
        lines = [
            line(11, "reversal", date(2026, 3, 2), date(2026, 4, 2), 100, -125000),
            line(12, "reversal", date(2026, 3, 12), date(2026, 4, 2), 5, -4234),
            line(13, "charge", date(2026, 3, 2), date(2026, 3, 12), 100, 40323),
            line(14, "charge", date(2026, 3, 12), date(2026, 4, 2), 105, 88911),
            line(
                15, "charge", date(2026, 4, 2), date(2026, 5, 2), 105, 131250,
                period=(date(2026, 4, 2), date(2026, 5, 2)),
            ),
        ]  # fmt: skip
        reason, issued = "statement", date(2026, 4, 2)
    else:
        lines = [
            line(21, "reversal", date(2026, 3, 2), date(2026, 4, 2), 100, -125000),
            line(22, "charge", date(2026, 3, 2), date(2026, 3, 17), 100, 60484),
        ]
        reason, issued = "cancellation", date(2026, 3, 17)
    subtotal = sum(item.amount for item in lines)
    tax = (abs(subtotal) * rate_bp + 5000) // 10000 * (1 if subtotal >= 0 else -1)
    fields: dict[str, Any] = {
        "id": 3,
        "number": "INV-000003" if kind == "invoice" else "INV-000004",
        "kind": kind,
        "reason": reason,
        "organization_id": 42,
        "issue_date": issued,
        "due_date": date(2026, 5, 2) if kind == "invoice" else date(2026, 4, 16),
        "period_start": min(item.start for item in lines),
        "period_end": max(item.end for item in lines),
        "currency": currency,
        "subtotal": subtotal,
        "tax_rate_bp": rate_bp,
        "tax": tax,
        "total": subtotal + tax,
        "sold_to": {"organization_id": 42, "name": "Contoso Ærø & Søn", "country": "NO"},
        "bill_to": {
            "name": "Contoso Økonomi",
            "address": "Storgata 1\n0155 Oslo",
            "country": "NO",
        },
        "lines": lines,
    }
    fields.update(extra)
    return InvoiceView(**fields)


def money(minor: int, currency: str, locale: str) -> str:
    return i18n.format_money(Money.of(minor, currency), locale)


@pytest.fixture(params=[(kind, locale) for kind in KINDS for locale in LOCALES], ids=str)
def case(request: pytest.FixtureRequest) -> tuple[str, str, InvoiceView]:
    kind, locale = request.param
    return kind, locale, make_invoice(kind, CURRENCY[locale], RATE_BP[locale])


# -- HTML ---------------------------------------------------------------------------------------
class _Structure(HTMLParser):
    """The parts of the page that carry its meaning for assistive technology."""

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.scopes: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append(tag)
        if tag == "html":
            self.lang = values.get("lang")
        if tag == "th":
            self.scopes.append(values.get("scope") or "")


def test_r16_html_has_the_localized_title_number_money_and_vat(
    case: tuple[str, str, InvoiceView],
) -> None:
    kind, locale, invoice = case
    page = render_html(invoice, locale)
    text = plain(page)
    assert page.startswith("<!DOCTYPE html>")
    assert f"<title>{TITLES[kind, locale]} {invoice.number} · " in page
    assert f'>{TITLES[kind, locale]} <span class="number">{invoice.number}</span>' in page
    assert VAT[locale] in text
    for amount in (invoice.subtotal, invoice.tax, invoice.total, invoice.lines[0].amount):
        assert plain(money(amount, invoice.currency, locale)) in text
    assert MARCH[locale] in text
    assert REVERSAL[locale] in text
    assert i18n.format_date(invoice.issue_date, locale) in page
    assert i18n.format_date(invoice.due_date, locale) in page
    assert ("Storgata 1<br>0155 Oslo" in page) and ("Contoso Ærø &amp; Søn" in page)
    assert (CREDIT_SENTENCE[locale] in page) == (kind == "credit_note")


@pytest.mark.parametrize(
    ("locale", "currency", "symbol"),
    [("nb", "NOK", "kr"), ("nb", "EUR", "€"), ("nl", "EUR", "€"), ("da", "DKK", "kr."),
     ("en", "EUR", "€")],
)  # fmt: skip
def test_html_money_is_in_the_readers_format(locale: str, currency: str, symbol: str) -> None:
    invoice = make_invoice("invoice", currency)
    total = plain(money(invoice.total, currency, locale))
    assert symbol in total
    assert total in plain(render_html(invoice, locale))


def test_html_is_accessible_table_markup_with_a_language() -> None:
    invoice = make_invoice("invoice")
    page = render_html(invoice, "nb")
    structure = _Structure()
    structure.feed(page)
    assert structure.lang == "nb"
    assert structure.scopes.count("col") == 6
    assert structure.scopes.count("row") == len(invoice.lines) + 3  # lines, then the totals
    assert all(scope in ("col", "row") for scope in structure.scopes)
    assert {"caption", "thead", "tbody", "tfoot", "address", "time"} <= set(structure.tags)
    assert page.count('<tr class="reversal">') == 2
    assert page.count('<span class="badge">Tilbakeføring</span>') == 2
    # standalone: styles inline, nothing fetched
    assert "<style>" in page
    assert not re.search(r"""(src|href)=["']?https?:""", page)


def test_html_escapes_everything_that_comes_from_data() -> None:
    invoice = make_invoice(
        "invoice",
        sold_to={"organization_id": 1, "name": "<script>alert(1)</script>", "country": "NO"},
    )
    page = render_html(invoice, "en", Vendor(name="A & B <Ltd>"))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "A &amp; B &lt;Ltd&gt;" in page


def test_the_vendor_is_the_callers_with_a_default() -> None:
    invoice = make_invoice("invoice")
    assert "abonnement demo vendor" in render_html(invoice, "en")
    vendor = Vendor(
        name="Fabrikam AS", address=("Kirkegata 2", "0153 Oslo"), vat_number="NO999999999MVA"
    )
    page = render_html(invoice, "nb", vendor)
    text = render_text(invoice, "nb", vendor)
    for rendering in (page, text):
        assert "Fabrikam AS" in rendering
        assert "Kirkegata 2" in rendering
        assert "MVA-nummer: NO999999999MVA" in rendering
    assert "abonnement demo vendor" not in page


def test_a_regional_locale_is_its_language_and_an_unknown_one_is_refused() -> None:
    invoice = make_invoice("invoice")
    assert '<html lang="nb">' in render_html(invoice, "nb_NO")
    with pytest.raises(ValueError, match="unsupported locale"):
        render_html(invoice, "fr")


# -- PDF ----------------------------------------------------------------------------------------
def test_r16_pdf_shows_the_localized_invoice(case: tuple[str, str, InvoiceView]) -> None:
    kind, locale, invoice = case
    data = render_pdf(invoice, locale, compress=False)
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    assert f"/Title ({TITLES[kind, locale]} {invoice.number})".encode() in data
    assert f"/Lang ({locale})".encode() in data
    assert b"/FontFile2" in data  # the Unicode font is embedded
    chunks = [plain(chunk) for chunk in pdf_chunks(data)]
    text = "\n".join(chunks)
    assert TITLES[kind, locale] in chunks
    assert invoice.number in chunks
    assert VAT[locale] in chunks
    assert plain(money(invoice.total, invoice.currency, locale)) in chunks
    assert MARCH[locale] in chunks
    assert plain(i18n.format_date(invoice.due_date, locale)) in chunks
    assert "Contoso Ærø & Søn" in chunks
    assert "Storgata 1" in chunks
    assert (CREDIT_SENTENCE[locale] in text.replace("\n", " ")) == (kind == "credit_note")


def test_pdf_keeps_euro_signs_minus_signs_and_nordic_letters() -> None:
    invoice = make_invoice("credit_note", "EUR")
    text = pdf_text(render_pdf(invoice, "nb", compress=False))
    assert "\ufffd" not in text
    assert "€" in text and "ø" in text and "Æ" in text
    assert money(invoice.total, "EUR", "nb") in text.splitlines()  # CLDR's own spaces and minus
    assert re.search(r"Side 1 av\s*1\b", text)  # the footer's page count, filled in at the end


def test_pdf_is_a4_compressed_and_the_same_every_time() -> None:
    invoice = make_invoice("invoice")
    data = render_pdf(invoice, "da")
    assert data.startswith(b"%PDF-")
    assert len(data) > 1000
    assert b"/MediaBox [0 0 595.28 841.89]" in data  # A4 in points
    assert len(data) < len(render_pdf(invoice, "da", compress=False))
    assert render_pdf(invoice, "da") == data


def test_a_long_invoice_continues_on_more_pages() -> None:
    base = make_invoice("invoice")
    many = [item.model_copy(update={"id": 100 + i}) for i in range(60) for item in base.lines[:1]]
    invoice = base.model_copy(update={"lines": many})
    text = pdf_text(render_pdf(invoice, "en", compress=False))
    pages = int(re.findall(r"Page 1 of\s*(\d+)", text)[0])
    assert pages >= 2
    assert re.search(rf"Page {pages} of\s*{pages}\b", text)
    assert text.count("Unit price") == pages  # the column headings repeat on every page


# -- text ---------------------------------------------------------------------------------------
def _minor(amount: str) -> int:
    """An amount as the renderings write it, back in minor units (two decimals)."""
    digits = re.sub(r"[^\d]", "", amount)
    sign = -1 if re.search("[-\u2212]", amount) else 1
    return sign * int(digits)


def test_r16_text_has_the_localized_words(case: tuple[str, str, InvoiceView]) -> None:
    kind, locale, invoice = case
    text = plain(render_text(invoice, locale))
    heading = f"{TITLES[kind, locale]} {invoice.number}"
    lines = text.splitlines()
    assert heading in lines
    assert "=" * len(heading) in lines
    assert VAT[locale] in text
    assert MARCH[locale] in text
    assert REVERSAL[locale] in text
    assert (CREDIT_SENTENCE[locale] in text.replace("\n", " ")) == (kind == "credit_note")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", KINDS)
def test_text_columns_line_up_and_add_up(kind: str, locale: str) -> None:
    invoice = make_invoice(kind, CURRENCY[locale], RATE_BP[locale])
    table = render_lines_text(invoice, locale).splitlines()
    rule = table[1]
    assert set(rule) == {"-"}
    width = len(rule)
    assert len(table[0]) == width  # the headings
    amounts = [money(item.amount, invoice.currency, locale) for item in invoice.lines]
    body = table[2 : table.index(rule, 2)]  # between the two rules
    rows = [row for row in body if any(row.endswith(amount) for amount in amounts)]
    assert len(rows) == len(invoice.lines)
    for row, amount, item in zip(rows, amounts, invoice.lines, strict=True):
        assert len(row) == width, row  # every column in its place, the amount right-aligned
        assert row.endswith(amount)
        assert f"{item.days}/{item.period_days}" in row
    totals = table[-4:]
    assert [len(row) for row in totals] == [width] * 4
    subtotal, tax, total = (
        _minor(row.split("  ")[-1]) for row in (totals[0], totals[1], totals[3])
    )
    assert subtotal == sum(_minor(amount) for amount in amounts) == invoice.subtotal
    assert (tax, total) == (invoice.tax, invoice.total)
    assert subtotal + tax == total


def test_text_wraps_a_long_description_without_breaking_the_columns() -> None:
    invoice = make_invoice("invoice")
    long = [item.model_copy(update={"description": "Microsoft 365 " * 8}) for item in invoice.lines]
    text = render_lines_text(invoice.model_copy(update={"lines": long}), "en").splitlines()
    width = len(text[1])
    assert max(len(row) for row in text) == width
    assert sum(row.startswith("Microsoft 365") for row in text) > len(long)
