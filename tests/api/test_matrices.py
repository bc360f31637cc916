"""The tenant-isolation matrix and the R1 role matrix, both generated from the route table.

Every /v1 route of the app must be classified in PROBES below (a new route fails
`test_every_route_is_classified` until it is), and each classification is then checked over
HTTP: another organization's global admin gets 404 for anything of this organization and
changes nothing; each admin role gets exactly what R1 grants it, and 403 for the rest.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from abonnement.api.app import route_table
from abonnement.domain.roles import MATRIX, Action
from abonnement.services import (
    cancellation,
    invoices,
    licensing,
    organizations,
    productkeys,
    subscriptions,
    webhooks,
)

from .conftest import CARD, ROLES, Harness, Tenant, problem

ALL = frozenset(ROLES)
NONE: frozenset[str] = frozenset()
TENANT_PARAMS = (
    "organization_id",
    "subscription_id",
    "user_id",
    "number",
    "payment_method_id",
    "key_id",
    "endpoint_id",
    "delivery_id",
)


def may(*actions: Action) -> frozenset[str]:
    """The roles R1 allows every one of the actions (the domain's matrix)."""
    roles = ALL
    for action in actions:
        roles &= frozenset(role.value for role in MATRIX[action])
    return roles


@dataclass
class Scene:
    """Organization A with a subscription, an invoice, people and keys; organization B beside
    it. Fresh resources for calls that use theirs up (deleting, cancelling)."""

    h: Harness
    a: Tenant
    b: Tenant
    sub: int
    invoice: str
    method: int
    callback: int
    key_id: str
    _n: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def person(self) -> int:
        return self.h.people(self.a, 1)[0]

    def licensed_person(self) -> int:
        person = self.person()
        self.h.engine.run(self.h.op, licensing.assign, self.a.id, "STD", [person])
        return person

    def fresh_sub(self) -> int:
        return self.h.engine.run(
            self.h.op, subscriptions.buy, self.a.id, "basic-monthly", quantity=2
        ).id

    def fresh_method(self) -> int:
        return self.h.engine.run(
            self.h.op,
            organizations.add_payment_method,
            self.a.id,
            kind="card",
            make_default=False,
            **CARD,
        ).id

    def fresh_key(self) -> str:
        key = self.h.user_key(self.person(), "to revoke")
        return key.split("_")[2]

    def product_key(self) -> str:
        view = self.h.engine.run(
            self.h.op, productkeys.generate, "std-monthly", count=1, licenses=5
        )
        return view.keys[0]

    def email(self) -> str:
        return f"new{next(self._n)}@contoso.example"

    def webhook_endpoint(self) -> int:
        return self.h.engine.run(
            self.h.op,
            webhooks.create_endpoint,
            "https://hooks.contoso.example/in",
            organization_id=self.a.id,
        ).id

    def webhook_delivery(self) -> int:
        endpoint = self.webhook_endpoint()
        self.licensed_person()  # an event of organization A: license.assigned
        self.h.engine.run(self.h.op, webhooks.fan_out)
        page, _ = self.h.engine.read(self.h.op, webhooks.list_deliveries, endpoint)
        return page[0].id


Body = Callable[[Scene], Any] | None
Scope = Literal["tenant", "operator", "any", "self"]


@dataclass(frozen=True)
class Probe:
    scope: Scope
    allowed: frozenset[str]  # the organization roles that may call it (R1)
    body: Body = None
    fresh: dict[str, str] = field(default_factory=dict)  # path param -> Scene method


def tenant(allowed: frozenset[str], body: Body = None, **fresh: str) -> Probe:
    return Probe("tenant", allowed, body, fresh)


def operator(body: Body = None, **fresh: str) -> Probe:
    return Probe("operator", NONE, body, fresh)


READ_SUBS = may(Action.READ_SUBSCRIPTIONS)
READ_INVOICES = may(Action.READ_INVOICES)
PURCHASES = may(Action.MANAGE_PURCHASES)
WEBHOOKS = may(Action.MANAGE_ADMIN_ROLES)  # global admins, for their organization's endpoints

PROBES: dict[tuple[str, str], Probe] = {
    # catalog
    ("POST", "/v1/products"): operator(lambda s: {"sku": f"P{next(s._n)}", "name": "P"}),
    ("GET", "/v1/products"): Probe("any", ALL),
    ("POST", "/v1/offers"): operator(
        lambda s: {
            "code": f"o{next(s._n)}",
            "product_sku": "BASIC",
            "name": "O",
            "prices": {"EUR": 100},
        }
    ),
    ("GET", "/v1/offers"): Probe("any", ALL),
    # organizations and users
    ("POST", "/v1/organizations"): operator(
        lambda s: {"name": "Fabrikam", "country": "NL", "currency": "EUR"}
    ),
    ("GET", "/v1/organizations"): Probe("any", ALL),
    ("GET", "/v1/organizations/{organization_id}"): tenant(ALL),
    ("POST", "/v1/organizations/{organization_id}/users"): tenant(
        may(Action.MANAGE_USERS), lambda s: {"email": s.email(), "display_name": "New"}
    ),
    ("GET", "/v1/organizations/{organization_id}/users"): tenant(may(Action.READ_USERS)),
    ("GET", "/v1/users/{user_id}"): tenant(may(Action.READ_USERS), user_id="person"),
    ("DELETE", "/v1/users/{user_id}"): tenant(may(Action.MANAGE_USERS), user_id="person"),
    ("PATCH", "/v1/users/{user_id}/roles"): tenant(
        may(Action.MANAGE_ADMIN_ROLES), lambda s: {"grant": ["global_reader"]}, user_id="person"
    ),
    ("PUT", "/v1/users/{user_id}/password"): tenant(
        may(Action.MANAGE_ADMIN_ROLES),
        lambda s: {"password": "a long enough password"},
        user_id="person",
    ),
    # subscriptions
    ("POST", "/v1/organizations/{organization_id}/subscriptions"): tenant(
        PURCHASES, lambda s: {"offer": "basic-monthly", "quantity": 1}
    ),
    ("GET", "/v1/organizations/{organization_id}/subscriptions"): tenant(READ_SUBS),
    ("GET", "/v1/subscriptions/{subscription_id}"): tenant(READ_SUBS),
    ("PATCH", "/v1/subscriptions/{subscription_id}"): tenant(PURCHASES, lambda s: {"quantity": 12}),
    ("GET", "/v1/subscriptions/{subscription_id}/availability"): tenant(READ_SUBS),
    ("POST", "/v1/subscriptions/{subscription_id}/cancel"): tenant(
        PURCHASES, subscription_id="fresh_sub"
    ),
    ("POST", "/v1/subscriptions/{subscription_id}/switch"): tenant(
        PURCHASES, lambda s: {"offer": "std-monthly"}, subscription_id="fresh_sub"
    ),
    ("POST", "/v1/subscriptions/{subscription_id}/reactivate"): tenant(PURCHASES),
    ("PUT", "/v1/subscriptions/{subscription_id}/recurring-billing"): tenant(
        PURCHASES, lambda s: {"on": True}
    ),
    ("POST", "/v1/subscriptions/{subscription_id}/callback"): tenant(
        PURCHASES, lambda s: {"phone": "+31 20 123 4567"}
    ),
    ("POST", "/v1/subscriptions/{subscription_id}/preview"): tenant(
        PURCHASES & READ_INVOICES & READ_SUBS, lambda s: {"quantity": 11}
    ),
    # licenses and product keys
    ("GET", "/v1/organizations/{organization_id}/licenses"): tenant(may(Action.READ_LICENSES)),
    ("POST", "/v1/organizations/{organization_id}/licenses/{sku}/assign"): tenant(
        may(Action.ASSIGN_LICENSES), lambda s: {"user_ids": [s.person()]}
    ),
    ("POST", "/v1/organizations/{organization_id}/licenses/{sku}/unassign"): tenant(
        may(Action.ASSIGN_LICENSES), lambda s: {"user_ids": [s.licensed_person()]}
    ),
    ("POST", "/v1/product-keys"): operator(
        lambda s: {"offer": "std-monthly", "count": 1, "licenses": 1}
    ),
    ("POST", "/v1/organizations/{organization_id}/product-keys/redeem"): tenant(
        PURCHASES, lambda s: {"keys": [s.product_key()]}
    ),
    # billing
    ("GET", "/v1/organizations/{organization_id}/billing-account"): tenant(READ_INVOICES),
    ("PATCH", "/v1/organizations/{organization_id}/billing-account"): tenant(
        PURCHASES, lambda s: {"bill_to_name": "Contoso BV"}
    ),
    ("POST", "/v1/organizations/{organization_id}/payment-methods"): tenant(
        PURCHASES, lambda s: {"kind": "card", "make_default": False, **CARD}
    ),
    ("GET", "/v1/organizations/{organization_id}/payment-methods"): tenant(PURCHASES),
    ("DELETE", "/v1/payment-methods/{payment_method_id}"): tenant(
        PURCHASES, payment_method_id="fresh_method"
    ),
    ("GET", "/v1/organizations/{organization_id}/invoices"): tenant(READ_INVOICES),
    ("GET", "/v1/invoices/{number}"): tenant(READ_INVOICES),
    ("GET", "/v1/organizations/{organization_id}/payments"): tenant(READ_INVOICES),
    ("GET", "/v1/organizations/{organization_id}/balance"): tenant(READ_INVOICES),
    ("GET", "/v1/organizations/{organization_id}/ledger"): tenant(READ_INVOICES),
    ("POST", "/v1/organizations/{organization_id}/statements"): tenant(NONE, lambda s: {}),
    # audit and callbacks
    ("GET", "/v1/organizations/{organization_id}/audit"): tenant(READ_SUBS),
    ("GET", "/v1/audit"): operator(),
    ("GET", "/v1/callbacks"): operator(),
    ("POST", "/v1/callbacks/{callback_id}/close"): operator(),
    # api keys
    ("POST", "/v1/api-keys"): Probe(
        "self",
        may(Action.MANAGE_ADMIN_ROLES),
        lambda s: {"label": "bot", "user_id": s.person()},
    ),
    ("GET", "/v1/api-keys"): Probe("self", may(Action.MANAGE_ADMIN_ROLES)),
    ("DELETE", "/v1/api-keys/{key_id}"): tenant(may(Action.MANAGE_ADMIN_ROLES), key_id="fresh_key"),
    # events and test clocks
    ("GET", "/v1/events"): operator(),
    ("GET", "/v1/organizations/{organization_id}/events"): tenant(READ_SUBS),
    # (sorted, the role matrix reads the clock, detaches none, attaches one, then advances it)
    ("GET", "/v1/organizations/{organization_id}/test-clock"): tenant(NONE),
    ("DELETE", "/v1/organizations/{organization_id}/test-clock"): tenant(NONE),
    ("POST", "/v1/organizations/{organization_id}/test-clock"): tenant(NONE, lambda s: {}),
    ("POST", "/v1/organizations/{organization_id}/test-clock/advance"): tenant(
        NONE, lambda s: {"days": 0}
    ),
    # webhooks: the operator's, and each organization's global admin's for their own
    ("POST", "/v1/webhook-endpoints"): Probe(
        "self", WEBHOOKS, lambda s: {"url": "https://hooks.contoso.example/new"}
    ),
    ("GET", "/v1/webhook-endpoints"): Probe("self", WEBHOOKS),
    ("GET", "/v1/webhook-endpoints/{endpoint_id}"): tenant(
        WEBHOOKS, endpoint_id="webhook_endpoint"
    ),
    ("PATCH", "/v1/webhook-endpoints/{endpoint_id}"): tenant(
        WEBHOOKS, lambda s: {"enabled": False}, endpoint_id="webhook_endpoint"
    ),
    ("DELETE", "/v1/webhook-endpoints/{endpoint_id}"): tenant(
        WEBHOOKS, endpoint_id="webhook_endpoint"
    ),
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/rotate"): tenant(
        WEBHOOKS, endpoint_id="webhook_endpoint"
    ),
    ("GET", "/v1/webhook-endpoints/{endpoint_id}/deliveries"): tenant(
        WEBHOOKS, endpoint_id="webhook_endpoint"
    ),
    ("POST", "/v1/webhook-deliveries/{delivery_id}/redeliver"): tenant(
        WEBHOOKS, delivery_id="webhook_delivery"
    ),
}


