"""Each resource over HTTP: catalog, organizations, users and roles, subscriptions and their
changes, licenses, product keys, billing, invoices, audit and callbacks, with pagination."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from abonnement.clock import FixedClock
from abonnement.domain.productkeys import ALPHABET as KEY_ALPHABET
from abonnement.services import licensing, productkeys, subscriptions

from .conftest import CARD, Api, Harness, Tenant, problem


@pytest.fixture
def tenant(shop: Harness) -> Tenant:
    return shop.tenant("Contoso")


def walk(api: Api, path: str, limit: int) -> list[Any]:
    """Every item of a paginated list, page by page."""
    items: list[Any] = []
    cursor = None
    while True:
        sep = "&" if "?" in path else "?"
        url = f"{path}{sep}limit={limit}" + (f"&starting_after={cursor}" if cursor else "")
        page = api.ok("GET", url)
        assert len(page["data"]) <= limit
        items.extend(page["data"])
        if not page["has_more"]:
            assert page["next_cursor"] is None
            return items
        cursor = page["next_cursor"]
        assert cursor == page["data"][-1]["id"]


# -- catalog -----------------------------------------------------------------------------------
def test_catalog(harness: Harness) -> None:
    op = harness.operator()
    product = op.ok(
        "POST",
        "/v1/products",
        {"sku": "PREM", "name": "Business Premium", "service_plans": [
            {"code": "EXO", "name": "Exchange Online"}, {"code": "INTUNE", "name": "Intune"}]},
        201,
    )  # fmt: skip
    assert [p["code"] for p in product["service_plans"]] == ["EXO", "INTUNE"]
    problem(op.post("/v1/products", {"sku": "PREM", "name": "Again"}), 409, "already_exists")
    offer = op.ok(
        "POST",
        "/v1/offers",
        {
            "code": "prem-annual",
            "product_sku": "PREM",
            "name": "Business Premium (annual)",
            "prices": {"EUR": 26400, "NOK": 295200},
            "term": "annual",
            "billing_frequency": "monthly",
            "cancellation_model": "windowed",
            "channels": ["online", "prepaid"],
        },
        201,
    )
    assert offer["prices"] == {"EUR": 26400, "NOK": 295200}
    assert offer["channels"] == ["online", "prepaid"]
    bad = op.post(
        "/v1/offers",
        {"code": "x", "product_sku": "PREM", "name": "X", "prices": {"EUR": -1}},
    )
    assert problem(bad, 422, "invalid_input")["errors"][0]["field"] == "prices.EUR"
    problem(
        op.post(
            "/v1/offers", {"code": "y", "product_sku": "NOPE", "name": "Y", "prices": {"EUR": 1}}
        ),
        404,
        "not_found",
    )
    assert [o["code"] for o in op.ok("GET", "/v1/offers")] == ["prem-annual"]
    assert [p["sku"] for p in op.ok("GET", "/v1/products")] == ["PREM"]


# -- organizations and users --------------------------------------------------------------------
def test_organizations_are_paginated(shop: Harness) -> None:
    op = shop.operator()
    made = [
        op.ok(
            "POST",
            "/v1/organizations",
            {"name": f"Org {i}", "country": "DK", "currency": "DKK", "locale": "da"},
            201,
        )
        for i in range(5)
    ]
    assert walk(op, "/v1/organizations", 2) == made
    assert op.ok("GET", f"/v1/organizations/{made[3]['id']}") == made[3]
    page = op.ok("GET", f"/v1/organizations?limit=2&starting_after={made[-1]['id']}")
    assert page == {"data": [], "has_more": False, "next_cursor": None}
    problem(op.get("/v1/organizations/999999"), 404, "not_found")


def test_users_roles_and_r2(shop: Harness, tenant: Tenant) -> None:
    org = tenant.id
    admin = shop.client(tenant.keys["global_admin"])
    admin.ok(
        "POST",
        f"/v1/organizations/{org}/subscriptions",
        {"offer": "std-monthly", "quantity": 3},
        201,
    )
    # R2: a person and a license in one step, by a user admin (no admin roles)
    users = shop.client(tenant.keys["user_admin"])
    ola = users.ok(
        "POST",
        f"/v1/organizations/{org}/users",
        {"email": "ola@contoso.example", "display_name": "Ola", "licenses": ["STD"]},
        201,
    )
    assert ola["licenses"] == ["STD"]
    licenses = admin.ok("GET", f"/v1/organizations/{org}/licenses")
    assert licenses[0]["assigned"] == 1 and ola["id"] in licenses[0]["user_ids"]
    # all or nothing: no licenses left means no user either
    admin.ok("PATCH", f"/v1/subscriptions/{licenses[0]['subscription_ids'][0]}", {"quantity": 1})
    refused = users.post(
        f"/v1/organizations/{org}/users",
        {"email": "kari@contoso.example", "display_name": "Kari", "licenses": ["STD"]},
    )
    problem(refused, 409, "no_licenses_available")
    emails = [u["email"] for u in walk(admin, f"/v1/organizations/{org}/users", 2)]
    assert "kari@contoso.example" not in emails and "ola@contoso.example" in emails
    # user admins add no admins (R1); global admins do, with licenses too
    body = {"email": "bo@contoso.example", "display_name": "Bo", "roles": ["billing_admin"]}
    problem(users.post(f"/v1/organizations/{org}/users", body), 403, "permission_denied")
    bo = admin.ok("POST", f"/v1/organizations/{org}/users", body, 201)
    assert bo["roles"] == ["billing_admin"]
    granted = admin.ok("PATCH", f"/v1/users/{bo['id']}/roles", {"grant": ["global_reader"]})
    assert granted["roles"] == ["billing_admin", "global_reader"]
    assert admin.ok("GET", f"/v1/users/{bo['id']}")["roles"] == granted["roles"]
    # the last global admin stays
    problem(
        admin.patch(
            f"/v1/users/{tenant.users['global_admin']}/roles", {"revoke": ["global_admin"]}
        ),
        409,
        "last_global_admin",
    )
    # deleting a person frees their license
    deleted = users.ok("DELETE", f"/v1/users/{ola['id']}")
    assert deleted["licenses"] == ["STD"]
    assert admin.ok("GET", f"/v1/organizations/{org}/licenses")[0]["assigned"] == 0
    problem(admin.get(f"/v1/users/{ola['id']}"), 404, "not_found")


# -- subscriptions ------------------------------------------------------------------------------
def test_subscription_changes(shop: Harness, tenant: Tenant) -> None:
    org = tenant.id
    admin = shop.client(tenant.keys["global_admin"])
    sub = admin.ok(
        "POST",
        f"/v1/organizations/{org}/subscriptions",
        {"offer": "std-monthly", "quantity": 10},
        201,
    )
    trial = admin.ok(
        "POST",
        f"/v1/organizations/{org}/subscriptions",
        {"offer": "basic-monthly", "quantity": 2},
        201,
    )
    sid = sub["id"]
    assert admin.ok("GET", f"/v1/subscriptions/{sid}") == sub
    listed = admin.ok("GET", f"/v1/organizations/{org}/subscriptions?status=active")
    assert [s["id"] for s in listed["data"]] == [sid, trial["id"]]
    assert admin.ok("GET", f"/v1/organizations/{org}/subscriptions?status=trial")["data"] == []
    availability = admin.ok("GET", f"/v1/subscriptions/{sid}/availability")
    assert availability["can_buy"] and availability["can_remove"]

    people = shop.people(tenant, 4)
    admin.ok("POST", f"/v1/organizations/{org}/licenses/STD/assign", {"user_ids": people})
    # R3: the new total; R4: never below the assigned ones
    removed = admin.ok("PATCH", f"/v1/subscriptions/{sid}", {"quantity": 8})
    assert (removed["kind"], removed["previous"], removed["quantity"]) == ("remove", 10, 8)
    body = problem(
        admin.patch(f"/v1/subscriptions/{sid}", {"quantity": 3}), 409, "quantity_below_assigned"
    )
    assert body["context"] == {"requested": 3, "assigned": 4}

    # previews change nothing
    before = admin.ok("GET", f"/v1/subscriptions/{sid}")
    invoices_before = admin.ok("GET", f"/v1/organizations/{org}/invoices")
    more = admin.ok("POST", f"/v1/subscriptions/{sid}/preview", {"quantity": 12})
    assert more["charged_now"] > 0 and more["currency"] == "EUR"
    assert more["now"][0]["lines"][0]["quantity"] == 4
    cancel = admin.ok("POST", f"/v1/subscriptions/{sid}/preview", {"cancel": True})
    assert cancel["charged_now"] < 0
    switch = admin.ok("POST", f"/v1/subscriptions/{sid}/preview", {"switch_to": "basic-monthly"})
    assert switch["now"]
    assert admin.ok("GET", f"/v1/subscriptions/{sid}") == before
    assert admin.ok("GET", f"/v1/organizations/{org}/invoices") == invoices_before

    off = admin.ok("PUT", f"/v1/subscriptions/{sid}/recurring-billing", {"on": False})
    assert off["recurring_billing"] is False
    on = admin.ok("PUT", f"/v1/subscriptions/{sid}/recurring-billing", {"on": True})
    assert on["recurring_billing"] is True

    # R9: switch plan, the users' licenses move along
    switched = admin.ok("POST", f"/v1/subscriptions/{sid}/switch", {"offer": "basic-monthly"})
    assert sorted(switched["moved_user_ids"]) == sorted(people)
    assert switched["old"]["status"] == "disabled"
    assert switched["new"]["assigned"] == 4

    # cancel, then reactivate
    cancelled = admin.ok("POST", f"/v1/subscriptions/{trial['id']}/cancel")
    assert cancelled["outcome"] == "now"
    assert cancelled["subscription"]["status"] == "disabled"
    back = admin.ok("POST", f"/v1/subscriptions/{trial['id']}/reactivate")
    assert back["status"] == "active"


def test_trials_and_the_callback_queue(shop: Harness, tenant: Tenant) -> None:
    org = tenant.id
    admin = shop.client(tenant.keys["billing_admin"])
    trial = admin.ok(
        "POST",
        f"/v1/organizations/{org}/subscriptions",
        {"offer": "std-monthly", "trial": True},
        201,
    )
    assert (trial["status"], trial["quantity"]) == ("trial", 25)
    problem(admin.post(f"/v1/subscriptions/{trial['id']}/cancel"), 409, "trial_nothing_to_cancel")
    callback = admin.ok(
        "POST",
        f"/v1/subscriptions/{trial['id']}/callback",
        {"phone": "+31 20 123 4567", "note": "Please call"},
        201,
    )
    op = shop.operator()
    queue = op.ok("GET", "/v1/callbacks")
    assert [c["id"] for c in queue] == [callback["id"]]
    closed = op.ok("POST", f"/v1/callbacks/{callback['id']}/close")
    assert closed["status"] == "done"
    assert op.ok("GET", "/v1/callbacks") == []
    assert [c["id"] for c in op.ok("GET", "/v1/callbacks?status=all")] == [callback["id"]]
    problem(admin.get("/v1/callbacks"), 403, "permission_denied")


# -- licenses and product keys -----------------------------------------------------------------
def test_licenses_assign_and_unassign(shop: Harness, tenant: Tenant) -> None:
    org = tenant.id
    admin = shop.client(tenant.keys["global_admin"])
    admin.ok(
        "POST",
        f"/v1/organizations/{org}/subscriptions",
        {"offer": "std-monthly", "quantity": 20},
        201,
    )
    people = shop.people(tenant, 21)
    licensing_admin = shop.client(tenant.keys["license_admin"])
    too_many = licensing_admin.post(
        f"/v1/organizations/{org}/licenses/STD/assign", {"user_ids": people}
    )
    assert problem(too_many, 422, "invalid_input")["errors"][0]["field"] == "user_ids"
    result = licensing_admin.ok(
        "POST", f"/v1/organizations/{org}/licenses/STD/assign", {"user_ids": people[:20]}
    )
    assert result["license"]["assigned"] == 20 and result["license"]["available"] == 0
    problem(
        licensing_admin.post(
            f"/v1/organizations/{org}/licenses/STD/assign", {"user_ids": people[20:]}
        ),
        409,
        "no_licenses_available",
    )
    back = licensing_admin.ok(
        "POST", f"/v1/organizations/{org}/licenses/STD/unassign", {"user_ids": people[:5]}
    )
    assert back["license"]["assigned"] == 15
    problem(
        licensing_admin.post(
            f"/v1/organizations/{org}/licenses/NOPE/assign", {"user_ids": people[:1]}
        ),
        404,
        "not_found",
    )
    view = licensing_admin.ok("GET", f"/v1/organizations/{org}/licenses")
    assert [(v["product_sku"], v["total"], v["assigned"]) for v in view] == [("STD", 20, 15)]


def test_product_keys(shop: Harness, tenant: Tenant) -> None:
    op = shop.operator()
    made = op.ok(
        "POST", "/v1/product-keys", {"offer": "std-monthly", "count": 2, "licenses": 10}, 201
    )
    assert len(made["keys"]) == 2 and made["licenses_per_key"] == 10
    admin = shop.client(tenant.keys["global_admin"])
    redeemed = admin.ok(
        "POST", f"/v1/organizations/{tenant.id}/product-keys/redeem", {"keys": made["keys"]}
    )
    assert redeemed["licenses_added"] == 20
    assert redeemed["subscription"]["channel"] == "prepaid"
    again = admin.post(
        f"/v1/organizations/{tenant.id}/product-keys/redeem", {"keys": made["keys"][:1]}
    )
    problem(again, 409, "product_key_already_redeemed")
    last = made["keys"][0][-1]
    typo = made["keys"][0][:-1] + next(c for c in KEY_ALPHABET if c != last)
    problem(
        admin.post(f"/v1/organizations/{tenant.id}/product-keys/redeem", {"keys": [typo]}),
        422,
        "product_key_typo",
    )


# -- billing ------------------------------------------------------------------------------------
def test_billing_account_and_payment_methods(shop: Harness) -> None:
    tenant = shop.tenant("Contoso", card=False)
    org = tenant.id
    billing = shop.client(tenant.keys["billing_admin"])
    account = billing.ok("GET", f"/v1/organizations/{org}/billing-account")
    assert account["currency"] == "EUR"
    renamed = billing.ok(
        "PATCH", f"/v1/organizations/{org}/billing-account", {"bill_to_name": "Contoso BV"}
    )
    assert renamed["bill_to_name"] == "Contoso BV"
    problem(
        billing.patch(f"/v1/organizations/{org}/billing-account", {"tax_rate_bp": 0}),
        403,
        "permission_denied",
    )
    taxed = shop.operator().ok(
        "PATCH",
        f"/v1/organizations/{org}/billing-account",
        {"tax_rate_bp": 0, "payment_terms_days": 14},
    )
    assert (taxed["tax_rate_bp"], taxed["payment_terms_days"]) == (0, 14)

    buy = {"offer": "std-monthly", "quantity": 2}
    problem(
        billing.post(f"/v1/organizations/{org}/subscriptions", buy), 409, "payment_method_required"
    )
    card = billing.ok(
        "POST", f"/v1/organizations/{org}/payment-methods", {"kind": "card", **CARD}, 201
    )
    assert card["kind"] == "card" and "4242424242424242" not in str(card)
    bank = billing.ok(
        "POST",
        f"/v1/organizations/{org}/payment-methods",
        {
            "kind": "bank_account",
            "iban": "NL91ABNA0417164300",
            "holder": "Contoso BV",
            "make_default": False,
        },
        201,
    )
    declined = billing.post(
        f"/v1/organizations/{org}/payment-methods", {"kind": "card", **CARD, "card_number": "1234"}
    )
    problem(declined, 422, "invalid_input")
    methods = billing.ok("GET", f"/v1/organizations/{org}/payment-methods")
    assert [m["id"] for m in methods] == [card["id"], bank["id"]]
    billing.ok("DELETE", f"/v1/payment-methods/{bank['id']}")
    problem(billing.delete(f"/v1/payment-methods/{bank['id']}"), 404, "not_found")
    billing.ok("POST", f"/v1/organizations/{org}/subscriptions", buy, 201)


def test_invoices_payments_balance_and_statements(
    shop: Harness, tenant: Tenant, clock: FixedClock
) -> None:
    org = tenant.id
    admin = shop.client(tenant.keys["global_admin"], lang="nl")
    sub = admin.ok(
        "POST",
        f"/v1/organizations/{org}/subscriptions",
        {"offer": "std-monthly", "quantity": 4},
        201,
    )
    for total in (5, 6, 7):
        admin.ok("PATCH", f"/v1/subscriptions/{sub['id']}", {"quantity": total})
    issued = walk(admin, f"/v1/organizations/{org}/invoices", 3)
    assert [i["reason"] for i in issued] == ["purchase", "change", "change", "change"]
    payments = walk(admin, f"/v1/organizations/{org}/payments", 3)
    assert len(payments) == 4 and {p["status"] for p in payments} == {"succeeded"}
    assert admin.ok("GET", f"/v1/organizations/{org}/balance")["receivable"] == 0
    ledger = walk(admin, f"/v1/organizations/{org}/ledger", 10)
    by_transaction: dict[str, int] = {}
    for entry in ledger:
        by_transaction[entry["transaction"]] = (
            by_transaction.get(entry["transaction"], 0) + entry["amount"]
        )
    assert len(by_transaction) == 8  # four invoices and their four payments
    assert set(by_transaction.values()) == {0}  # every transaction balances
    assert {e["kind"] for e in ledger} == {"invoice", "payment"}

    pdf = admin.get(
        f"/v1/invoices/{issued[0]['number']}",
        headers={"Accept": "application/pdf;q=0.9, */*;q=0.1"},
    )
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-language"] == "nl"
    as_json = admin.get(f"/v1/invoices/{issued[0]['number']}", headers={"Accept": "*/*"})
    assert as_json.headers["content-type"] == "application/json"
    problem(admin.get("/v1/invoices/INV-999999"), 404, "not_found")

    op = shop.operator()
    problem(admin.post(f"/v1/organizations/{org}/statements", {}), 403, "permission_denied")
    clock.advance(timedelta(days=31))
    statement = op.ok(
        "POST", f"/v1/organizations/{org}/statements", {"as_of": clock.now().date().isoformat()}
    )
    assert statement["invoice"]["reason"] == "statement"
    nothing = op.ok("POST", f"/v1/organizations/{org}/statements", {})
    assert nothing == {"invoice": None}
    far = op.post(f"/v1/organizations/{org}/statements", {"as_of": "2100-01-01"})
    assert problem(far, 422, "invalid_input")["errors"][0]["field"] == "as_of"


# -- audit --------------------------------------------------------------------------------------
def test_audit_is_newest_first_and_paginated(shop: Harness, tenant: Tenant) -> None:
    org = tenant.id
    shop.engine.run(shop.op, subscriptions.buy, org, "std-monthly", quantity=3)
    people = shop.people(tenant, 3)
    for person in people:
        shop.engine.run(shop.op, licensing.assign, org, "STD", [person])
    reader = shop.client(tenant.keys["global_reader"])
    records = walk(reader, f"/v1/organizations/{org}/audit", 4)
    ids = [r["id"] for r in records]
    assert ids == sorted(ids, reverse=True)
    assert records[0]["action"] == "license.assign"
    assert {r["organization_id"] for r in records} == {org}
    problem(
        shop.client(tenant.keys["license_admin"]).get(f"/v1/organizations/{org}/audit"),
        403,
        "permission_denied",
    )
    everything = shop.operator().ok("GET", "/v1/audit?limit=100")["data"]
    assert len(everything) > len(records)


def test_generated_keys_are_not_in_the_audit_log(shop: Harness, tenant: Tenant) -> None:
    made = shop.operator().ok(
        "POST", "/v1/product-keys", {"offer": "std-monthly", "count": 1, "licenses": 1}, 201
    )
    audit = str(shop.operator().ok("GET", "/v1/audit"))
    assert made["keys"][0] not in audit
    assert shop.engine.run(shop.op, productkeys.generate, "std-monthly", count=1, licenses=1)
