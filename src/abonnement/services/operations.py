"""What the vendor's operator watches: the organizations with their subscriptions, and what the
billing runs did day by day (events and invoices, and where each organization's cursor
stands). Read-only, operator only."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from abonnement.services.context import Context
from abonnement.services.schemas import View
from abonnement.store import models as m

MAX_DAYS = 90


class OrganizationRow(View):
    id: int
    name: str
    country: str
    currency: str
    created_at: datetime
    subscriptions: int  # not deleted
    licenses: int  # in subscriptions that are active or in trial
    statuses: dict[str, int]  # subscription status -> count (deleted left out)
    open_callbacks: int


def organizations_overview(ctx: Context) -> list[OrganizationRow]:
    """Every organization with its subscriptions counted by status, and its open callbacks."""
    ctx.require_operator("list_organizations")
    session = ctx.uow.session
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    licenses: dict[int, int] = defaultdict(int)
    for org_id, status, number, quantity in session.execute(
        select(
            m.Subscription.organization_id,
            m.Subscription.status,
            func.count(),
            func.coalesce(func.sum(m.Subscription.quantity), 0),
        ).group_by(m.Subscription.organization_id, m.Subscription.status)
    ):
        value = str(getattr(status, "value", status))
        if value == "deleted":
            continue
        counts[org_id][value] = int(number)
        if value in ("active", "trial"):
            licenses[org_id] += int(quantity)
    callbacks = dict(
        session.execute(
            select(m.CallbackRequest.organization_id, func.count())
            .where(m.CallbackRequest.status == "open")
            .group_by(m.CallbackRequest.organization_id)
        ).all()
    )
    return [
        OrganizationRow(
            id=org.id,
            name=org.name,
            country=org.country,
            currency=org.currency,
            created_at=org.created_at,
            subscriptions=sum(counts[org.id].values()),
            licenses=licenses[org.id],
            statuses=dict(sorted(counts[org.id].items())),
            open_callbacks=int(callbacks.get(org.id, 0)),
        )
        for org in ctx.uow.organizations.list()
    ]


class BillingDayView(View):
    day: date
    events: dict[str, int]  # event type -> count
    invoices: int  # invoices and credit notes issued that day
    totals: dict[str, int]  # currency -> sum of their totals, in minor units


class CursorView(View):
    organization_id: int
    organization_name: str
    processed_through: date
    updated_at: datetime


class BillingRunsView(View):
    days: list[BillingDayView]  # newest first
    cursors: list[CursorView]  # most recently moved first


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def billing_runs(ctx: Context, days: int = 14) -> BillingRunsView:
    """The last `days` days that had events or invoices (each organization's own dates: test
    clocks included), and the billing cursors, most recently moved first."""
    ctx.require_operator("read_billing_runs")
    days = max(1, min(days, MAX_DAYS))
    session = ctx.uow.session
    # An event's day is its organization's calendar day (as an invoice's issue date is): the
    # billing run writes a day's events at one moment, so few rows come back per day.
    zones = {
        org_id: ZoneInfo(name)
        for org_id, name in session.execute(select(m.Organization.id, m.Organization.time_zone))
    }
    event_rows = [
        (moment.astimezone(zones.get(org_id, UTC)).date(), kind, number)
        for org_id, kind, moment, number in session.execute(
            select(
                m.Event.organization_id, m.Event.type, m.Event.created_at, func.count()
            ).group_by(m.Event.organization_id, m.Event.type, m.Event.created_at)
        )
    ]
    invoice_rows = session.execute(
        select(
            m.Invoice.issue_date, m.Invoice.currency, func.count(), func.sum(m.Invoice.total_minor)
        ).group_by(m.Invoice.issue_date, m.Invoice.currency)
    ).all()
    events: dict[date, dict[str, int]] = defaultdict(dict)
    issued: dict[date, int] = defaultdict(int)
    totals: dict[date, dict[str, int]] = defaultdict(dict)
    for day, kind, number in event_rows:
        events[day][kind] = events[day].get(kind, 0) + int(number)
    for value, currency, number, total in invoice_rows:
        day = _as_date(value)
        issued[day] += int(number)
        totals[day][currency] = totals[day].get(currency, 0) + int(total or 0)
    newest = [
        BillingDayView(
            day=day,
            events=dict(sorted(events[day].items())),
            invoices=issued[day],
            totals=dict(sorted(totals[day].items())),
        )
        for day in sorted(set(events) | set(issued), reverse=True)[:days]
    ]
    cursors = [
        CursorView(
            organization_id=cursor.organization_id,
            organization_name=name,
            processed_through=cursor.processed_through,
            updated_at=cursor.updated_at,
        )
        for cursor, name in session.execute(
            select(m.BillingCursor, m.Organization.name)
            .join(m.Organization, m.Organization.id == m.BillingCursor.organization_id)
            .order_by(m.BillingCursor.updated_at.desc(), m.BillingCursor.organization_id)
            .limit(50)
        )
    ]
    return BillingRunsView(days=newest, cursors=cursors)
