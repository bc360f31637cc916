"""The ASGI application: `create_app()` for uvicorn (`abonnement serve` runs it), tests and any
other ASGI server::

    uvicorn --factory abonnement.api.app:create_app

It holds one `Abonnement` (one database engine and clock) for its life, and the server secret
API keys are checked with. Every /v1 request authenticates its key and runs one use case in
its own transaction.
"""

from __future__ import annotations

import gc
import importlib.metadata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from abonnement.api import errors, idempotency, limits
from abonnement.api.auth import ApiState
from abonnement.api.idempotency import IdempotencyKeys, IdempotencyStore
from abonnement.api.limits import BodySizeLimit, KeyIdentities, RateLimiter, RateLimits
from abonnement.api.routers import (
    V1,
    activity,
    apikeys,
    billing,
    catalog,
    clocks,
    events,
    licenses,
    organizations,
    subscriptions,
    webhooks,
)
from abonnement.app import Abonnement
from abonnement.clock import Clock
from abonnement.config import Settings
from abonnement.services.apikeys import server_secret
from abonnement.web import app as web

DESCRIPTION = """\
Sell per-seat subscriptions to organizations: catalog, organizations and their admins,
subscriptions, license assignments, product keys, invoices and payments.

Authenticate with `Authorization: Bearer <key>`. Operator keys (`abo_op_…`) act as the vendor;
organization keys (`abo_org_…`) act as one user, with the admin roles that user holds.

Errors are `application/problem+json` (RFC 9457) with a stable `code`, and a `detail` and
`remedy` in the language of `Accept-Language` (en, nb, nl, da).
"""

ROUTERS = (
    catalog,
    organizations,
    subscriptions,
    licenses,
    billing,
    activity,
    apikeys,
    events,
    webhooks,
    clocks,
)


def _version() -> str:
    try:
        return importlib.metadata.version("abonnement")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a checkout
        return "0"


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI 3.1 document, with error responses only as application/problem+json."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            description=app.description,
            routes=app.routes,
        )
        for path in document.get("paths", {}).values():
            for operation in path.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status.startswith(("4", "5")) and errors.MEDIA_TYPE in content:
                        content.pop("application/json", None)
        idempotency.document(document)
        limits.document(document)
        app.openapi_schema = document
    return app.openapi_schema


def route_table(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app serves, through included routers too (the tenant-isolation
    and role matrices are generated from it)."""
    return {
        (method, context.path)
        for context in iter_route_contexts(app.routes)
        if context.path is not None
        for method in context.methods or ()
    }


def _add_routes(app: FastAPI, routers: list[APIRouter]) -> None:
    """The routers' routes on the app's own router, as they are (their paths carry /v1), in
    order. `include_router` would keep each router as a node that every request walks
    candidate by candidate (FastAPI 0.137 and later): about 0.4 ms of CPU a request over the
    API's hundred-odd routes, a tenth of a license assignment's. On the app's router a route
    is one compiled pattern matched in turn, as Starlette matches it."""
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute) or not route.path.startswith(V1 + "/"):
                raise TypeError(f"an API route under {V1} expected, not {route!r}")
            app.router.routes.append(route)


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """The API over the database the settings name (default: the ABONNEMENT_* environment).
    Raises `InsecureSecretError` in production without a real ABONNEMENT_SECRET_KEY."""
    settings = settings or Settings()
    pepper = server_secret(settings)
    engine = Abonnement(settings, clock=clock)
    limiter = RateLimiter(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        # What the server holds for its lifetime (modules, the schema, compiled statements) is
        # set aside from the cyclic garbage collector: a full collection would otherwise walk
        # those hundreds of thousands of objects again and again, pausing requests for tens of
        # milliseconds each time (the tail of the latency).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await limiter.close()
            engine.close()

    app = FastAPI(
        title="abonnement",
        version=_version(),
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    # /v1 only, outermost last: rate limit, size limit, then idempotency keys.
    identities = KeyIdentities(engine, pepper)
    app.add_middleware(
        IdempotencyKeys, store=IdempotencyStore(engine, settings), identities=identities
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RateLimits, limiter=limiter, identities=identities)
    app.state.api = ApiState(engine, pepper, identities)
    errors.install(app)
    _add_routes(app, [module.router for module in ROUTERS])

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    web.mount(app, engine, settings, pepper)  # the admin center, under /admin

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
