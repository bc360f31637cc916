"""Who is calling: `Authorization: Bearer <API key>` turned into the actor the services check.

Authorization itself (R1, tenancy) stays in the services; this only finds the actor. Every
request is authenticated afresh, inside the transaction of its use case, so a revoked key or a
revoked role stops working at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Concatenate, ParamSpec, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError

from abonnement.api.limits import KeyIdentities
from abonnement.app import Abonnement, before_commit, charge_scope
from abonnement.domain.errors import Code, error
from abonnement.services import apikeys
from abonnement.services.context import Actor, Context

log = logging.getLogger("abonnement.api")

P = ParamSpec("P")
T = TypeVar("T")

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    bearerFormat="abo_op_… or abo_org_…",
    description="An API key: `Authorization: Bearer abo_org_…`. Operator keys start with "
    "`abo_op_`, organization users' keys with `abo_org_`.",
)


@dataclass(frozen=True)
class ApiState:
    """What the app holds for its whole life: one engine, the server secret, and the key ids of
    recent bearer tokens (for rate limits, idempotency and the early 401)."""

    engine: Abonnement
    pepper: bytes
    identities: KeyIdentities


def state(request: Request) -> ApiState:
    api_state: ApiState = request.app.state.api
    return api_state


@dataclass
class Caller:
    """The caller of one request, and the engine to run use cases with.

    Each use case authenticates the key afresh, in its own transaction, before it runs (one
    transaction per request, not one for the key and one for the work): a revoked key, or a
    role taken away, stops working at once."""

    engine: Abonnement
    token: str
    pepper: bytes
    found: apikeys.Authenticated | None = field(default=None, init=False)

    def _actor(self, ctx: Context) -> Actor:
        self.found = apikeys.authenticate(ctx, self.token, pepper=self.pepper)
        return self.found.actor

    def _touch(self) -> None:
        found, self.found = self.found, None
        if found is None or not found.stale:
            return
        # Housekeeping, not the request's own change: it doesn't mark an idempotency claim, nor
        # count among the request's runs that name its charges (it happens only now and then).
        outside = before_commit.set(None)
        unscoped = charge_scope.set(None)
        try:
            self.engine.run(apikeys.ANONYMOUS, apikeys.touch, found.key_id)
        except SQLAlchemyError:  # the last-used time is a convenience: never fail a request on it
            log.warning("could not record the use of API key %s", found.key_id, exc_info=True)
        finally:
            charge_scope.reset(unscoped)
            before_commit.reset(outside)

    def run(
        self, use_case: Callable[Concatenate[Context, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run a use case that changes something, in its own transaction."""
        try:
            return self.engine.run(self._actor, use_case, *args, **kwargs)
        finally:
            self._touch()

    def read(
        self, use_case: Callable[Concatenate[Context, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run a use case that only reads."""
        try:
            return self.engine.read(self._actor, use_case, *args, **kwargs)
        finally:
            self._touch()


async def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The caller, without a database read of its own: a key that is malformed, or that the
    database refused within the last minute, is answered with 401 before the body is looked at;
    any other key is authenticated by the use case itself. (Async, so it runs on the event loop:
    the route's one trip to a worker thread does the authentication and the work together.)"""
    if credentials is None:
        raise error(Code.UNAUTHENTICATED)
    api = state(request)
    if await api.identities.key_id(credentials.credentials, quiet=False) is None:
        raise error(Code.UNAUTHENTICATED)
    return Caller(api.engine, credentials.credentials, api.pepper)


CallerDep = Annotated[Caller, Depends(caller)]
