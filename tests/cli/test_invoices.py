"""`abonnement invoice`: invoices and credit notes as text, PDF and HTML in every language (R16),
payments and balance, the operator's statement (R7) and the price of a new total before it is
entered (R3, R6, R12), end to end on a temporary SQLite file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import Shop, no_traceback


def plain(text: str) -> str:
    for char in ("\u00a0", "\u202f", "\u2009"):
        text = text.replace(char, " ")
    return text.replace("\u2212", "-")


@pytest.fixture
def bought(shop: Shop) -> dict[str, Any]:
    """Ten Business Standard licenses bought by the global admin: charged at once (R6), on the
    organization's first invoice. NOK 140 a license a month, 25 % VAT in Norway."""
    return shop.sub("std-monthly", "--quantity", "10")


def invoices(shop: Shop) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = shop.cli.json("invoice", "list", str(shop.org))
    return listed


def test_r6_buying_licenses_issues_an_invoice_that_lists_and_shows(
    shop: Shop, bought: dict[str, Any]
) -> None:
    [first] = invoices(shop)
    assert (first["number"], first["kind"], first["reason"]) == (
        "INV-000001",
        "invoice",
        "purchase",
    )
    assert (first["subtotal"], first["tax_rate_bp"], first["tax"], first["total"]) == (
        140000, 2500, 35000, 175000,
    )  # fmt: skip
    [charge] = first["lines"]
    assert (charge["kind"], charge["quantity"], charge["unit_price"]) == ("charge", 10, 14000)

    listed = plain(shop.cli.ok("invoice", "list", str(shop.org)).output)
    assert "INV-000001" in listed and "Invoice" in listed and "NOK1,750.00" in listed

    shown = plain(shop.cli.ok("invoice", "show", "INV-000001").output)
    for text in ("Invoice INV-000001", "Issue date", "Due date", "Billing period", "Sold to",
                 "Bill to", "Contoso", "Business Standard (monthly)", "Subscription #",
                 "Subtotal", "VAT 25%", "NOK1,750.00"):  # fmt: skip
        assert text in shown, text
    assert shop.cli.json("invoice", "show", "INV-000001") == first


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("nb", ["Faktura INV-000001", "Fakturadato", "Forfallsdato", "Solgt til", "MVA 25 %",
                "1 750,00 kr", "Totalt"]),
        ("nl", ["Factuur INV-000001", "Factuurdatum", "Vervaldatum", "Verkocht aan", "btw 25%",
                "NOK 1.750,00", "Totaal"]),
        ("da", ["Faktura INV-000001", "Fakturadato", "Forfaldsdato", "Solgt til", "moms 25 %",
                "1.750,00 NOK", "I alt"]),
    ],
)  # fmt: skip
def test_r16_an_invoice_reads_in_norwegian_dutch_and_danish(
    shop: Shop, bought: dict[str, Any], lang: str, words: list[str]
) -> None:
    shown = plain(shop.cli.ok("invoice", "show", "INV-000001", lang=lang).output)
    for word in words:
        assert word in shown, (lang, word)
    listed = plain(shop.cli.ok("invoice", "list", str(shop.org), lang=lang).output)
    assert words[0].split()[0] in listed  # the document's name in the list


