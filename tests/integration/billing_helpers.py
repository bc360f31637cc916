"""What the billing-run tests share: the clock in Amsterdam, running the billing run, and reading
back what it wrote."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from abonnement.app import Abonnement
from abonnement.domain import lifecycle as lc
from abonnement.services import (
    billing_run,
    invoices,
    licensing,
    subscriptions,
)
from abonnement.services.billing_run import RunSummary
from abonnement.store import models as m
from abonnement.store.uow import UnitOfWork

from .conftest import Org, World

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


# helpers ----------------------------------------------------------------------------------------
def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def local(moment: datetime) -> date:
    """The day of a moment in the organizations' time zone (the run's days start at midnight)."""
    return moment.astimezone(AMSTERDAM).date()


def move(app: Abonnement, day: date) -> None:
    app.clock.set(at(day))  # type: ignore[attr-defined]


def bill(app: Abonnement, day: date | None = None, **kwargs: Any) -> RunSummary:
    if day is not None:
        move(app, day)
    return app.run(app.operator, billing_run.run, **kwargs)


def sub_of(app: Abonnement, sub_id: int) -> m.Subscription:
    with UnitOfWork(app.engine, read_only=True) as uow:
        sub = uow.subscriptions.get(sub_id)
        assert sub is not None
        uow.session.expunge(sub)
        return sub


def rows(app: Abonnement, model: type[m.Base], **where: Any) -> list[Any]:
    with UnitOfWork(app.engine, read_only=True) as uow:
        query = select(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        found = list(uow.session.scalars(query.order_by(model.id)))  # type: ignore[attr-defined]
        uow.session.expunge_all()
        return found


RUN_EVENTS = {kind.value for kind in lc.EventType}


def run_events(app: Abonnement, **where: Any) -> list[m.Event]:
    """The billing run's events (`lifecycle.Day.emit`, keyed by day), in order. Use cases and
    payments announce themselves too (services/events.py, keyed by their audit record or
    payment), which these tests leave aside."""
    found = rows(app, m.Event, **where)
    return [e for e in found if e.type in RUN_EVENTS and ":audit-" not in e.key]


def events(app: Abonnement, organization_id: int) -> list[str]:
    return [e.type for e in run_events(app, organization_id=organization_id)]


def counts(app: Abonnement) -> dict[str, int]:
    """How many rows of everything the run writes: equal before and after a rerun."""
    with UnitOfWork(app.engine, read_only=True) as uow:
        return {
            model.__tablename__: int(uow.session.scalar(select(func.count()).select_from(model)))
            for model in (
                m.Invoice,
                m.InvoiceLine,
                m.Payment,
                m.LedgerEntry,
                m.Event,
                m.AuditRecord,
                m.DunningCase,
                m.LicenseGrace,
            )
        }


def statement_lines(invoice: Any) -> list[tuple[str, str, str, int, int]]:
    return [
        (ln.kind, ln.start.isoformat(), ln.end.isoformat(), ln.quantity, ln.amount)
        for ln in invoice.lines
    ]


def receivable(app: Abonnement, org: Org) -> int:
    return app.read(app.operator, invoices.balance, org.id).receivable


def ledger_balances(app: Abonnement) -> None:
    """Double entry: every transaction sums to zero."""
    with UnitOfWork(app.engine, read_only=True) as uow:
        unbalanced = uow.session.execute(
            select(m.LedgerEntry.transaction, func.sum(m.LedgerEntry.amount_minor))
            .group_by(m.LedgerEntry.transaction)
            .having(func.sum(m.LedgerEntry.amount_minor) != 0)
        ).all()
    assert unbalanced == []


def set_offer_days(app: Abonnement, code: str, expired_days: int, disabled_days: int) -> None:
    with app.engine.begin() as conn:
        conn.execute(
            update(m.Offer)
            .where(m.Offer.code == code)
            .values(expired_days=expired_days, disabled_days=disabled_days)
        )


def buy(world: World, org: Org, offer: str = "std-monthly", quantity: int = 10) -> int:
    ba = org.admins["billing_admin"]
    return world.app.run(ba, subscriptions.buy, org.id, offer, quantity=quantity).id


def assign(world: World, org: Org, count: int, sku: str = "BUS-STD") -> list[int]:
    people = world.people(org, count)
    world.app.run(org.admins["license_admin"], licensing.assign, org.id, sku, people)
    return people


# renewals ---------------------------------------------------------------------------------------

RENEWAL_DECLINES = "4000000000000341"  # succeeds at purchase, declined at renewal
