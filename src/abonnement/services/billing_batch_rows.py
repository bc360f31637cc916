"""The billing batch's reads: the locked rows of a batch of organizations, as plain values.

`billing_batch` bills the common day of many organizations at once; this module reads what those
days need with a few set-based queries for the whole batch (organizations and subscriptions
locked in id order, cursors, accounts, payment methods, balances, billing plans and the lines
already issued), and turns the rows into values without the ORM. Values that many rows share
(an amount in a currency, a period, a line kind) are made once per batch.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Table,
    TypeDecorator,
    Unicode,
    any_,
    bindparam,
    column,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from abonnement.domain import invoicing as inv
from abonnement.domain.catalog import PurchaseChannel
from abonnement.domain.currencies import Currency, currency
from abonnement.domain.money import Money
from abonnement.domain.periods import Frequency, Period
from abonnement.domain.subscriptions import Status
from abonnement.store import models as m
from abonnement.store.db import json_text

IN_LIST = 900  # ids per IN (...) list, under every database's parameter limit


@dataclass(frozen=True, slots=True)
class Offer:
    code: str
    name: str
    term: Frequency
    billing_frequency: Frequency
    expired_days: int
    disabled_days: int
    prices: dict[str, int]


@dataclass(slots=True)
class Sub:
    """A locked subscription row, as plain values."""

    id: int
    organization_id: int
    offer: Offer
    status: Status
    channel: PurchaseChannel
    currency: str
    quantity: int
    prepaid_quantity: int
    recurring_billing: bool
    credit_check_pending: bool
    term_start: date
    term_end: date
    pending_quantity: int | None
    pending_effective: date | None
    status_changed_at: datetime
    plan: inv.BillingPlan | None = None
    issued: list[inv.Line] = field(default_factory=list)
    open_segment: tuple[int, date] | None = None  # the running segment's id and start

    def snapshot(self) -> dict[str, Any]:
        """`context.snapshot`: the audit view of a subscription."""
        return {
            "status": self.status.value,
            "channel": self.channel.value,
            "offer": self.offer.code,
            "quantity": self.quantity,
            "prepaid_quantity": self.prepaid_quantity,
            "recurring_billing": self.recurring_billing,
            "credit_check_pending": self.credit_check_pending,
            "term_start": self.term_start.isoformat(),
            "term_end": self.term_end.isoformat(),
            "pending_quantity": self.pending_quantity,
            "pending_effective": (
                self.pending_effective.isoformat() if self.pending_effective else None
            ),
        }


@dataclass(slots=True)
class Org:
    id: int
    name: str
    country: str
    time_zone: str
    created_at: datetime
    cursor: date | None = None
    subs: list[Sub] = field(default_factory=list)
    account: Any = None  # billing_accounts row
    receivable: int = 0
    methods: list[Any] = field(default_factory=list)  # payment_methods rows, default first
    busy: bool = False  # dunning, grace or a test clock: the one-by-one path's


def table_of(model: type[m.Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + IN_LIST] for i in range(0, len(ids), IN_LIST)]


def _offers(session: Session) -> dict[int, Offer]:
    prices: dict[int, dict[str, int]] = defaultdict(dict)
    for row in session.execute(select(table_of(m.OfferPrice))):
        prices[row.offer_id][row.currency] = row.amount_minor
    return {
        o.id: Offer(
            o.code,
            o.name,
            Frequency(o.term),
            Frequency(o.billing_frequency),
            o.expired_days,
            o.disabled_days,
            prices[o.id],
        )
        for o in session.execute(select(table_of(m.Offer)))
    }


def load(session: Session, ids: list[int]) -> dict[int, Org]:
    """Lock the organizations and their subscriptions (id order), and read what their next day
    needs, a few queries for the whole batch. (SQLite has no row locks: there the batch reads
    in a snapshot of its own and checks, once it holds the write lock, that nothing it read has
    changed since: `billing_batch`.)"""
    offers = _offers(session)
    q = _queries(session.get_bind().dialect.name)
    orgs: dict[int, Org] = {}
    for chunk in chunks(ids):
        for row in session.execute(q.organizations, {"ids": chunk}):
            orgs[row.id] = Org(row.id, row.name, row.country, row.time_zone, row.created_at)
    subs: dict[int, Sub] = {}
    for chunk in chunks(ids):
        # positional, in `_SUB_COLUMNS` order: a row's attributes by name cost more than the
        # rest of making the value
        for (
            sub_id,
            org_id,
            offer_id,
            status,
            channel,
            *values,
        ) in session.execute(q.subscriptions, {"ids": chunk}).all():
            sub = Sub(
                sub_id,
                org_id,
                offers[offer_id],
                _STATUSES[status],
                _CHANNELS[channel],
                *values,
            )
            subs[sub_id] = sub
            orgs[org_id].subs.append(sub)
    for chunk in chunks(ids):
        params = {"ids": chunk}
        for cursor_row in session.execute(q.cursors, params):
            orgs[cursor_row.organization_id].cursor = cursor_row.processed_through
        for busy in q.busy:  # dunning, a grace period, a test clock
            for org_id in session.scalars(busy, params):
                orgs[org_id].busy = True
        for row in session.execute(q.accounts, params):
            orgs[row.organization_id].account = row
        for row in session.execute(q.methods, params):
            orgs[row.organization_id].methods.append(row)
    accounts = {o.account.id: o for o in orgs.values() if o.account is not None}
    for chunk in chunks(list(accounts)):
        for account_id, total in session.execute(q.receivables, {"ids": chunk}):
            accounts[account_id].receivable = int(total or 0)
    load_plans(session, subs)
    return orgs


@dataclass(frozen=True)
class _Queries:
    """The batch's reads, each built once with its ids as one parameter (`_queries`): compiled
    once and cached by the engine, whatever the batch."""

    organizations: Any
    subscriptions: Any
    cursors: Any
    busy: tuple[Any, ...]
    accounts: Any
    methods: Any
    receivables: Any
    segments: Any
    lines: Any


class _IdList(TypeDecorator[list[int]]):
    """SQLite: a list of ids bound as one JSON array, read back with `json_each`."""

    impl = Unicode
    cache_ok = True

    def process_bind_param(self, value: list[int] | None, dialect: Any) -> str | None:
        return json_text(value) if value is not None else None


@functools.cache
def _queries(dialect: str) -> _Queries:
    """The ids are one parameter, so each statement's text is the same whatever the batch and
    the driver parses it once, not a list of hundreds of placeholders on every call: an array
    on PostgreSQL (`= ANY(:ids)`), a JSON array on SQLite (`IN (SELECT value FROM
    json_each(:ids))`)."""
    if dialect == "postgresql":
        array: Any = bindparam("ids", type_=ARRAY(BigInteger))

        def within(key: Any) -> Any:
            return key == any_(array)

    else:
        listed: Any = select(column("value")).select_from(
            func.json_each(bindparam("ids", type_=_IdList()))
        )

        def within(key: Any) -> Any:
            return key.in_(listed.scalar_subquery())

    o = table_of(m.Organization)
    s = table_of(m.Subscription)
    a = table_of(m.BillingAccount)
    p = table_of(m.PaymentMethod)
    le = table_of(m.LedgerEntry)
    seg = table_of(m.BillingSegment)
    line = table_of(m.InvoiceLine)
    c = m.BillingCursor
    return _Queries(
        organizations=select(o.c.id, o.c.name, o.c.country, o.c.time_zone, o.c.created_at)
        .where(within(o.c.id))
        .order_by(o.c.id)
        .with_for_update(),
        subscriptions=select(
            *(s.c[name] for name in _SUB_COLUMNS),
        )
        .where(within(s.c.organization_id))
        .order_by(s.c.id)
        .with_for_update(),
        cursors=select(c.organization_id, c.processed_through).where(within(c.organization_id)),
        busy=(
            *(
                select(model.organization_id).where(
                    within(model.organization_id), model.status == "open"
                )
                for model in (m.DunningCase, m.LicenseGrace)
            ),
            select(m.TestClock.organization_id).where(within(m.TestClock.organization_id)),
        ),
        accounts=select(
            a.c.id,
            a.c.organization_id,
            a.c.currency,
            a.c.country,
            a.c.tax_rate_bp,
            a.c.payment_terms_days,
            a.c.bill_to_name,
            a.c.bill_to_address,
        ).where(within(a.c.organization_id)),
        methods=select(p.c.id, p.c.organization_id, p.c.kind, p.c.processor, p.c.processor_token)
        .where(within(p.c.organization_id), p.c.removed_at.is_(None))
        .order_by(p.c.organization_id, p.c.is_default.desc(), p.c.id.desc()),
        receivables=select(le.c.billing_account_id, func.sum(le.c.amount_minor))
        .where(within(le.c.billing_account_id), le.c.account == "receivable")
        .group_by(le.c.billing_account_id),
        segments=select(seg.c.id, seg.c.subscription_id, seg.c.start, seg.c.end, seg.c.quantity)
        .add_columns(seg.c.unit_price_minor)
        .where(within(seg.c.subscription_id))
        .order_by(seg.c.subscription_id, seg.c.start, seg.c.id),
        lines=select(
            line.c.id,
            line.c.subscription_id,
            line.c.kind,
            line.c.period_start,
            line.c.period_end,
            line.c.start,
            line.c.end,
            line.c.quantity,
            line.c.unit_price_minor,
            line.c.amount_minor,
            line.c.reverses_id,
        )
        .where(within(line.c.subscription_id))
        .order_by(line.c.id),
    )


#: The columns of a subscription the batch reads (`Sub`).
_SUB_COLUMNS = (
    "id",
    "organization_id",
    "offer_id",
    "status",
    "channel",
    "currency",
    "quantity",
    "prepaid_quantity",
    "recurring_billing",
    "credit_check_pending",
    "term_start",
    "term_end",
    "pending_quantity",
    "pending_effective",
    "status_changed_at",
)


def load_plans(session: Session, subs: dict[int, Sub]) -> None:
    """`billing.plan` and `billing.issued_lines` for every subscription of the batch."""
    segments: dict[int, list[Any]] = defaultdict(list)
    lines: dict[int, list[Any]] = defaultdict(list)
    q = _queries(session.get_bind().dialect.name)
    for chunk in chunks(list(subs)):
        # rows by position (`_Queries.segments`, `.lines`): cheaper than by name, many times
        for row in session.execute(q.segments, {"ids": chunk}).all():
            segments[row[1]].append(row)
        for row in session.execute(q.lines, {"ids": chunk}).all():
            lines[row[1]].append(row)
    values = _Values()
    money, period, kinds = values.money, values.period, _KINDS
    segment, line = inv.Segment, inv.Line  # the classes, bound once
    for sub in subs.values():
        cur = currency(sub.currency)
        sub_id = sub.id
        rows = segments.get(sub_id, ())
        open_segment = None
        plan: list[inv.Segment] = []
        for seg_id, _sub, start, end, quantity, price in rows:
            plan.append(segment(start, end, quantity, money(price, cur)))
            if end is None and open_segment is None:
                open_segment = (seg_id, start)
        anchor = min(rows[0][2], sub.term_start) if rows else sub.term_start
        sub.plan = inv.BillingPlan(sub_id, anchor, sub.offer.billing_frequency, tuple(plan))
        sub.open_segment = open_segment
        sub.issued = [
            line(
                sub_id,
                kinds[kind],
                period(period_start, period_end),
                start,
                end,
                quantity,
                money(unit_price, cur),
                money(amount, cur),
                line_id,
                reverses,
            )
            for (
                line_id,
                _sub,
                kind,
                period_start,
                period_end,
                start,
                end,
                quantity,
                unit_price,
                amount,
                reverses,
            ) in lines.get(sub_id, ())
        ]


_KINDS = {kind.value: kind for kind in inv.LineKind}
_STATUSES = {status.value: status for status in Status}
_CHANNELS = {channel.value: channel for channel in PurchaseChannel}


class _Values:
    """The immutable values a batch's rows share (prices, periods), each made once."""

    def __init__(self) -> None:
        self._money: dict[tuple[int, Currency], Money] = {}
        self._periods: dict[tuple[date, date], Period] = {}

    def money(self, minor: int, cur: Currency) -> Money:
        found = self._money.get((minor, cur))
        if found is None:
            found = self._money[(minor, cur)] = Money(minor, cur)
        return found

    def period(self, start: date, end: date) -> Period:
        found = self._periods.get((start, end))
        if found is None:
            found = self._periods[(start, end)] = Period(start, end)
        return found
