"""Rate limits over real HTTP: a token bucket per API key (per client address without one),
answered with 429 `rate_limited` and Retry-After; shared through Redis by several servers."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from abonnement.api.app import create_app
from abonnement.clock import FixedClock
from abonnement.config import Settings

from .conftest import SECRET, Harness, ServerThread, Tenant, problem
from .test_idempotency import served

REDIS_URL = os.environ.get("ABONNEMENT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
#: Without Redis the tests that need it fail, unless ABONNEMENT_TEST_SKIP_REDIS=1 (not in CI).
REDIS_REQUIRED = os.environ.get("CI", "").lower() in ("1", "true", "yes") or (
    os.environ.get("ABONNEMENT_TEST_SKIP_REDIS") != "1"
)


@pytest.fixture
def tenant(shop: Harness) -> Tenant:
    return shop.tenant("Contoso")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Redis for the tests that share buckets, with a key prefix of the test's own (deleted
    afterwards). Missing Redis fails the test, as missing PostgreSQL does."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:  # pragma: no cover - depends on the machine
        if REDIS_REQUIRED:
            pytest.fail(f"Redis is needed at {REDIS_URL}: {exc}", pytrace=False)
        pytest.skip(f"ABONNEMENT_TEST_SKIP_REDIS=1 and no Redis at {REDIS_URL}")
    yield REDIS_URL
    client.close()


class Servers:
    """API servers over one database with settings of the test's choosing."""

    def __init__(self, database_url: str, clock: FixedClock) -> None:
        self.database_url = database_url
        self.clock = clock
        self.running: list[ServerThread] = []

    def start(self, **settings: Any) -> str:
        app = create_app(
            Settings(database_url=self.database_url, secret_key=SECRET, **settings),
            clock=self.clock,
        )
        server = ServerThread(app)
        server.start()
        self.running.append(server)
        return server.url

    def close(self) -> None:
        for server in self.running:
            server.stop()


@pytest.fixture
def servers(shop: Harness, database_url: str, clock: FixedClock) -> Iterator[Servers]:
    started = Servers(database_url, clock)
    yield started
    started.close()


