"""The unit of work: one transaction, the repositories that share it, commit or roll back.

The request or job that opens a unit of work owns its transaction; services only flush. Leaving
the block without `commit()` rolls everything back, so an error never leaves a partial write.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from abonnement.store import repository as r


@lru_cache(maxsize=32)
def _sessions(engine: Engine, read_only: bool) -> sessionmaker[Session]:
    """The session factory of an engine, made once: an engine with options and a sessionmaker
    cost more to build than the short transaction of an API request."""
    bind = engine.execution_options(sqlite_begin="DEFERRED") if read_only else engine
    return sessionmaker(bind=bind, expire_on_commit=False, autoflush=True)


class UnitOfWork:
    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self._engine = engine
        self._factory = _sessions(engine, read_only)
        self.read_only = read_only
        self.session: Session
        self._before_commit: dict[str, Callable[[], None]] = {}
        #: Organizations this transaction has already read, each with the time of its test
        #: clock (None: no clock attached): authentication reads the caller's organization in
        #: its one query, so the use case need not read it again (`Context.organization_ref`).
        self.organizations_read: dict[int, datetime | None] = {}

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        s = self.session
        self.organizations = r.Organizations(s)
        self.users = r.Users(s)
        self.catalog = r.Catalog(s)
        self.payment_methods = r.PaymentMethods(s)
        self.subscriptions = r.Subscriptions(s)
        self.assignments = r.Assignments(s)
        self.product_keys = r.ProductKeys(s)
        self.callbacks = r.Callbacks(s)
        self.audit = r.Audit(s)
        self._before_commit = {}
        self.organizations_read = {}
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()

    def reader(self) -> Session:
        """A session of its own that only reads, beside this unit of work's: on SQLite a
        deferred transaction, a snapshot that neither takes nor waits for the write lock."""
        return _sessions(self._engine, True)()

    def before_commit(self, name: str, callback: Callable[[], None]) -> None:
        """Have `callback` run once, just before this transaction commits (the invoices' gap-free
        numbers are taken then: `services.billing.number_invoices`). One callback per name."""
        self._before_commit.setdefault(name, callback)

    def commit(self) -> None:
        while self._before_commit:
            name = next(iter(self._before_commit))
            self._before_commit.pop(name)()
        self.session.commit()
        self.session.info.clear()

    def rollback(self) -> None:
        """Roll the transaction back, and forget what its services kept for its end (in
        `session.info`: invoices still to number, events waiting for those numbers), so a unit
        of work used on after a rollback (the billing run's next organization) starts clean."""
        self._before_commit.clear()
        self.organizations_read.clear()
        self.session.rollback()
        self.session.info.clear()
