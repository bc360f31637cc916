"""Who is calling: `Authorization: Bearer <API key>` turned into the actor the services check.

Authorization itself (R1, tenancy) stays in the services; this only finds the actor. Every
request is authenticated afresh, so a revoked key or a revoked role stops working at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Concatenate, ParamSpec, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError

from abonnement.app import Abonnement
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
    """What the app holds for its whole life: one engine, and the server secret."""

    engine: Abonnement
    pepper: bytes


def state(request: Request) -> ApiState:
    api_state: ApiState = request.app.state.api
    return api_state


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of one request, and the engine to run use cases with."""

    engine: Abonnement
    actor: Actor
    key_id: str
    pepper: bytes

    def run(
        self, use_case: Callable[Concatenate[Context, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run a use case that changes something, in its own transaction."""
        return self.engine.run(self.actor, use_case, *args, **kwargs)

    def read(
        self, use_case: Callable[Concatenate[Context, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run a use case that only reads."""
        return self.engine.read(self.actor, use_case, *args, **kwargs)


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    if credentials is None:
        raise error(Code.UNAUTHENTICATED)
    api = state(request)
    found = api.engine.read(
        apikeys.ANONYMOUS, apikeys.authenticate, credentials.credentials, pepper=api.pepper
    )
    if found.stale:
        try:
            api.engine.run(apikeys.ANONYMOUS, apikeys.touch, found.key_id)
        except SQLAlchemyError:  # the last-used time is a convenience: never fail a request on it
            log.warning("could not record the use of API key %s", found.key_id, exc_info=True)
    return Caller(api.engine, found.actor, found.key_id, api.pepper)


CallerDep = Annotated[Caller, Depends(caller)]
