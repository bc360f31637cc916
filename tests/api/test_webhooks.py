"""Webhooks over real HTTP: endpoints registered through the API, events carried by the delivery
worker to a real local receiver (an http.server in a thread) that checks every signature with the
endpoint's secret. Time is the test's clock: retries are driven by moving it, never by sleeping.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from abonnement.clock import FixedClock
from abonnement.services import licensing, subscriptions, webhooks
from abonnement.services.webhooks import RETRY_DELAYS, DeliveryTally

from .conftest import Harness, Tenant, problem


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str = "/hooks"

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def signatures(self) -> list[str]:
        return self.headers["webhook-signature"].split(" ")


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: records what it gets and answers with the next status
    of `answers` (200 once they run out)."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def verified(self, secret: str) -> list[Any]:
        """The bodies received, each after checking its signature with `secret`."""
        return [verify(secret, r) for r in self.received]


def verify(secret: str, received: Received) -> Any:
    """The Standard Webhooks check a receiver makes: HMAC-SHA256 of "id.timestamp.body" with
    the secret, as one of the `v1,` signatures. (The library's `verify` also compares the
    timestamp with the wall clock; the test's clock is elsewhere, so that part is checked by
    the tests themselves.)"""
    h = received.headers
    at = datetime.fromtimestamp(int(h["webhook-timestamp"]), tz=UTC)
    expected = Webhook(secret).sign(h["webhook-id"], at, received.body.decode())
    assert expected in received.signatures, "signature does not match the endpoint's secret"
    return received.json


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rx = state["rx"]
            body = self.rfile.read(int(self.headers["content-length"]))
            with rx.lock:
                headers = {k.lower(): v for k, v in self.headers.items()}
                rx.received.append(Received(headers, body, self.path))
                status = rx.answers.pop(0) if rx.answers else 200
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["rx"] = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["rx"]
    server.shutdown()
    server.server_close()
    thread.join(5)


def deliver(h: Harness) -> DeliveryTally:
    """One pass of the delivery worker, on the test's clock."""
    with httpx.Client(timeout=5) as client:
        return webhooks.deliver_pending(h.engine, client, concurrency=2)


@pytest.fixture
def clock_of(harness: Harness) -> FixedClock:
    clock = harness.engine.clock
    assert isinstance(clock, FixedClock)
    return clock


def _endpoint(h: Harness, key: str, url: str, **body: Any) -> dict[str, Any]:
    created: dict[str, Any] = h.client(key).ok(
        "POST", "/v1/webhook-endpoints", {"url": url, **body}, status=201
    )
    return created


def _kari(h: Harness, a: Tenant) -> str:
    return a.keys["global_admin"]


# -- registration ---------------------------------------------------------------------------------
def test_an_endpoint_is_registered_with_a_secret_shown_once(
    shop: Harness, receiver: Receiver
) -> None:
    h = shop
    created = _endpoint(h, h.operator_key, receiver.url, event_types=["subscription.*"])
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    assert created["organization_id"] is None  # the vendor's: every organization
    shown = h.operator().ok("GET", f"/v1/webhook-endpoints/{created['id']}")
    listed = h.operator().ok("GET", "/v1/webhook-endpoints")
    assert "secret" not in shown
    assert all("secret" not in e for e in listed)
    assert secret not in json.dumps(h.operator().ok("GET", "/v1/audit?limit=100"))


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://hooks.example/in", "webhook_url_invalid"),
        ("https://", "webhook_url_invalid"),
        ("https://user:pw@hooks.example/in", "webhook_url_invalid"),
        ("hooks.example/in", "webhook_url_invalid"),
        ("https://hooks.example/ in", "webhook_url_invalid"),
    ],
)
def test_a_url_that_cannot_receive_webhooks_is_refused_in_the_callers_language(
    shop: Harness, url: str, code: str
) -> None:
    response = shop.operator("nb").post("/v1/webhook-endpoints", {"url": url})
    body = problem(response, 422, code)
    assert "kan ikke motta webhooks" in body["detail"]
    assert shop.operator().ok("GET", "/v1/webhook-endpoints") == []