def v1_routes(h: Harness) -> set[tuple[str, str]]:
    """The route table's /v1 part, checked against the OpenAPI document's operations."""
    routes = {(m, p) for m, p in route_table(h.fastapi) if p.startswith("/v1/") and m != "HEAD"}
    document = h.client().get("/openapi.json").json()
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert routes == documented
    return routes


def test_every_route_is_classified(harness: Harness) -> None:
    """A new endpoint can't skip the matrices: it must be classified here first."""
    routes = v1_routes(harness)
    assert routes - set(PROBES) == set(), "classify the new routes in PROBES"
    assert set(PROBES) - routes == set(), "PROBES names routes that no longer exist"
    for (method, path), probe in PROBES.items():
        params = set(re.findall(r"{(\w+)}", path))
        if params & set(TENANT_PARAMS):
            # Anything addressed by an organization's, subscription's, user's, invoice's,
            # payment method's or key's id belongs to one organization: the isolation matrix
            # checks it (even when only the operator may call it).
            assert probe.scope == "tenant", (method, path)
        if probe.scope == "tenant":
            assert params & set(TENANT_PARAMS), (method, path)


@pytest.fixture
def scene(shop: Harness) -> Scene:
    h = shop
    a, b = h.tenant("Contoso"), h.tenant("Fabrikam")
    sub = h.engine.run(h.op, subscriptions.buy, a.id, "std-monthly", quantity=10).id
    people = h.people(a, 2)
    h.engine.run(h.op, licensing.assign, a.id, "STD", people)
    invoice = h.engine.read(h.op, invoices.list_invoices, a.id)[0].number
    method = h.engine.run(
        h.op, organizations.add_payment_method, a.id, kind="card", make_default=False, **CARD
    ).id
    callback = h.engine.run(h.op, cancellation.request_callback, sub, phone="+31 20 000 0000").id
    key_id = h.user_key(people[0], "a person's key").split("_")[2]
    return Scene(h, a, b, sub, invoice, method, callback, key_id)