def get(url: str, key: str | None, path: str, lang: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if lang:
        headers["Accept-Language"] = lang
    return httpx.get(url + path, headers=headers, timeout=30)


def test_each_api_key_has_its_own_bucket(servers: Servers, tenant: Tenant) -> None:
    url = servers.start(rate_limit_per_second=0.01, rate_limit_burst=5)
    reader, admin = tenant.keys["global_reader"], tenant.keys["global_admin"]
    path = f"/v1/organizations/{tenant.id}/subscriptions"
    remaining = []
    for _ in range(5):
        response = get(url, reader, path)
        assert response.status_code == 200, response.text
        assert response.headers["ratelimit-limit"] == "5"
        remaining.append(int(response.headers["ratelimit-remaining"]))
    assert remaining[0] == 4 and remaining[-1] <= 1
    assert remaining == sorted(remaining, reverse=True)
    refused = get(url, reader, path)
    body = problem(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-remaining"] == "0"
    assert body["context"] == {"limit": 0.01, "retry_after": int(refused.headers["retry-after"])}
    # another key of the same organization is not held back
    assert get(url, admin, path).status_code == 200
    # nor is anything outside /v1
    for other in ("/health", "/openapi.json", "/docs"):
        assert get(url, reader, other).status_code == 200
        assert "ratelimit-limit" not in get(url, reader, other).headers


@pytest.mark.parametrize("lang", ["en", "nb", "nl", "da"])
def test_r16_the_refusal_reads_in_four_languages(
    servers: Servers, tenant: Tenant, lang: str
) -> None:
    url = servers.start(rate_limit_per_second=0.01, rate_limit_burst=1)
    key = tenant.keys["global_reader"]
    assert get(url, key, "/v1/organizations").status_code in (200, 403)
    refused = get(url, key, "/v1/organizations", lang)
    body = problem(refused, 429, "rate_limited")
    assert refused.headers["content-language"] == lang
    assert body["remedy"] and refused.headers["retry-after"] in body["remedy"]


def test_requests_without_a_valid_key_count_per_client_address(
    servers: Servers, tenant: Tenant
) -> None:
    url = servers.start(rate_limit_anonymous_per_second=0.01, rate_limit_anonymous_burst=3)
    answers = [get(url, f"abo_org_wrong{n}", "/v1/organizations").status_code for n in range(3)]
    assert answers == [401, 401, 401]
    problem(get(url, None, "/v1/organizations"), 429, "rate_limited")
    # a valid key has its own bucket
    assert get(url, tenant.keys["global_admin"], "/v1/organizations").status_code == 200


def test_zero_turns_rate_limits_off(servers: Servers, tenant: Tenant) -> None:
    url = servers.start(rate_limit_per_second=0, rate_limit_anonymous_per_second=0)
    key = tenant.keys["global_reader"]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
        for _ in range(300):
            response = client.get(f"/v1/organizations/{tenant.id}/licenses")
            assert response.status_code == 200
            assert "ratelimit-limit" not in response.headers


def test_the_defaults_leave_a_busy_client_alone(shop: Harness, tenant: Tenant) -> None:
    """100 requests a second with bursts of 200 per key: far above what one client sends."""
    key = tenant.keys["global_reader"]
    with httpx.Client(base_url=shop.url, headers={"Authorization": f"Bearer {key}"}) as client:
        statuses = {client.get(f"/v1/organizations/{tenant.id}/licenses").status_code
                    for _ in range(150)}  # fmt: skip
        last = client.get(f"/v1/organizations/{tenant.id}/licenses")
    assert statuses == {200}
    assert last.headers["ratelimit-limit"] == "200"


def test_servers_sharing_redis_share_each_keys_bucket(
    servers: Servers, tenant: Tenant, redis_url: str
) -> None:
    """Two servers (as two processes or machines would be) draw from one bucket per key."""
    prefix = f"abonnement-test-{uuid.uuid4().hex}"
    shared = {"redis_url": redis_url, "redis_prefix": prefix}
    first = servers.start(rate_limit_per_second=0.01, rate_limit_burst=6, **shared)
    second = servers.start(rate_limit_per_second=0.01, rate_limit_burst=6, **shared)
    key = tenant.keys["global_admin"]
    path = f"/v1/organizations/{tenant.id}"
    for n in range(6):
        assert get((first, second)[n % 2], key, path).status_code == 200
    problem(get(first, key, path), 429, "rate_limited")
    problem(get(second, key, path), 429, "rate_limited")
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.keys(f"{prefix}:ratelimit:*")
        client.delete(*client.keys(f"{prefix}:*"))
    finally:
        client.close()


def test_without_redis_each_server_counts_alone(servers: Servers, tenant: Tenant) -> None:
    first = servers.start(rate_limit_per_second=0.01, rate_limit_burst=2)
    second = servers.start(rate_limit_per_second=0.01, rate_limit_burst=2)
    key = tenant.keys["global_admin"]
    path = f"/v1/organizations/{tenant.id}"
    assert [get(url, key, path).status_code for url in (first, first, second, second)] == [200] * 4
    problem(get(first, key, path), 429, "rate_limited")


def test_an_unreachable_redis_lets_requests_pass(servers: Servers, tenant: Tenant) -> None:
    url = servers.start(
        rate_limit_per_second=0.01, rate_limit_burst=1, redis_url="redis://127.0.0.1:9/0"
    )
    key = tenant.keys["global_admin"]
    for _ in range(3):
        response = get(url, key, f"/v1/organizations/{tenant.id}")
        assert response.status_code == 200
        assert "ratelimit-limit" not in response.headers


def test_openapi_documents_429_on_every_operation(harness: Harness) -> None:
    document = harness.client().get("/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            too_many = operation["responses"]["429"]
            assert list(too_many["content"]) == ["application/problem+json"], (method, path)
            assert "Retry-After" in too_many["headers"]


def test_two_server_processes_sharing_redis_keep_one_bucket_per_key(
    shop: Harness, tenant: Tenant, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """`abonnement serve --workers 2` with ABONNEMENT_REDIS_URL: 20 requests at once, each on a
    connection of its own (spread over both processes), and the key's burst of 6 is all that
    passes."""
    prefix = f"abonnement-test-{uuid.uuid4().hex}"
    limits = {"rate_limit_per_second": "0.01", "rate_limit_burst": "6"}
    key = tenant.keys["global_admin"]
    statuses: list[int] = []
    barrier = threading.Barrier(20)

    def one(url: str) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
            barrier.wait()
            statuses.append(client.get(f"/v1/organizations/{tenant.id}").status_code)

    with served(database_url, tmp_path, redis_url=redis_url, redis_prefix=prefix, **limits) as url:
        threads = [threading.Thread(target=one, args=(url,)) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert sorted(statuses) == [200] * 6 + [429] * 14
    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(*client.keys(f"{prefix}:*"))
    finally:
        client.close()