def test_unknown_event_types_are_refused(shop: Harness) -> None:
    api = shop.operator("nl")
    body = problem(
        api.post(
            "/v1/webhook-endpoints",
            {"url": "https://hooks.example/in", "event_types": ["subscription.renewd"]},
        ),
        422,
        "webhook_event_type_unknown",
    )
    assert "subscription.renewd" in body["detail"]
    assert "gebeurtenistype" in body["detail"]
    for fine in (["*"], ["subscription.*", "invoice.issued"], ["payment.refunded"]):
        _endpoint(shop, shop.operator_key, "https://hooks.example/in", event_types=fine)


def test_only_global_admins_manage_their_organizations_endpoints(shop: Harness) -> None:
    h = shop
    a, b = h.tenant("Contoso"), h.tenant("Fabrikam")
    own = _endpoint(h, a.keys["global_admin"], "https://hooks.contoso.example/in")
    assert own["organization_id"] == a.id
    vendor = _endpoint(h, h.operator_key, "https://hooks.vendor.example/in")
    for role in ("billing_admin", "license_admin", "user_admin", "global_reader"):
        api = h.client(a.keys[role])
        problem(
            api.post("/v1/webhook-endpoints", {"url": "https://x.example"}),
            403,
            "permission_denied",
        )
        problem(api.get(f"/v1/webhook-endpoints/{own['id']}"), 403, "permission_denied")
    # Another organization's endpoint, and the vendor's, don't exist for an organization.
    intruder = h.client(b.keys["global_admin"])
    for endpoint in (own, vendor):
        problem(intruder.get(f"/v1/webhook-endpoints/{endpoint['id']}"), 404, "not_found")
        problem(intruder.delete(f"/v1/webhook-endpoints/{endpoint['id']}"), 404, "not_found")
    problem(
        intruder.post(
            "/v1/webhook-endpoints", {"url": "https://x.example", "organization_id": a.id}
        ),
        404,
        "not_found",
    )
    assert [
        e["id"] for e in h.client(a.keys["global_admin"]).ok("GET", "/v1/webhook-endpoints")
    ] == [own["id"]]
    assert intruder.ok("GET", "/v1/webhook-endpoints") == []
    every = h.operator().ok("GET", "/v1/webhook-endpoints")
    assert {e["id"] for e in every} == {own["id"], vendor["id"]}


# -- delivery -------------------------------------------------------------------------------------
def test_events_reach_the_receiver_signed_with_the_endpoints_secret(
    shop: Harness, receiver: Receiver, clock_of: FixedClock
) -> None:
    h = shop
    a = h.tenant("Contoso")
    endpoint = _endpoint(h, h.operator_key, receiver.url)
    kari = h.client(_kari(h, a))
    sub = kari.ok(
        "POST",
        f"/v1/organizations/{a.id}/subscriptions",
        {"offer": "std-monthly", "quantity": 3},
        201,
    )
    kari.ok("PATCH", f"/v1/subscriptions/{sub['id']}", {"quantity": 5})
    tally = deliver(h)
    assert tally.succeeded == len(receiver.received) > 0
    # Sent several at a time, so they may arrive in any order: the id orders them.
    messages = sorted(receiver.verified(endpoint["secret"]), key=lambda m: m["id"])
    types = [m["type"] for m in messages]
    assert types[0] == "subscription.created"
    assert {"invoice.issued", "payment.succeeded", "subscription.quantity_changed"} <= set(types)
    first = messages[0]
    assert set(first) == {"id", "type", "created_at", "organization_id", "data"}
    assert first["organization_id"] == a.id
    assert first["data"]["id"] == str(sub["id"])
    assert first["data"]["quantity"] == 3
    changed = next(m for m in messages if m["type"] == "subscription.quantity_changed")
    assert (changed["data"]["previous"]["quantity"], changed["data"]["quantity"]) == (3, 5)
    for r in receiver.received:
        assert r.headers["webhook-id"] == f"evt_{r.json['id']}"
        assert int(r.headers["webhook-timestamp"]) == int(clock_of.now().timestamp())
        assert r.headers["content-type"] == "application/json"
    # The events the receiver got are the organization's events, once each.
    listed = h.operator().ok("GET", f"/v1/organizations/{a.id}/events?limit=100")["data"]
    assert [m["id"] for m in messages] == sorted(e["id"] for e in listed)
    # Nothing is sent twice.
    assert deliver(h).attempts == 0
    page = h.operator().ok("GET", f"/v1/webhook-endpoints/{endpoint['id']}/deliveries?limit=100")
    assert {d["status"] for d in page["data"]} == {"succeeded"}
    assert all(d["attempts"] == 1 and d["last_status_code"] == 200 for d in page["data"])


