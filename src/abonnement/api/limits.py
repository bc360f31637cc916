"""Request limits for the REST API.

- Size: a body over `max_request_bytes` is answered with 413, as a problem, and is never read
  past the limit (whether it announces its length or streams it in chunks).
- Rate: `RateLimits` gives each API key a token bucket (and each client address, for requests
  without a valid key), shared through Redis when `ABONNEMENT_REDIS_URL` is set.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from pyrate_limiter import (
    Duration,
    InMemoryStateStore,
    Rate,
    RedisStateStore,
    StateStore,
    TokenBucket,
)
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from abonnement import i18n
from abonnement.api.errors import (
    MEDIA_TYPE,
    REQUEST_TOO_LARGE,
    http_problem,
    locale_of,
    problem_response,
)
from abonnement.app import Abonnement
from abonnement.config import Settings
from abonnement.domain.errors import AbonnementError, Code, error
from abonnement.services import apikeys

log = logging.getLogger("abonnement.api")

T = TypeVar("T")


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            response = http_problem(Request(scope), 413, REQUEST_TOO_LARGE)
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException passes through FastAPI's body parsing to the handler
                    # that answers it as a problem.
                    raise HTTPException(413)
            return message

        await self.app(scope, limited, send)


# -- who is asking --------------------------------------------------------------------------------
def bearer_token(scope: Scope) -> str | None:
    """The credentials of `Authorization: Bearer <token>`, or None."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


class KeyIdentities:
    """Which API key a bearer token is (its key id), checked against the database like any
    request and then remembered for a minute per process: rate limits and idempotency keys count
    per API key without a database read on every request. Only a token that authenticates gets
    a key id; a mistyped one is known at once, without a lookup. (Authorization itself is checked
    afresh by every request's route; this only names the bucket.)"""

    def __init__(
        self, engine: Abonnement, pepper: bytes, *, ttl: float = 60.0, size: int = 10_000
    ) -> None:
        self.engine = engine
        self.pepper = pepper
        self.ttl = ttl
        self.size = size
        self._known: OrderedDict[bytes, tuple[str | None, float]] = OrderedDict()

    def _lookup(self, token: str) -> str | None:
        try:
            found = self.engine.read(
                apikeys.ANONYMOUS, apikeys.authenticate, token, pepper=self.pepper
            )
        except AbonnementError:
            return None
        return found.key_id

    async def key_id_now(self, token: str) -> str | None:
        """`key_id` from the database, not from memory (for an answer that must not rest on a
        key revoked within the last minute); remembered afresh."""
        self._known.pop(hashlib.sha256(token.encode("utf-8")).digest(), None)
        return await self.key_id(token, quiet=False)

    async def key_id(self, token: str | None, *, quiet: bool = True) -> str | None:
        """The key id of a token that authenticates (None for any other), from memory when it
        was looked up within `ttl`. Should the database fail, None when `quiet` (the route will
        say what is wrong; count by address meanwhile), else the error."""
        if not token:
            return None
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        known = self._known.get(digest)  # only well-formed tokens are remembered
        if known is not None and known[1] > time.monotonic():
            return known[0]
        if apikeys.parse(token) is None:
            return None
        try:
            key_id = await run_in_threadpool(self._lookup, token)
        except SQLAlchemyError:
            if not quiet:
                raise
            log.warning("could not look up an API key", exc_info=True)
            return None
        self._known[digest] = (key_id, time.monotonic() + self.ttl)
        self._known.move_to_end(digest)
        while len(self._known) > self.size:
            self._known.popitem(last=False)
        return key_id


def refusal_response(
    request: Request, exc: AbonnementError, headers: Mapping[str, str] | None = None
) -> Response:
    """An error raised outside the routes (in a middleware), as the routes' handler answers it."""
    detail, remedy = i18n.localize_refusal(exc, locale_of(request))
    return problem_response(
        request,
        status=exc.status,
        code=exc.code.value,
        detail=detail,
        remedy=remedy,
        context=exc.context,
        headers=headers,
    )


# -- rate limits ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int  # the burst: how many at once
    remaining: int
    reset: int  # seconds until the bucket is full again
    retry_after: int  # seconds, when refused


