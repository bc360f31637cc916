"""Events and test clocks over HTTP: every change a receiver cares about leaves one event, in the
change's own transaction (a refusal leaves none); lists page by cursor and filter by type; test
clocks are attached, advanced, read and detached by the operator only."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from .conftest import Harness, Tenant, problem


def _events(h: Harness, org: int, query: str = "") -> list[dict[str, Any]]:
    page = h.operator().ok("GET", f"/v1/organizations/{org}/events?limit=100{query}")
    assert page["has_more"] is False
    return page["data"]  # type: ignore[no-any-return]


def _types(h: Harness, org: int) -> list[str]:
    return [e["type"] for e in reversed(_events(h, org))]  # oldest first


def test_every_api_change_a_receiver_cares_about_leaves_an_event(shop: Harness) -> None:
    h = shop
    a = h.tenant("Contoso")
    kari = h.client(a.keys["global_admin"])
    people = h.people(a, 2)
    sub = kari.ok(
        "POST",
        f"/v1/organizations/{a.id}/subscriptions",
        {"offer": "std-monthly", "quantity": 3},
        201,
    )
    s = f"/v1/subscriptions/{sub['id']}"
    assert _types(h, a.id) == ["subscription.created", "invoice.issued", "payment.succeeded"]

    kari.ok("PATCH", s, {"quantity": 5})
    kari.ok("POST", f"/v1/organizations/{a.id}/licenses/STD/assign", {"user_ids": people})
    kari.ok("POST", f"/v1/organizations/{a.id}/licenses/STD/unassign", {"user_ids": people[:1]})
    kari.ok("PUT", f"{s}/recurring-billing", {"on": False})
    kari.ok("PUT", f"{s}/recurring-billing", {"on": True})
    switched = kari.ok("POST", f"{s}/switch", {"offer": "basic-monthly"})
    new = switched["new"]["id"]
    kari.ok("POST", f"/v1/subscriptions/{new}/cancel")
    kari.ok("POST", f"/v1/subscriptions/{new}/reactivate")
    counts = Counter(_types(h, a.id))
    for kind in (
        "subscription.quantity_changed",
        "license.assigned",
        "license.unassigned",
        "subscription.switched",
        "subscription.cancelled",
        "subscription.reactivated",
    ):
        assert counts[kind] == 1, (kind, counts)
    assert counts["subscription.recurring_billing_changed"] == 2
    assert counts["subscription.created"] == 2  # the purchase, and the switch's new plan
    assert counts["invoice.issued"] >= 4  # purchase, change, switch credit note and charge
    assert counts["payment.succeeded"] >= 2  # the switch's charge is paid by its credit
    events = {e["type"]: e for e in reversed(_events(h, a.id))}  # the newest of each type
    assigned = events["license.assigned"]["data"]
    assert assigned["user_ids"] == people
    assert assigned["actor"] == "user"
    assert assigned["actor_user_id"] == a.users["global_admin"]
    billing = events["subscription.recurring_billing_changed"]["data"]
    assert (billing["previous"]["recurring_billing"], billing["recurring_billing"]) == (False, True)
    payment = events["payment.succeeded"]["data"]
    assert payment["currency"] == "EUR"
    assert payment["amount"] > 0
    assert payment["invoice"].startswith("INV-")


def test_a_refused_or_declined_change_leaves_no_event(shop: Harness) -> None:
    h = shop
    a = h.tenant("Contoso")
    kari = h.client(a.keys["global_admin"])
    sub = kari.ok(
        "POST",
        f"/v1/organizations/{a.id}/subscriptions",
        {"offer": "std-monthly", "quantity": 2},
        201,
    )
    kari.ok("POST", f"/v1/organizations/{a.id}/licenses/STD/assign", {"user_ids": h.people(a, 2)})
    before = _events(h, a.id)
    problem(
        kari.patch(f"/v1/subscriptions/{sub['id']}", {"quantity": 1}),
        409,
        "quantity_below_assigned",
    )
    problem(
        h.client(a.keys["license_admin"]).patch(f"/v1/subscriptions/{sub['id']}", {"quantity": 9}),
        403,
        "permission_denied",
    )
    assert _events(h, a.id) == before
    # A declined card: nothing bought, nothing charged, nothing announced.
    b = h.tenant("Fabrikam", card=False)
    h.client(b.keys["global_admin"]).ok(
        "POST",
        f"/v1/organizations/{b.id}/payment-methods",
        {
            "kind": "card",
            "card_number": "4000000000000002",
            "exp_month": 12,
            "exp_year": 2030,
            "cvc": "123",
        },
        201,
    )
    problem(
        h.client(b.keys["global_admin"]).post(
            f"/v1/organizations/{b.id}/subscriptions", {"offer": "std-monthly", "quantity": 2}
        ),
        409,
        "payment_declined",
    )
    assert _events(h, b.id) == []


def test_events_page_by_cursor_and_filter_by_type(shop: Harness) -> None:
    h = shop
    a, b = h.tenant("Contoso"), h.tenant("Fabrikam")
    for tenant in (a, b):
        h.client(tenant.keys["billing_admin"]).ok(
            "POST",
            f"/v1/organizations/{tenant.id}/subscriptions",
            {"offer": "basic-monthly", "quantity": 1},
            201,
        )
    everything = h.operator().ok("GET", "/v1/events?limit=100")["data"]
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert {e["organization_id"] for e in everything} == {a.id, b.id}
    first = h.operator().ok("GET", "/v1/events?limit=2")
    assert first["has_more"] is True
    assert first["next_cursor"] == ids[1]
    rest = h.operator().ok("GET", f"/v1/events?limit=100&starting_after={first['next_cursor']}")
    assert [e["id"] for e in first["data"] + rest["data"]] == ids
    created = h.operator().ok("GET", "/v1/events?type=subscription.created")["data"]
    assert [e["organization_id"] for e in created] == [b.id, a.id]
    money = h.operator().ok("GET", "/v1/events?type=invoice.*&type=payment.succeeded")["data"]
    assert {e["type"] for e in money} == {"invoice.issued", "payment.succeeded"}
    own = _events(h, a.id)
    assert own and {e["organization_id"] for e in own} == {a.id}
    problem(h.operator().get("/v1/events?type=no%20such"), 422, "invalid_input")


def test_who_may_read_an_organizations_events(shop: Harness) -> None:
    h = shop
    a, b = h.tenant("Contoso"), h.tenant("Fabrikam")
    h.client(a.keys["global_admin"]).ok(
        "POST",
        f"/v1/organizations/{a.id}/subscriptions",
        {"offer": "basic-monthly", "quantity": 1},
        201,
    )
    path = f"/v1/organizations/{a.id}/events"
    for role in ("global_admin", "billing_admin", "global_reader"):
        assert h.client(a.keys[role]).ok("GET", path)["data"]
    for role in ("license_admin", "user_admin"):
        problem(h.client(a.keys[role]).get(path), 403, "permission_denied")
        problem(h.client(a.keys[role]).get("/v1/events"), 403, "permission_denied")
    problem(h.client(b.keys["global_admin"]).get(path), 404, "not_found")
    problem(h.client(a.keys["global_admin"]).get("/v1/events"), 403, "permission_denied")


# -- test clocks ----------------------------------------------------------------------------------
def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _buy_on_a_clock(h: Harness) -> tuple[Tenant, int]:
    a = h.tenant("Contoso")
    clock = h.operator().ok(
        "POST", f"/v1/organizations/{a.id}/test-clock", {"at": "2027-01-04T09:00:00+01:00"}, 201
    )
    assert clock["attached"] is True
    assert _at(clock["now"]) == _at("2027-01-04T08:00:00Z")
    assert clock["today"] == "2027-01-04"
    sub = h.client(a.keys["global_admin"]).ok(
        "POST",
        f"/v1/organizations/{a.id}/subscriptions",
        {"offer": "std-monthly", "quantity": 4},
        201,
    )
    return a, sub["id"]


def test_a_test_clock_over_http_runs_the_billing_run_and_its_events(shop: Harness) -> None:
    h = shop
    a, sub = _buy_on_a_clock(h)
    op = h.operator()
    path = f"/v1/organizations/{a.id}/test-clock"
    bought = _events(h, a.id, "&type=subscription.created")
    assert _at(bought[0]["created_at"]) == _at("2027-01-04T08:00:00Z")  # the organization's clock
    moved = op.ok("POST", f"{path}/advance", {"days": 31})
    assert moved["clock"]["today"] == "2027-02-04"
    assert moved["days"] >= 1
    assert moved["invoices"] == 1
    assert moved["events"]["subscription.renewed"] == 1
    assert moved["events"]["invoice.issued"] == 1
    moved = op.ok("POST", f"{path}/advance", {"to": "2027-04-04T12:00:00+02:00"})
    assert _at(moved["clock"]["now"]) == _at("2027-04-04T10:00:00Z")
    assert moved["events"]["subscription.renewed"] == 2
    # The billing run's events keep their types; each invoice is announced once; the renewals'
    # charges are announced as payments.
    issued = Counter(e["subject_id"] for e in _events(h, a.id, "&type=invoice.issued"))
    assert len(issued) == 4
    assert set(issued.values()) == {1}
    assert len(_events(h, a.id, "&type=payment.succeeded")) == 4
    assert len(_events(h, a.id, "&type=subscription.renewed")) == 3
    shown = op.ok("GET", path)
    assert (shown["attached"], shown["today"]) == (True, "2027-04-04")
    assert shown["billed_through"] == "2027-04-04"
    detached = op.ok("DELETE", path)
    assert detached["attached"] is False
    after = op.ok("GET", path)
    assert after["attached"] is False
    assert _at(after["now"]) == h.engine.clock.now()
    assert op.ok("DELETE", path)["attached"] is False  # detaching twice is no error
    # The subscription itself lived through the quarter.
    assert (
        h.client(a.keys["global_admin"]).ok("GET", f"/v1/subscriptions/{sub}")["status"] == "active"
    )


def test_an_organization_keys_change_reads_its_organizations_test_clock(shop: Harness) -> None:
    """The caller's organization is read with its key (one query): a license admin's
    assignments on an organization with a test clock happen at the clock's time, and another
    organization's clock is not theirs."""
    h = shop
    a, _sub = _buy_on_a_clock(h)
    b = h.tenant("Fabrikam")
    h.client(b.keys["global_admin"]).ok(
        "POST",
        f"/v1/organizations/{b.id}/subscriptions",
        {"offer": "std-monthly", "quantity": 2},
        201,
    )
    for tenant in (a, b):
        people = h.people(tenant, 2)
        admin = h.client(tenant.keys["license_admin"])
        admin.ok("POST", f"/v1/organizations/{tenant.id}/licenses/STD/assign", {"user_ids": people})
        admin.ok(
            "POST", f"/v1/organizations/{tenant.id}/licenses/STD/unassign", {"user_ids": people[:1]}
        )
    for kind in ("license.assigned", "license.unassigned"):
        (on_clock,) = _events(h, a.id, f"&type={kind}")
        assert _at(on_clock["created_at"]) == _at("2027-01-04T08:00:00Z")
        (on_system,) = _events(h, b.id, f"&type={kind}")
        assert _at(on_system["created_at"]) == h.engine.clock.now()