def test_a_signature_verifies_with_the_standard_webhooks_library(
    shop: Harness, receiver: Receiver, clock_of: FixedClock
) -> None:
    """The receiver's own library, timestamp check included, when the clock is the wall's."""
    h = shop
    clock_of.set(datetime.now(UTC))
    a = h.tenant("Contoso")
    endpoint = _endpoint(h, a.keys["global_admin"], receiver.url)
    h.client(_kari(h, a)).ok(
        "POST",
        f"/v1/organizations/{a.id}/subscriptions",
        {"offer": "std-monthly", "quantity": 1},
        201,
    )
    deliver(h)
    assert receiver.received
    for r in receiver.received:
        body = Webhook(endpoint["secret"]).verify(r.body, r.headers)
        assert body["organization_id"] == a.id
    with pytest.raises(Exception, match="signature"):
        Webhook(webhooks.new_secret()).verify(
            receiver.received[0].body, receiver.received[0].headers
        )


def test_a_failed_delivery_is_retried_with_backoff_until_the_receiver_answers(
    shop: Harness, receiver: Receiver, clock_of: FixedClock
) -> None:
    h = shop
    a = h.tenant("Contoso")
    endpoint = _endpoint(h, h.operator_key, receiver.url, event_types=["license.assigned"])
    person = h.people(a, 1)[0]
    receiver.answers = [500, 503]
    h.client(_kari(h, a)).ok(
        "POST",
        f"/v1/organizations/{a.id}/subscriptions",
        {"offer": "std-monthly", "quantity": 3},
        201,
    )
    h.client(_kari(h, a)).ok(
        "POST", f"/v1/organizations/{a.id}/licenses/STD/assign", {"user_ids": [person]}
    )
    deliveries = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"

    def only() -> dict[str, Any]:
        [delivery] = h.operator().ok("GET", deliveries)["data"]
        return delivery  # type: ignore[no-any-return]

    start = clock_of.now()
    assert deliver(h).retrying == 1
    first = only()
    assert (first["status"], first["attempts"], first["last_status_code"]) == ("pending", 1, 500)
    wait = datetime.fromisoformat(first["next_attempt_at"]) - start
    assert timedelta(seconds=4.5) <= wait <= timedelta(seconds=5.5)  # 5 s, ± 10 % jitter
    assert deliver(h).attempts == 0  # not due yet: nothing is sent
    clock_of.advance(wait)
    assert deliver(h).retrying == 1
    second = only()
    assert (second["attempts"], second["last_status_code"]) == (2, 503)
    wait = datetime.fromisoformat(second["next_attempt_at"]) - clock_of.now()
    assert timedelta(minutes=4.5) <= wait <= timedelta(minutes=5.5)
    clock_of.advance(wait)
    assert deliver(h).succeeded == 1
    done = only()
    assert (done["status"], done["attempts"], done["last_status_code"]) == ("succeeded", 3, 200)
    assert done["next_attempt_at"] is None
    # Every attempt was the same message, signed afresh.
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert len({r.headers["webhook-timestamp"] for r in receiver.received}) == 3
    receiver.verified(endpoint["secret"])