class RateLimiter:
    """Token buckets (pyrate-limiter's GCRA): `per_second` on average, `burst` at once, per API
    key; for requests without a valid key, per client address. In Redis when `redis_url` is set
    (one Lua script per request, so every process and machine draws from the same bucket);
    otherwise in this process, so N processes without Redis allow N times the rate. Should Redis
    be unreachable, requests pass (and a warning is logged): the limit protects the service, it
    must not stop it."""

    def __init__(self, settings: Settings) -> None:
        self.algorithm = TokenBucket()
        self.key_policy = _policy(settings.rate_limit_per_second, settings.rate_limit_burst)
        self.anonymous_policy = _policy(
            settings.rate_limit_anonymous_per_second, settings.rate_limit_anonymous_burst
        )
        self.prefix = f"{settings.redis_prefix}:ratelimit:"
        self.redis: AsyncRedis | None = (
            AsyncRedis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
            if settings.redis_url
            else None
        )
        self._local: OrderedDict[str, InMemoryStateStore] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.key_policy is not None or self.anonymous_policy is not None

    def _store(self, bucket: str) -> StateStore:
        if self.redis is not None:
            return RedisStateStore(self.redis, self.prefix + bucket)
        store = self._local.get(bucket)
        if store is None:
            store = self._local[bucket] = InMemoryStateStore()
            while len(self._local) > LOCAL_BUCKETS:
                self._local.popitem(last=False)
        self._local.move_to_end(bucket)
        return store

    async def check(self, bucket: str, policy: Policy) -> Verdict | None:
        """Spend one request from the bucket; None when the store can't be reached."""
        store, rate = self._store(bucket), policy.rate
        now = int(time.time() * 1000)  # wall time: shared by every process and machine
        try:
            decision = await _resolved(store.check(self.algorithm, [rate], now, 1))
            state = await _resolved(store.read(self.algorithm, [rate]))
        except RedisError:
            log.warning("rate limits: Redis can't be reached; the request passes", exc_info=True)
            return None
        consumed = min(rate.burst, self.algorithm.consumed([rate], state, now))
        reset = math.ceil(consumed * rate.interval / rate.limit / 1000)
        if decision.allowed:
            return Verdict(True, rate.burst, rate.burst - consumed, reset, 0)
        retry_ms = decision.retry_after_ms if decision.retry_after_ms is not None else 1000
        return Verdict(False, rate.burst, 0, reset, max(1, math.ceil(retry_ms / 1000)))

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


LOCAL_BUCKETS = 100_000


@dataclass(frozen=True, slots=True)
class Policy:
    """`per_second` requests a second on average, `burst` at once."""

    per_second: float
    burst: int

    @property
    def rate(self) -> Rate:
        # pyrate-limiter counts whole requests per interval: 0.5 a second is 500 a million ms
        return Rate(max(1, round(self.per_second * 1000)), 1000 * Duration.SECOND, self.burst)

    @property
    def shown(self) -> int | float:
        """The rate as people read it: 100, or 0.5."""
        return int(self.per_second) if self.per_second.is_integer() else self.per_second


def _policy(per_second: float, burst: int) -> Policy | None:
    if per_second <= 0:
        return None
    return Policy(float(per_second), max(1, burst))


async def _resolved(value: T | Awaitable[T]) -> T:
    if inspect.isawaitable(value):
        return await value
    return value


class RateLimits:
    """ASGI middleware: every /v1 request spends a token of its API key's bucket (or its client
    address's, without a valid key); an empty bucket is answered with 429 `rate_limited` and
    `Retry-After`. Answers carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
    (IETF draft). The admin center, the docs and /health are not limited here."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        identities: KeyIdentities,
        prefix: str = "/v1/",
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.identities = identities
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self.limiter.enabled
            or not scope["path"].startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        key_id = await self.identities.key_id(bearer_token(scope))
        if key_id is not None:
            bucket, policy = "key:" + key_id, self.limiter.key_policy
        else:
            client = scope.get("client")
            bucket = "ip:" + (client[0] if client else "unknown")
            policy = self.limiter.anonymous_policy
        verdict = await self.limiter.check(bucket, policy) if policy is not None else None
        if verdict is None:
            await self.app(scope, receive, send)
            return
        headers = {
            "RateLimit-Limit": str(verdict.limit),
            "RateLimit-Remaining": str(verdict.remaining),
            "RateLimit-Reset": str(verdict.reset),
        }
        if not verdict.allowed:
            assert policy is not None
            refused = error(Code.RATE_LIMITED, limit=policy.shown, retry_after=verdict.retry_after)
            headers["Retry-After"] = str(verdict.retry_after)
            await refusal_response(Request(scope), refused, headers)(scope, receive, send)
            return
        extra = [(n.lower().encode("ascii"), v.encode("ascii")) for n, v in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def document(openapi: dict[str, object]) -> None:
    """Add the 429 answer to every /v1 operation of the OpenAPI document."""
    too_many = {
        "description": "Too many requests for this API key (code `rate_limited`): wait the "
        "seconds of `Retry-After`.",
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "integer"},
            }
        },
        "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    paths = openapi.get("paths", {})
    assert isinstance(paths, dict)
    for path, item in paths.items():
        if path.startswith("/v1/"):
            for operation in item.values():
                operation.setdefault("responses", {}).setdefault("429", too_many)