def _path(scene: Scene, path: str, probe: Probe) -> str:
    shared: dict[str, object] = {
        "organization_id": scene.a.id,
        "subscription_id": scene.sub,
        "user_id": scene.a.people[0] if scene.a.people else scene.a.users["global_reader"],
        "number": scene.invoice,
        "payment_method_id": scene.method,
        "callback_id": scene.callback,
        "key_id": scene.key_id,
        "sku": "STD",
    }

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in probe.fresh:
            return str(getattr(scene, probe.fresh[name])())
        return str(shared[name])

    return re.sub(r"{(\w+)}", fill, path)


def _call(scene: Scene, key: str, method: str, path: str, probe: Probe) -> Any:
    api = scene.h.client(key)
    body = probe.body(scene) if probe.body is not None else None
    url = _path(scene, path, probe)
    kwargs = {"json": body} if method in ("POST", "PUT", "PATCH") else {}
    if method in ("POST", "PUT", "PATCH") and body is None:
        kwargs = {"json": {}}
    return api.request(method, url, **kwargs)


def _snapshot(scene: Scene) -> Any:
    """Everything of organization A that a leak or a change would show in."""
    op = scene.h.operator()
    org = scene.a.id
    return {
        "audit": op.ok("GET", f"/v1/organizations/{org}/audit?limit=100"),
        "subs": op.ok("GET", f"/v1/organizations/{org}/subscriptions?limit=100"),
        "users": op.ok("GET", f"/v1/organizations/{org}/users?limit=100"),
        "keys": op.ok("GET", f"/v1/api-keys?organization_id={org}"),
        "account": op.ok("GET", f"/v1/organizations/{org}/billing-account"),
        "methods": op.ok("GET", f"/v1/organizations/{org}/payment-methods"),
        "invoices": op.ok("GET", f"/v1/organizations/{org}/invoices?limit=100"),
    }


