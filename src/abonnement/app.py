"""The engine as a library: one object that owns the database engine and the clock and runs
use cases, each in its own unit of work.

    from abonnement.app import Abonnement
    from abonnement.services import organizations
    app = Abonnement()                      # SQLite file under ./var, or ABONNEMENT_DATABASE_URL
    org = app.run(app.operator, organizations.create_organization, name="Contoso", ...)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from abonnement.clock import Clock, SystemClock
from abonnement.config import Settings, get_settings
from abonnement.services.context import ANONYMOUS, Actor, Context
from abonnement.services.organizations import actor_for_user
from abonnement.store.db import make_engine
from abonnement.store.migrate import upgrade
from abonnement.store.uow import UnitOfWork

# PostgreSQL deadlock and serialization failures, SQLite's busy lock: safe to run again, since
# the failed attempt's transaction was rolled back as a whole.
_TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03"}


def is_transient(exc: BaseException) -> bool:
    if not isinstance(exc, DBAPIError) or exc.connection_invalidated:
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate in _TRANSIENT_SQLSTATES or "database is locked" in str(exc.orig)


P = ParamSpec("P")
T = TypeVar("T")

#: Who runs a use case: an actor, or how to find one inside the use case's own transaction (the
#: API authenticates a key that way: one transaction per request, not two).
Caller = Actor | Callable[[Context], Actor]

#: Work that belongs in the commit of every use case run in this context, done in its
#: transaction just before it commits; raising refuses the use case (it is rolled back). The
#: API's idempotency keys mark their claim "committed" this way, so a request's changes and the
#: record that they were made are one commit: a retry after a crash between that commit and the
#: kept answer can't run the request again.
before_commit: ContextVar[Callable[[UnitOfWork], None] | None] = ContextVar(
    "abonnement_before_commit", default=None
)


@dataclass
class ChargeScope:
    """What names a request's charges at the payment processor (their idempotency keys): a
    request sent again with its Idempotency-Key asks the processor with the same keys, so a
    charge it took before a crash that lost the request's transaction is found again, not
    taken twice. The n-th use case run in the request gets `{base}.{n}`."""

    base: str
    runs: int = 0

    def next_run(self) -> str:
        self.runs += 1
        return f"{self.base}.{self.runs}"


#: The request's `ChargeScope`, set by the API's idempotency keys. Without one, each run of a use
#: case gets a scope of its own, which its retries after a deadlock share (`Abonnement.run`).
charge_scope: ContextVar[ChargeScope | None] = ContextVar("abonnement_charge_scope", default=None)


class Abonnement:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.clock: Clock = clock or SystemClock()
        self.engine = engine or make_engine(self.settings.database_url, echo=self.settings.echo_sql)
        self.operator = Actor.operator()

    def migrate(self) -> None:
        upgrade(self.settings.database_url)

    def _context(self, uow: UnitOfWork, actor: Caller) -> Context:
        if isinstance(actor, Actor):
            return Context(uow, self.clock, actor)
        return Context(uow, self.clock, actor(Context(uow, self.clock, ANONYMOUS)))

    def run(
        self,
        actor: Caller,
        use_case: Callable[Concatenate[Context, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run one use case in its own transaction: committed if it returns, rolled back if it
        raises, so a refusal never leaves a partial write. A deadlock or lock timeout reported by
        the database runs the whole use case again, a few times, with jittered backoff.

        `actor` may be a function that finds the actor in the same transaction, before the use
        case runs (and again on every attempt)."""
        request = charge_scope.get()
        charges = request.next_run() if request is not None else uuid.uuid4().hex
        for attempt in Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(5),
            wait=wait_random_exponential(multiplier=0.02, max=1),
            reraise=True,
        ):
            with attempt, UnitOfWork(self.engine) as uow:
                ctx = self._context(uow, actor)
                ctx.charge_scope = charges  # every attempt asks the processor with the same keys
                result = use_case(ctx, *args, **kwargs)
                hook = before_commit.get()
                if hook is not None:
                    hook(uow)
                uow.commit()
        return result

    def read(
        self,
        actor: Caller,
        use_case: Callable[Concatenate[Context, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run a use case that only reads (a deferred transaction on SQLite), then roll back."""
        with UnitOfWork(self.engine, read_only=True) as uow:
            return use_case(self._context(uow, actor), *args, **kwargs)

    def actor(self, email: str) -> Actor:
        """The actor for an organization user, with the roles they hold now."""
        with UnitOfWork(self.engine, read_only=True) as uow:
            return actor_for_user(uow, email)

    def close(self) -> None:
        self.engine.dispose()