def test_retries_end_after_about_three_days_then_a_redelivery_sends_it_again(
    shop: Harness, receiver: Receiver, clock_of: FixedClock
) -> None:
    h = shop
    a = h.tenant("Contoso")
    endpoint = _endpoint(h, h.operator_key, receiver.url, event_types=["subscription.created"])
    receiver.answers = [500] * 100
    h.client(_kari(h, a)).ok(
        "POST",
        f"/v1/organizations/{a.id}/subscriptions",
        {"offer": "std-monthly", "quantity": 1},
        201,
    )
    deliveries = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"
    start = clock_of.now()
    waits = []
    while True:
        deliver(h)
        [d] = h.operator().ok("GET", deliveries)["data"]
        if d["status"] != "pending":
            break
        due = datetime.fromisoformat(d["next_attempt_at"])
        waits.append(due - clock_of.now())
        clock_of.set(due)
    assert d["status"] == "failed"
    assert d["attempts"] == len(RETRY_DELAYS) + 1 == 12
    assert d["next_attempt_at"] is None
    for wait, planned in zip(waits, RETRY_DELAYS, strict=True):
        assert planned * 0.9 <= wait <= planned * 1.1
    span = clock_of.now() - start
    assert timedelta(hours=60) < span < timedelta(days=3, hours=3)
    # The failed delivery is sent again on request, with a new round of retries.
    receiver.answers = []
    again = h.operator().ok("POST", f"/v1/webhook-deliveries/{d['id']}/redeliver")
    assert again["status"] == "pending"
    assert deliver(h).succeeded == 1
    [d] = h.operator().ok("GET", deliveries)["data"]
    assert (d["status"], d["attempts"], d["last_status_code"]) == ("succeeded", 13, 200)
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    receiver.verified(endpoint["secret"])
    # A delivered one may be sent again too (a receiver that lost it).
    h.operator().ok("POST", f"/v1/webhook-deliveries/{d['id']}/redeliver")
    assert deliver(h).succeeded == 1
    assert len(receiver.received) == 14


def test_an_endpoint_gets_only_the_types_it_asked_for(shop: Harness, receiver: Receiver) -> None:
    h = shop
    a = h.tenant("Contoso")
    endpoint = _endpoint(h, h.operator_key, receiver.url, event_types=["license.*"])
    person = h.people(a, 1)[0]
    sub = h.engine.run(h.op, subscriptions.buy, a.id, "std-monthly", quantity=2)
    h.engine.run(h.op, licensing.assign, a.id, "STD", [person])
    h.engine.run(h.op, licensing.unassign, a.id, "STD", [person])
    h.engine.run(h.op, subscriptions.set_quantity, sub.id, 4)
    deliver(h)
    received = sorted(receiver.verified(endpoint["secret"]), key=lambda m: m["id"])
    assert [m["type"] for m in received] == ["license.assigned", "license.unassigned"]


def test_an_organizations_endpoint_hears_only_its_organization(
    shop: Harness, receiver: Receiver
) -> None:
    h = shop
    a, b = h.tenant("Contoso"), h.tenant("Fabrikam")
    own = _endpoint(h, a.keys["global_admin"], receiver.url + "/contoso")
    vendor = _endpoint(h, h.operator_key, receiver.url + "/vendor")
    for tenant in (a, b):
        h.client(tenant.keys["billing_admin"]).ok(
            "POST",
            f"/v1/organizations/{tenant.id}/subscriptions",
            {"offer": "basic-monthly", "quantity": 1},
            201,
        )
    deliver(h)
    got: dict[str, set[int]] = {"/hooks/contoso": set(), "/hooks/vendor": set()}
    for r in receiver.received:
        verify(own["secret"] if r.path == "/hooks/contoso" else vendor["secret"], r)
        got[r.path].add(r.json["organization_id"])
    assert got == {"/hooks/contoso": {a.id}, "/hooks/vendor": {a.id, b.id}}