def test_a_refund_in_the_billing_run_is_announced(shop: Harness) -> None:
    h = shop
    a, sub = _buy_on_a_clock(h)
    kari = h.client(a.keys["global_admin"])
    h.operator().ok("POST", f"/v1/organizations/{a.id}/test-clock/advance", {"days": 10})
    kari.ok("PATCH", f"/v1/subscriptions/{sub}", {"quantity": 1})  # R12: credited
    h.operator().ok("POST", f"/v1/organizations/{a.id}/test-clock/advance", {"days": 60})
    refunded = _events(h, a.id, "&type=payment.refunded")
    credits = _events(h, a.id, "&type=credit.refunded")
    assert refunded and credits
    assert sum(e["data"]["amount"] for e in refunded) == sum(e["data"]["amount"] for e in credits)
    assert all(e["data"]["kind"] == "refund" for e in refunded)


def test_test_clock_input_is_checked(shop: Harness) -> None:
    h = shop
    a, _ = _buy_on_a_clock(h)
    op = h.operator()
    path = f"/v1/organizations/{a.id}/test-clock"
    problem(op.post(path, {}), 422, "invalid_input")  # attached already
    for body in ({}, {"days": 1, "to": "2027-06-01T00:00:00Z"}, {"days": -1}, {"days": 100000}):
        problem(op.post(f"{path}/advance", body), 422, "invalid_input")
    problem(op.post(f"{path}/advance", {"to": "2026-01-01T00:00:00Z"}), 422, "invalid_input")
    problem(op.post(f"{path}/advance", {"to": "2027-06-01T00:00:00"}), 422, "invalid_input")
    problem(op.post(f"{path}/advance", {"to": "9999-12-31T23:00:00-05:00"}), 422, "invalid_input")
    assert _at(op.ok("GET", path)["now"]) == _at("2027-01-04T08:00:00Z")  # nothing moved


def test_only_the_operator_handles_test_clocks(shop: Harness) -> None:
    h = shop
    a, b = h.tenant("Contoso"), h.tenant("Fabrikam")
    path = f"/v1/organizations/{a.id}/test-clock"
    calls = [("POST", path, {}), ("POST", f"{path}/advance", {"days": 1}), ("GET", path, None)]
    calls.append(("DELETE", path, None))
    for method, url, body in calls:
        for role in ("global_admin", "billing_admin", "global_reader"):
            response = h.client(a.keys[role]).request(method, url, json=body)
            problem(response, 403, "permission_denied")
        problem(h.client(b.keys["global_admin"]).request(method, url, json=body), 404, "not_found")
    assert h.operator().ok("GET", path)["attached"] is False