def test_tenant_isolation_matrix(scene: Scene) -> None:
    """Every endpoint × another organization's global admin: 404 for whatever belongs to this
    organization (or 403 for the operator's endpoints), nothing leaked, nothing changed."""
    intruder = scene.b.keys["global_admin"]
    before = _snapshot(scene)
    checked = []
    for (method, path), probe in sorted(PROBES.items()):
        if probe.scope not in ("tenant", "operator"):
            continue
        # Fresh resources are made before the snapshot is compared, so make them all first.
        response = _call(scene, intruder, method, path, probe)
        if probe.scope == "tenant":
            body = problem(response, 404, "not_found")
        else:
            body = problem(response, 403, "permission_denied")
        assert "Contoso" not in response.text, (method, path, body)
        checked.append((method, path))
    after = _snapshot(scene)
    # The fresh people, subscriptions and keys the probes made for themselves aside, organization
    # A is as it was: no audit record by the intruder, nothing of theirs anywhere.
    assert "fabrikam.example" not in str(after)
    new_records = [r for r in after["audit"]["data"] if r not in before["audit"]["data"]]
    assert all(r["actor"] == "operator" for r in new_records), new_records
    assert len(checked) == sum(p.scope in ("tenant", "operator") for p in PROBES.values())


def test_api_key_list_of_another_organization_is_not_found(scene: Scene) -> None:
    intruder = scene.h.client(scene.b.keys["global_admin"])
    problem(intruder.get(f"/v1/api-keys?organization_id={scene.a.id}"), 404, "not_found")
    own = intruder.ok("GET", "/v1/api-keys")
    assert {k["organization_id"] for k in own} == {scene.b.id}


