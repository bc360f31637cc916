"""Idempotency keys over real HTTP, on SQLite and PostgreSQL: a retry returns the first answer
byte for byte and charges nothing twice (R6: buying charges at once, so a lost answer retried
without a key would charge again)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends
from sqlalchemy import func, select

from abonnement.api.auth import Caller, caller
from abonnement.api.idempotency import HEADER, Claim, IdempotencyStore, Outcome, fingerprint
from abonnement.app import before_commit
from abonnement.clock import FixedClock
from abonnement.domain.errors import AbonnementError, Code, error
from abonnement.services import organizations
from abonnement.services.context import Context
from abonnement.store import models as m

from .conftest import CARD, SECRET, Api, Harness, Tenant, problem

BUY = {"offer": "std-monthly", "quantity": 10}


@pytest.fixture
def tenant(shop: Harness) -> Tenant:
    return shop.tenant("Contoso")


def count(harness: Harness, model: type[m.Base]) -> int:
    with harness.engine.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(model)) or 0)


def charges(harness: Harness) -> int:
    with harness.engine.engine.connect() as connection:
        return int(
            connection.scalar(
                select(func.count()).select_from(m.Payment).where(m.Payment.kind == "charge")
            )
            or 0
        )


def buy(harness: Harness, tenant: Tenant, key: str, body: Any = BUY, **kw: Any) -> httpx.Response:
    api = harness.client(tenant.keys["billing_admin"], kw.pop("lang", None))
    return api.post(f"/v1/organizations/{tenant.id}/subscriptions", body, headers={HEADER: key})


def test_r6_a_retry_returns_the_first_answer_byte_for_byte_and_charges_once(
    shop: Harness, tenant: Tenant
) -> None:
    key = str(uuid.uuid4())
    first = buy(shop, tenant, key)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = buy(shop, tenant, key)
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["idempotent-replayed"] == "true"
    # The body is compared by its JSON content: spacing and key order don't make it another
    api = shop.client(tenant.keys["billing_admin"])
    reordered = api.request(
        "POST",
        f"/v1/organizations/{tenant.id}/subscriptions",
        content=b'{ "quantity": 10,   "offer": "std-monthly" }',
        headers={HEADER: key, "Content-Type": "application/json"},
    )
    assert reordered.status_code == 201 and reordered.content == first.content
    assert count(shop, m.Subscription) == 1
    assert charges(shop) == 1
    # Without a key, the same request buys again: the key is what makes a retry safe
    assert api.post(f"/v1/organizations/{tenant.id}/subscriptions", BUY).status_code == 201
    assert charges(shop) == 2


def test_patch_quantity_with_a_key_is_replayed(shop: Harness, tenant: Tenant) -> None:
    api = shop.client(tenant.keys["global_admin"])
    sub = api.ok("POST", f"/v1/organizations/{tenant.id}/subscriptions", BUY, 201)
    first = api.patch(f"/v1/subscriptions/{sub['id']}", {"quantity": 15}, headers={HEADER: "q-15"})
    assert first.status_code == 200 and first.json()["kind"] == "buy"
    # Someone else removes licenses meanwhile; the retry still gets the first answer
    api.ok("PATCH", f"/v1/subscriptions/{sub['id']}", {"quantity": 12})
    again = api.patch(f"/v1/subscriptions/{sub['id']}", {"quantity": 15}, headers={HEADER: "q-15"})
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert api.ok("GET", f"/v1/subscriptions/{sub['id']}")["quantity"] == 12


@pytest.mark.parametrize("lang", ["en", "nb", "nl", "da"])
def test_the_same_key_for_another_request_is_refused(
    shop: Harness, tenant: Tenant, lang: str
) -> None:
    assert buy(shop, tenant, "order-1").status_code == 201
    other = buy(shop, tenant, "order-1", {"offer": "std-monthly", "quantity": 11}, lang=lang)
    body = problem(other, 422, "idempotency_key_reused")
    assert body["context"] == {
        "key": "order-1",
        "method": "POST",
        "path": f"/v1/organizations/{tenant.id}/subscriptions",
    }
    assert other.headers["content-language"] == lang
    assert "order-1" in body["detail"] and body["remedy"]
    # another path or method with the key is another request too
    api = shop.client(tenant.keys["billing_admin"])
    elsewhere = api.post(f"/v1/organizations/{tenant.id}/payment-methods", {"kind": "card", **CARD},
                         headers={HEADER: "order-1"})  # fmt: skip
    problem(elsewhere, 422, "idempotency_key_reused")
    assert count(shop, m.Subscription) == 1
    assert charges(shop) == 1


def test_r16_the_refusals_read_in_four_languages(shop: Harness, tenant: Tenant) -> None:
    assert buy(shop, tenant, "k").status_code == 201
    details = {
        lang: problem(buy(shop, tenant, "k", {**BUY, "quantity": 3}, lang=lang), 422,
                      "idempotency_key_reused")["detail"]
        for lang in ("en", "nb", "nl", "da")
    }  # fmt: skip
    assert len(set(details.values())) == 4
    assert "idempotensnøkkelen" in details["nb"].lower()
    assert "idempotentiesleutel" in details["nl"].lower()
    assert "idempotensnøglen" in details["da"].lower()


@pytest.mark.parametrize(
    "value",
    [b"", b"x" * 256, "ordre-blåbær".encode(), b"tab\there"],
    ids=["empty", "256 characters", "not ASCII", "control character"],
)
def test_a_malformed_key_is_refused_naming_the_header(
    shop: Harness, tenant: Tenant, value: bytes
) -> None:
    response = buy(shop, tenant, value)  # type: ignore[arg-type]
    body = problem(response, 400, "idempotency_key_invalid")
    assert body["context"] == {"header": "Idempotency-Key", "maximum": 255}
    assert "Idempotency-Key" in body["detail"]
    assert count(shop, m.Subscription) == 0


def test_a_body_over_the_size_limit_is_refused_and_keeps_nothing(
    shop: Harness, tenant: Tenant
) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: streamed in, counted while read
        yield b'{"offer": "std-monthly", "quantity": 10, "padding": "'
        for _ in range(20):
            yield b"x" * 65_536
        yield b'"}'

    api = shop.client(tenant.keys["billing_admin"])
    path = f"/v1/organizations/{tenant.id}/subscriptions"
    big = api.request("POST", path, content=chunks(), headers={HEADER: "big"})
    problem(big, 413, "request_too_large")
    assert count(shop, m.IdempotencyKey) == 0
    assert buy(shop, tenant, "big").status_code == 201


def test_the_longest_key_and_printable_punctuation_are_accepted(
    shop: Harness, tenant: Tenant
) -> None:
    assert buy(shop, tenant, "k" * 255).status_code == 201
    assert buy(shop, tenant, "a b!~{}").status_code == 201
    assert count(shop, m.Subscription) == 2


def test_keys_belong_to_the_api_key_that_sent_them(shop: Harness, tenant: Tenant) -> None:
    """Two API keys may use the same value without meeting (nor reading each other's answer)."""
    api = shop.client(tenant.keys["global_admin"])
    added = api.post(f"/v1/organizations/{tenant.id}/users",
                     {"email": "new@example.org", "display_name": "New"},
                     headers={HEADER: "same-value"})  # fmt: skip
    assert added.status_code == 201, added.text
    bought = buy(shop, tenant, "same-value")  # the billing admin's key
    assert bought.status_code == 201 and "idempotent-replayed" not in bought.headers
    assert count(shop, m.Subscription) == 1


def test_a_refusal_is_kept_and_replayed_like_an_answer(shop: Harness) -> None:
    """A 4xx is the answer to that request: retried, it is replayed (as Stripe does), even
    after the cause is gone. A new request needs a new key."""
    tenant = shop.tenant("Fabrikam", card=False)
    first = buy(shop, tenant, "no-card-yet")
    problem(first, 409, "payment_method_required")
    shop.engine.run(shop.op, organizations.add_payment_method, tenant.id, kind="card", **CARD)
    again = buy(shop, tenant, "no-card-yet")
    assert again.status_code == 409 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert buy(shop, tenant, "with-card").status_code == 201
    assert charges(shop) == 1


def test_a_server_error_releases_the_key_so_a_retry_runs_again(
    shop: Harness, tenant: Tenant
) -> None:
    calls: list[int] = []

    @shop.fastapi.post("/v1/flaky-for-tests")
    def flaky() -> dict[str, int]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the first call fails")
        return {"calls": len(calls)}

    def post() -> httpx.Response:
        # a connection of its own each time: the server closes the one a 500 went out on
        api = Api(shop.url, tenant.keys["global_admin"])
        try:
            return api.post("/v1/flaky-for-tests", {}, headers={HEADER: "retry-me"})
        finally:
            api.close()

    problem(post(), 500, "internal_error")
    ok = post()
    assert ok.status_code == 200 and ok.json() == {"calls": 2}
    again = post()
    assert again.content == ok.content and again.headers["idempotent-replayed"] == "true"
    assert len(calls) == 2


def test_a_try_again_refusal_releases_the_key_even_when_the_api_key_is_touched(
    shop: Harness,
) -> None:
    """A refusal that says "try again" changed nothing, so the retry runs - the key's last-used
    time, written in a transaction of its own during the request, isn't the request's change."""
    tenant = shop.tenant("Northwind")  # a new API key: its first use records its last-used time
    calls: list[int] = []

    def busy_then_fine(ctx: Context) -> dict[str, int]:
        calls.append(1)
        if len(calls) == 1:
            raise error(Code.CONCURRENT_CHANGE)
        return {"calls": len(calls)}

    @shop.fastapi.post("/v1/busy-for-tests")
    def busy(who: Annotated[Caller, Depends(caller)]) -> dict[str, int]:
        return who.run(busy_then_fine)

    api = shop.client(tenant.keys["global_admin"])
    problem(api.post("/v1/busy-for-tests", {}, headers={HEADER: "again"}), 409, "concurrent_change")
    ok = api.post("/v1/busy-for-tests", {}, headers={HEADER: "again"})
    assert ok.status_code == 200 and ok.json() == {"calls": 2}
    assert api.post("/v1/busy-for-tests", {}, headers={HEADER: "again"}).content == ok.content


def _hold(shop: Harness, tenant: Tenant, key: str, body: bytes) -> tuple[IdempotencyStore, Claim]:
    """A request with `key` that is running (or whose process died): its claim, made through
    the server's own store."""
    store = IdempotencyStore(shop.server_engine, shop.server_engine.settings)
    key_id = tenant.keys["billing_admin"].split("_")[2]
    path = f"/v1/organizations/{tenant.id}/subscriptions"
    claim = store.claim(key_id, key, fingerprint("POST", path, b"", body), "POST", path)
    assert claim.outcome.value == "run"
    return store, claim


def test_a_retry_while_the_first_runs_gets_409_with_retry_after(
    shop: Harness, tenant: Tenant, clock: FixedClock
) -> None:
    _hold(shop, tenant, "busy", b'{"offer": "std-monthly", "quantity": 10}')
    busy = buy(shop, tenant, "busy")
    body = problem(busy, 409, "idempotency_key_in_use")
    assert busy.headers["retry-after"] == "1"
    assert body["context"] == {"key": "busy"}
    assert count(shop, m.Subscription) == 0
    # A claim never answered (its process died) is taken over after the lease
    clock.advance(timedelta(seconds=shop.server_engine.settings.idempotency_lease_seconds))
    taken = buy(shop, tenant, "busy")
    assert taken.status_code == 201 and "idempotent-replayed" not in taken.headers
    assert buy(shop, tenant, "busy").headers["idempotent-replayed"] == "true"
    assert charges(shop) == 1


def _create_org(shop: Harness, name: str) -> None:
    shop.server_engine.run(
        shop.server_engine.operator,
        organizations.create_organization,
        name=name,
        country="NO",
        currency="NOK",
    )


def test_r6_a_request_that_committed_and_then_failed_is_never_run_again(
    shop: Harness, tenant: Tenant
) -> None:
    """Its changes are in even though its answer is a 500: a retry must not make them twice,
    and hears that the answer was lost."""
    calls: list[int] = []

    @shop.fastapi.post("/v1/commit-then-fail-for-tests")
    def commit_then_fail() -> dict[str, int]:
        calls.append(1)
        _create_org(shop, f"Committed {len(calls)}")
        raise RuntimeError("the answer fails after the commit")

    def post(lang: str = "en") -> httpx.Response:
        api = Api(shop.url, tenant.keys["global_admin"], lang)
        try:
            return api.post("/v1/commit-then-fail-for-tests", {}, headers={HEADER: "once"})
        finally:
            api.close()

    before = count(shop, m.Organization)
    problem(post(), 500, "internal_error")
    lost = problem(post("nb"), 409, "idempotency_key_answer_lost")
    assert lost["context"] == {"key": "once"}
    assert "idempotensnøkkelen once ble utført" in lost["detail"]
    assert len(calls) == 1 and count(shop, m.Organization) == before + 1


def test_r6_a_process_that_died_after_its_commit_is_not_run_again_after_the_lease(
    shop: Harness, tenant: Tenant, clock: FixedClock
) -> None:
    """The crash window between the use case's commit and the kept answer: the claim was marked
    committed in the use case's own transaction, so the retry never takes it over."""
    body = b'{"offer": "std-monthly", "quantity": 10}'
    store, claim = _hold(shop, tenant, "crashed", body)
    key_id = tenant.keys["billing_admin"].split("_")[2]
    path = f"/v1/organizations/{tenant.id}/subscriptions"
    print_ = fingerprint("POST", path, b"", body)
    marking = before_commit.set(store.commit_mark(claim, "crashed"))
    try:
        _create_org(shop, "Made by the request that died")
    finally:
        before_commit.reset(marking)
    # ... and the process died here, before keeping its answer.
    problem(buy(shop, tenant, "crashed"), 409, "idempotency_key_in_use")
    clock.advance(timedelta(seconds=shop.server_engine.settings.idempotency_lease_seconds))
    problem(buy(shop, tenant, "crashed"), 409, "idempotency_key_answer_lost")
    assert store.claim(key_id, "crashed", print_, "POST", path).outcome is Outcome.LOST
    assert count(shop, m.Subscription) == 0 and charges(shop) == 0


def test_r6_a_request_that_outlived_its_lease_is_refused_at_its_commit(
    shop: Harness, tenant: Tenant, clock: FixedClock
) -> None:
    """A slow request whose claim another took over after the lease: the other runs, the slow
    one's changes are rolled back at its commit, so the two never both change anything."""
    body = b'{"offer": "std-monthly", "quantity": 10}'
    store, slow = _hold(shop, tenant, "slow", body)
    clock.advance(timedelta(seconds=shop.server_engine.settings.idempotency_lease_seconds))
    assert buy(shop, tenant, "slow").status_code == 201  # took it over and ran
    before = count(shop, m.Organization)
    marking = before_commit.set(store.commit_mark(slow, "slow"))
    try:
        with pytest.raises(AbonnementError) as refused:
            _create_org(shop, "Made by the slow request")
    finally:
        before_commit.reset(marking)
    assert refused.value.code is Code.IDEMPOTENCY_KEY_IN_USE
    assert count(shop, m.Organization) == before and charges(shop) == 1
    assert buy(shop, tenant, "slow").headers["idempotent-replayed"] == "true"


def test_keys_expire_after_24_hours_and_are_cleaned_up(
    shop: Harness, tenant: Tenant, clock: FixedClock
) -> None:
    assert buy(shop, tenant, "daily").status_code == 201
    clock.advance(timedelta(hours=23, minutes=59))
    assert buy(shop, tenant, "daily").headers["idempotent-replayed"] == "true"
    clock.advance(timedelta(minutes=1))
    # expired: ignored, so the same key with another body is a new request
    fresh = buy(shop, tenant, "daily", {**BUY, "quantity": 12})
    assert fresh.status_code == 201 and "idempotent-replayed" not in fresh.headers
    assert count(shop, m.IdempotencyKey) == 1
    assert buy(shop, tenant, "other").status_code == 201
    clock.advance(timedelta(hours=24))
    store = IdempotencyStore(shop.server_engine, shop.server_engine.settings)
    assert store.purge() == 2
    assert count(shop, m.IdempotencyKey) == 0


def test_only_changes_under_v1_are_concerned(shop: Harness, tenant: Tenant) -> None:
    api = shop.client(tenant.keys["billing_admin"])
    # reads ignore the header, even a malformed one
    listed = api.get(f"/v1/organizations/{tenant.id}/subscriptions", headers={HEADER: ""})
    assert listed.status_code == 200
    assert shop.client().get("/health", headers={HEADER: ""}).status_code == 200
    # a request without a valid API key is refused as usual (even with a malformed key), and
    # keeps nothing
    stranger = shop.client("abo_org_notakey")
    for value in ("k1", ""):
        problem(stranger.post(f"/v1/organizations/{tenant.id}/subscriptions", BUY,
                              headers={HEADER: value}), 401, "unauthenticated")  # fmt: skip
    assert count(shop, m.IdempotencyKey) == 0


def test_openapi_documents_the_header_on_every_change(harness: Harness) -> None:
    document = harness.client().get("/openapi.json").json()
    changes = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("post", "patch", "put", "delete")
    ]
    assert len(changes) >= 20
    for path, method, operation in changes:
        header = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert header and header[0]["in"] == "header", (method, path)
        assert header[0]["schema"]["maxLength"] == 255
        assert "400" in operation["responses"], (method, path)


