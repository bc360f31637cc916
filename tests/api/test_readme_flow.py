"""The README's curl flow, over HTTP: an operator key makes an organization and its global
admin's key; the admin adds a card, buys 100 licenses, enters 105 (R3, R6), assigns them, and
reads the invoices as JSON and as a PDF."""

from __future__ import annotations

from .conftest import Harness


def test_readme_flow(shop: Harness) -> None:
    op = shop.operator()
    org = op.ok(
        "POST",
        "/v1/organizations",
        {
            "name": "Contoso AS",
            "country": "NO",
            "currency": "NOK",
            "time_zone": "Europe/Oslo",
            "locale": "nb",
        },
        status=201,
    )
    kari = op.ok(
        "POST",
        f"/v1/organizations/{org['id']}/users",
        {
            "email": "kari@contoso.example",
            "display_name": "Kari Nordmann",
            "roles": ["global_admin"],
        },
        status=201,
    )
    created = op.ok("POST", "/v1/api-keys", {"label": "Kari", "user_id": kari["id"]}, status=201)
    assert created["key"].startswith("abo_org_")
    assert created["user_id"] == kari["id"] and created["organization_id"] == org["id"]

    api = shop.client(created["key"])
    card = api.ok(
        "POST",
        f"/v1/organizations/{org['id']}/payment-methods",
        {"kind": "card", "card_number": "4242424242424242", "exp_month": 12, "exp_year": 2030,
         "cvc": "123"},
        status=201,
    )  # fmt: skip
    assert card["label"].endswith("4242") and card["is_default"]

    sub = api.ok(
        "POST",
        f"/v1/organizations/{org['id']}/subscriptions",
        {"offer": "std-monthly", "quantity": 100},
        status=201,
    )
    assert (sub["quantity"], sub["status"], sub["channel"]) == (100, "active", "online")

    change = api.ok("PATCH", f"/v1/subscriptions/{sub['id']}", {"quantity": 105})
    assert (change["kind"], change["previous"], change["quantity"]) == ("buy", 100, 105)

    people = [
        api.ok(
            "POST",
            f"/v1/organizations/{org['id']}/users",
            {"email": f"p{i}@contoso.example", "display_name": f"Person {i}"},
            status=201,
        )["id"]
        for i in range(3)
    ]
    assigned = api.ok(
        "POST", f"/v1/organizations/{org['id']}/licenses/STD/assign", {"user_ids": people}
    )
    assert assigned["license"]["assigned"] == 3
    assert assigned["license"]["available"] == 102

    page = api.ok("GET", f"/v1/organizations/{org['id']}/invoices")
    purchase, added = page["data"]
    assert (purchase["reason"], added["reason"]) == ("purchase", "change")
    # R6: 100 licenses charged at once for the whole first month, then 5 more (R7 prorates
    # them on the next statement); NOK 140.00 each, Norwegian VAT on top.
    assert [(line["quantity"], line["unit_price"]) for line in purchase["lines"]] == [(100, 14000)]
    assert purchase["subtotal"] == 100 * 14000
    assert added["lines"][0]["quantity"] == 5
    assert added["subtotal"] == 5 * 14000

    invoice = api.ok("GET", f"/v1/invoices/{added['number']}")
    assert invoice == added

    pdf = api.get(f"/v1/invoices/{added['number']}", headers={"Accept": "application/pdf"})
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert f'filename="{added["number"]}.pdf"' in pdf.headers["content-disposition"]