def test_a_disabled_endpoint_gets_nothing_and_a_removed_one_is_gone(
    shop: Harness, receiver: Receiver
) -> None:
    h = shop
    a = h.tenant("Contoso")
    kari = h.client(_kari(h, a))
    endpoint = _endpoint(h, _kari(h, a), receiver.url)
    changed = kari.ok("PATCH", f"/v1/webhook-endpoints/{endpoint['id']}", {"enabled": False})
    assert changed["enabled"] is False
    h.engine.run(h.op, subscriptions.buy, a.id, "std-monthly", quantity=1)
    deliver(h)
    assert receiver.received == []
    kari.ok("PATCH", f"/v1/webhook-endpoints/{endpoint['id']}", {"enabled": True})
    h.engine.run(h.op, subscriptions.buy, a.id, "basic-monthly", quantity=1)
    deliver(h)
    assert receiver.received
    assert kari.ok("GET", f"/v1/webhook-endpoints/{endpoint['id']}/deliveries")["data"]
    kari.ok("DELETE", f"/v1/webhook-endpoints/{endpoint['id']}")
    problem(kari.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"), 404, "not_found")
    assert kari.ok("GET", "/v1/webhook-endpoints") == []


def test_a_rotated_secret_signs_beside_the_old_one_for_a_day(
    shop: Harness, receiver: Receiver, clock_of: FixedClock
) -> None:
    h = shop
    a = h.tenant("Contoso")
    endpoint = _endpoint(h, _kari(h, a), receiver.url, event_types=["subscription.created"])
    rotated = h.client(_kari(h, a)).ok("POST", f"/v1/webhook-endpoints/{endpoint['id']}/rotate")
    assert rotated["secret"] != endpoint["secret"]
    h.engine.run(h.op, subscriptions.buy, a.id, "std-monthly", quantity=1)
    deliver(h)
    [during] = receiver.received
    assert len(during.signatures) == 2
    verify(rotated["secret"], during)
    verify(endpoint["secret"], during)
    clock_of.advance(timedelta(hours=25))
    h.engine.run(h.op, subscriptions.buy, a.id, "basic-monthly", quantity=1)
    deliver(h)
    after = receiver.received[1]
    assert len(after.signatures) == 1
    verify(rotated["secret"], after)
    with pytest.raises(AssertionError, match="signature"):
        verify(endpoint["secret"], after)


def test_a_receiver_that_is_down_or_slow_is_retried(shop: Harness, clock_of: FixedClock) -> None:
    h = shop
    a = h.tenant("Contoso")
    endpoint = _endpoint(h, h.operator_key, "http://127.0.0.1:9/nobody-listens")
    h.engine.run(h.op, subscriptions.buy, a.id, "std-monthly", quantity=1)
    deliver(h)
    page = h.operator().ok("GET", f"/v1/webhook-endpoints/{endpoint['id']}/deliveries?limit=100")
    assert page["data"]
    for d in page["data"]:
        assert d["status"] == "pending"
        assert d["last_status_code"] is None
        assert d["last_error"].startswith("ConnectError")
        assert d["next_attempt_at"] is not None


def test_the_delivery_log_pages_and_filters(shop: Harness, receiver: Receiver) -> None:
    h = shop
    a = h.tenant("Contoso")
    endpoint = _endpoint(h, h.operator_key, receiver.url)
    receiver.answers = [500]
    for _ in range(3):
        h.engine.run(h.op, subscriptions.buy, a.id, "basic-monthly", quantity=1)
    deliver(h)
    path = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"
    everything = h.operator().ok("GET", f"{path}?limit=100")["data"]
    ids = [d["id"] for d in everything]
    assert ids == sorted(ids, reverse=True)
    first = h.operator().ok("GET", f"{path}?limit=2")
    assert first["has_more"] is True
    assert [d["id"] for d in first["data"]] == ids[:2]
    rest = h.operator().ok("GET", f"{path}?limit=100&starting_after={first['next_cursor']}")
    assert [d["id"] for d in rest["data"]] == ids[2:]
    pending = h.operator().ok("GET", f"{path}?status=pending")["data"]
    assert [d["last_status_code"] for d in pending] == [500]
    problem(h.operator().get(f"{path}?status=lost"), 422, "invalid_input")
