"""The engine as a library: one object that owns the database engine and the clock and runs
use cases, each in its own unit of work.

    from abonnement.app import Abonnement
    from abonnement.services import organizations
    app = Abonnement()                      # SQLite file under ./var, or ABONNEMENT_DATABASE_URL
    org = app.run(app.operator, organizations.create_organization, name="Contoso", ...)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine

from abonnement.clock import Clock, SystemClock
from abonnement.config import Settings, get_settings
from abonnement.services.context import Actor, Context
from abonnement.services.organizations import actor_for_user
from abonnement.store.db import make_engine
from abonnement.store.migrate import upgrade
from abonnement.store.uow import UnitOfWork

P = ParamSpec("P")
T = TypeVar("T")


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

    def run(
        self,
        actor: Actor,
        use_case: Callable[Concatenate[Context, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run one use case in its own transaction: committed if it returns, rolled back if it
        raises, so a refusal never leaves a partial write."""
        with UnitOfWork(self.engine) as uow:
            result = use_case(Context(uow, self.clock, actor), *args, **kwargs)
            uow.commit()
            return result

    def read(
        self,
        actor: Actor,
        use_case: Callable[Concatenate[Context, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run a use case that only reads (a deferred transaction on SQLite), then roll back."""
        with UnitOfWork(self.engine, read_only=True) as uow:
            return use_case(Context(uow, self.clock, actor), *args, **kwargs)

    def actor(self, email: str) -> Actor:
        """The actor for an organization user, with the roles they hold now."""
        with UnitOfWork(self.engine, read_only=True) as uow:
            return actor_for_user(uow, email)

    def close(self) -> None:
        self.engine.dispose()