def test_invoice_pdf_writes_the_file_it_names(
    shop: Shop, bought: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "out" / "invoice.pdf"
    result = shop.cli.ok("invoice", "pdf", "INV-000001", "--out", str(target))
    assert str(target) in result.output.replace("\n", "")
    data = target.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 1000
    assert b"/Title (Invoice INV-000001)" in data
    saved = shop.cli.json("invoice", "pdf", "INV-000001", "--out", str(target))
    assert saved == {"number": "INV-000001", "path": str(target), "bytes": len(data)}
    nb = tmp_path / "nb.pdf"
    shop.cli.ok("invoice", "pdf", "INV-000001", "--out", str(nb), lang="nb")
    assert b"/Title (Faktura INV-000001)" in nb.read_bytes()
    assert b"/Lang (nb)" in nb.read_bytes()


def test_invoice_pdf_and_html_default_to_the_number_in_the_current_directory(
    shop: Shop, bought: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shop.cli.ok("invoice", "pdf", "INV-000001")
    shop.cli.ok("invoice", "html", "INV-000001")
    assert (tmp_path / "INV-000001.pdf").read_bytes().startswith(b"%PDF-")
    assert "INV-000001" in (tmp_path / "INV-000001.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("lang", "title", "vat"),
    [("en", "Invoice", "VAT 25%"), ("nb", "Faktura", "MVA 25 %"), ("nl", "Factuur", "btw 25%"),
     ("da", "Faktura", "moms 25 %")],
)  # fmt: skip
def test_r16_invoice_html_in_every_language(
    shop: Shop, bought: dict[str, Any], tmp_path: Path, lang: str, title: str, vat: str
) -> None:
    target = tmp_path / f"{lang}.html"
    shop.cli.ok("invoice", "html", "INV-000001", "--out", str(target), lang=lang)
    page = plain(target.read_text(encoding="utf-8"))
    assert f'<html lang="{lang}">' in page
    assert f"<title>{title} INV-000001" in page
    assert vat in page
    assert '<th scope="col"' in page


def test_r7_the_statement_reverses_and_restates_the_period(
    shop: Shop, bought: dict[str, Any]
) -> None:
    sub = str(bought["id"])
    shop.cli.ok("--as", shop.admin, "sub", "quantity", sub, "12")  # 2 more, charged at once
    assert [i["reason"] for i in invoices(shop)] == ["purchase", "change"]
    period_end = invoices(shop)[0]["period_end"]

    statement = shop.cli.json("invoice", "statement", str(shop.org), "--as-of", period_end)
    assert statement["reason"] == "statement"
    assert statement["issue_date"] == period_end
    kinds = [(line["kind"], line["quantity"]) for line in statement["lines"]]
    assert ("reversal", 10) in kinds and ("reversal", 2) in kinds and ("charge", 12) in kinds

    again = shop.cli.ok("invoice", "statement", str(shop.org), "--as-of", period_end)
    assert "Nothing to bill up to" in again.output
    assert shop.cli.json("invoice", "statement", str(shop.org), "--as-of", period_end) is None

    shown = plain(shop.cli.ok("invoice", "show", statement["number"]).output)
    assert "Reversal of the charge for 10 licenses" in shown
    assert "Reversal of the charge for 2 licenses" in shown
    nb = plain(shop.cli.ok("invoice", "show", statement["number"], lang="nb").output)
    assert "Tilbakeføring av belastningen for 10 lisenser" in nb


def test_the_statement_is_the_vendors_to_run(shop: Shop, bought: dict[str, Any]) -> None:
    result = shop.as_admin("invoice", "statement", str(shop.org), "--as-of", "2030-01-01")
    assert result.exit_code == 1
    assert "permission_denied" in result.output
    no_traceback(result)
    malformed = shop.cli("invoice", "statement", str(shop.org), "--as-of", "01/02/2030")
    assert malformed.exit_code == 2
    no_traceback(malformed)


def test_r11_r13_cancelling_gives_a_credit_note_that_says_when_the_credit_comes_back(
    shop: Shop, bought: dict[str, Any]
) -> None:
    shop.cli.ok("--as", shop.admin, "sub", "cancel", str(bought["id"]))
    credit = invoices(shop)[-1]
    assert credit["kind"] == "credit_note" and credit["total"] < 0
    listed = shop.cli.ok("invoice", "list", str(shop.org)).output
    assert "Credit note" in listed
    shown = plain(shop.cli.ok("invoice", "show", credit["number"]).output).replace("\n", " ")
    assert f"Credit note {credit['number']}" in shown
    assert "used on your next invoice, or refunded" in shown
    da = plain(shop.cli.ok("invoice", "show", credit["number"], lang="da").output)
    assert f"Kreditnota {credit['number']}" in da
    assert "refunderes" in da


def test_balance_and_payments(shop: Shop, bought: dict[str, Any]) -> None:
    balance = shop.cli.json("invoice", "balance", str(shop.org))
    assert (balance["currency"], balance["receivable"]) == ("NOK", 0)  # paid by card (R6)
    assert "owes nothing" in shop.cli.ok("invoice", "balance", str(shop.org)).output
    assert "skylder ingenting" in shop.cli.ok("invoice", "balance", str(shop.org), lang="nb").output

    [payment] = shop.cli.json("invoice", "payments", str(shop.org))
    assert (payment["kind"], payment["status"], payment["amount"]) == (
        "charge",
        "succeeded",
        175000,
    )
    table = plain(shop.cli.ok("invoice", "payments", str(shop.org)).output)
    assert "Charge" in table and "succeeded" in table and "INV-000001" in table
    assert "NOK1,750.00" in table
    nb = shop.cli.ok("invoice", "payments", str(shop.org), lang="nb").output
    assert "Belastning" in nb and "vellykket" in nb


def test_r1_a_license_admin_cannot_read_invoices(shop: Shop, bought: dict[str, Any]) -> None:
    for args in (("list", str(shop.org)), ("show", "INV-000001"), ("balance", str(shop.org))):
        result = shop.cli("--as", shop.license_admin, "invoice", *args)
        assert result.exit_code == 1, args
        no_traceback(result)
    assert "INV-000001" in shop.as_admin("invoice", "show", "INV-000001").output


def test_an_unknown_invoice_is_not_found(shop: Shop) -> None:
    result = shop.cli("invoice", "show", "INV-999999")
    assert result.exit_code == 1
    assert "not_found" in result.output
    no_traceback(result)
    assert "No invoices yet." in shop.cli.ok("invoice", "list", str(shop.org)).output


def test_r3_r6_preview_quantity_shows_the_charge_now_and_changes_nothing(
    shop: Shop, bought: dict[str, Any]
) -> None:
    sub = str(bought["id"])
    preview = shop.cli.json("invoice", "preview-quantity", sub, "15")
    assert preview["currency"] == "NOK"
    assert preview["charged_now"] > 0  # 5 more licenses, charged at once (R6)
    [now] = preview["now"]
    assert [(line["kind"], line["quantity"]) for line in now["lines"]] == [("charge", 5)]
    assert preview["next_billing_date"] == invoices(shop)[0]["period_end"]
    assert preview["next_invoice"] is not None

    output = plain(shop.cli.ok("invoice", "preview-quantity", sub, "15").output)
    assert "A total of 15 licenses charges NOK" in output
    assert "The next invoice, on" in output
    assert "nothing was changed or charged" in output
    assert shop.cli.json("sub", "show", sub)["quantity"] == 10  # nothing changed
    assert len(invoices(shop)) == 1  # nothing issued
    assert len(shop.cli.json("invoice", "payments", str(shop.org))) == 1  # nothing charged


def test_r12_preview_of_fewer_licenses_charges_nothing_now_and_credits_the_next_bill(
    shop: Shop, bought: dict[str, Any]
) -> None:
    sub = str(bought["id"])
    preview = shop.cli.json("invoice", "preview-quantity", sub, "4")
    assert (preview["now"], preview["charged_now"]) == ([], 0)
    upcoming = preview["next_invoice"]
    assert ("reversal", 10) in [(line["kind"], line["quantity"]) for line in upcoming["lines"]]
    nl = plain(shop.cli.ok("invoice", "preview-quantity", sub, "4", lang="nl").output)
    assert "Met in totaal 4 licenties wordt er nu niets in rekening gebracht." in nl
    assert "Terugboeking" in nl
    assert shop.cli.json("sub", "show", sub)["quantity"] == 10


def test_r4_preview_refuses_what_the_change_would_refuse(
    shop: Shop, bought: dict[str, Any]
) -> None:
    sub = str(bought["id"])
    shop.cli.ok("license", "assign", str(shop.org), "STD", *map(str, shop.people))
    result = shop.cli("--json", "invoice", "preview-quantity", sub, "1")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "quantity_below_assigned"


def test_invoice_help_is_localized(shop: Shop) -> None:
    assert "preview-quantity" in shop.cli.ok("invoice", "--help").output
    help_nb = shop.cli.ok("invoice", "--help", lang="nb").output
    assert "Fakturaer og kreditnotaer" in help_nb