def test_an_organization_user_lists_only_their_own_organization(scene: Scene) -> None:
    for role in ROLES:
        page = scene.h.client(scene.b.keys[role]).ok("GET", "/v1/organizations")
        assert [o["id"] for o in page["data"]] == [scene.b.id]


def test_r1_role_matrix(scene: Scene) -> None:
    """R1 for every endpoint: each admin role of the organization is refused (403
    permission_denied, nothing changed) or let through, exactly as the matrix says; the
    operator's key always gets through. Refusals are checked before anything is let through,
    so each refused call meets the resource as it was."""
    failures = []
    for (method, path), probe in sorted(PROBES.items()):
        allowed = ALL if probe.scope == "any" else probe.allowed
        for role in sorted(ALL - allowed):
            response = _call(scene, scene.a.keys[role], method, path, probe)
            if response.status_code != 403 or response.json().get("code") != "permission_denied":
                failures.append(f"{role} {method} {path}: expected 403, got {response.text}")
        callers = [(role, scene.a.keys[role]) for role in sorted(allowed)]
        for role, key in [*callers, ("operator", scene.h.operator_key)]:
            response = _call(scene, key, method, path, probe)
            if response.status_code in (401, 403, 404, 422) or response.status_code >= 500:
                failures.append(f"{role} {method} {path}: expected through, got {response.text}")
    assert failures == []