def test_r6_twenty_concurrent_purchases_with_one_key_charge_once(
    shop: Harness, tenant: Tenant
) -> None:
    """20 clients send the same purchase with one key at the same moment: one runs; the others
    get its answer or 409 idempotency_key_in_use - and the ledger has one charge."""
    results = concurrent_purchases(shop.url, tenant.keys["billing_admin"], tenant.id, 20)
    assert_one_purchase(results)
    assert count(shop, m.Subscription) == 1
    assert charges(shop) == 1
    invoices = shop.client(tenant.keys["billing_admin"]).ok(
        "GET", f"/v1/organizations/{tenant.id}/invoices"
    )
    assert len(invoices["data"]) == 1


def concurrent_purchases(url: str, key: str, organization_id: int, n: int) -> list[httpx.Response]:
    """`n` identical purchases with one idempotency key, each on its own connection, released
    together."""
    barrier = threading.Barrier(n)
    results: list[httpx.Response] = []
    idempotency_key = str(uuid.uuid4())

    def one() -> None:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as client:
            barrier.wait()
            results.append(
                client.post(
                    f"/v1/organizations/{organization_id}/subscriptions",
                    json=BUY,
                    headers={HEADER: idempotency_key},
                )
            )

    threads = [threading.Thread(target=one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert len(results) == n
    return results


def assert_one_purchase(results: list[httpx.Response]) -> None:
    created = [r for r in results if r.status_code == 201]
    busy = [r for r in results if r.status_code == 409]
    assert len(created) + len(busy) == len(results), [r.text for r in results]
    assert created, "at least the request that ran answers 201"
    assert len({r.content for r in created}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in created) == 1
    for response in busy:
        assert response.json()["code"] == "idempotency_key_in_use"
        assert response.headers["retry-after"] == "1"


# -- several server processes ---------------------------------------------------------------------
@contextmanager
def served(database_url: str, cwd: Path, workers: int = 2, **env: str) -> Iterator[str]:
    """`abonnement serve --workers N` in processes of its own, on the test's database; its URL
    once every worker has started. Stopped (the whole process group) afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {
        **os.environ,
        "ABONNEMENT_DATABASE_URL": database_url,
        "ABONNEMENT_SECRET_KEY": SECRET,
        **{f"ABONNEMENT_{name.upper()}": value for name, value in env.items()},
    }
    command = [sys.executable, "-c", "from abonnement.cli.main import app; app()", "serve"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--workers", str(workers), "--no-access-log"],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    started = threading.Event()

    def watch() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if sum("Application startup complete" in seen for seen in output) >= workers:
                started.set()

    threading.Thread(target=watch, daemon=True).start()
    try:
        if not started.wait(60):
            raise RuntimeError("the server did not start:\n" + "".join(output))
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung worker
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def test_r6_two_server_processes_charge_once_for_twenty_concurrent_purchases(
    shop: Harness, tenant: Tenant, database_url: str, tmp_path: Path
) -> None:
    """`abonnement serve --workers 2`: the claim is a database row, so whichever process gets
    each of the 20 requests, one runs."""
    with served(database_url, tmp_path, workers=2) as url:
        results = concurrent_purchases(url, tenant.keys["billing_admin"], tenant.id, 20)
    assert_one_purchase(results)
    assert count(shop, m.Subscription) == 1
    assert charges(shop) == 1
