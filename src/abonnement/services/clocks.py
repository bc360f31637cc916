"""Test clocks, like Stripe's: an operator attaches one to an organization and moves it forward.

While a clock is attached, every use case for the organization reads its time (`Context.now()`
and `Context.today()` look it up), and the plain billing run leaves the organization alone.
`advance` moves the clock and runs every day due in between, in order, each day in its own
transaction (the clock stands at the last day done, should the advance be stopped). Detaching
returns the organization to the system clock: days the test clock has done are not done again,
so an organization that was moved ahead waits for real time to catch up.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from abonnement.clock import local_date
from abonnement.domain.errors import Code, error
from abonnement.services import billing_run
from abonnement.services.context import Context, invalid
from abonnement.services.schemas import View
from abonnement.store import models as m

#: How far one advance may move a test clock (ten years of days).
MAX_ADVANCE = timedelta(days=3660)


class ClockView(View):
    organization_id: int
    now: datetime
    today: date  # in the organization's time zone
    billed_through: date
    attached: bool = True


class AdvanceView(View):
    clock: ClockView
    days: int  # days the billing run did on the way
    invoices: int
    events: dict[str, int]


def _row(ctx: Context, organization_id: int) -> m.TestClock | None:
    return ctx.uow.session.scalars(
        select(m.TestClock)
        .where(m.TestClock.organization_id == organization_id)
        .execution_options(populate_existing=True)
    ).one_or_none()


def _attached(ctx: Context, organization_id: int) -> m.TestClock:
    row = _row(ctx, organization_id)
    if row is None:
        raise error(Code.NOT_FOUND, entity="test clock", id=organization_id)
    return row


def _view(ctx: Context, org: m.Organization, row: m.TestClock, attached: bool = True) -> ClockView:
    return ClockView(
        organization_id=org.id,
        now=row.now,
        today=local_date(row.now, org.time_zone),
        billed_through=billing_run.cursor_of(ctx, org),
        attached=attached,
    )


def _aware(field: str, value: datetime) -> datetime:
    if value.tzinfo is None:
        raise invalid(field, "give a time zone (e.g. 2026-03-02T09:00:00+00:00)")
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise invalid(field, "give a moment between the years 1 and 9999") from None
    return value


def attach(ctx: Context, organization_id: int, at: datetime | None = None) -> ClockView:
    """Attach a test clock to an organization, at `at` (default: now)."""
    org = ctx.organization(organization_id)  # another organization's: not found (tenancy)
    ctx.require_operator("attach_test_clock")
    if _row(ctx, org.id) is not None:
        raise invalid("organization", "a test clock is attached already; detach it first")
    start = _aware("at", at) if at is not None else ctx.clock.now()
    billed = billing_run.cursor_of(ctx, org)
    if local_date(start, org.time_zone) < billed:
        raise invalid("at", f"the organization is billed through {billed.isoformat()} already")
    row = m.TestClock(organization_id=org.id, now=start, created_at=ctx.clock.now())
    ctx.uow.session.add(row)
    ctx.uow.session.flush()
    ctx.audit("test_clock.attach", "test_clock", row.id, organization_id=org.id, after=_state(row))
    return _view(ctx, org, row)


def _state(row: m.TestClock) -> dict[str, str]:
    return {"now": row.now.isoformat()}


def show(ctx: Context, organization_id: int) -> ClockView:
    org = ctx.organization(organization_id)  # another organization's: not found (tenancy)
    ctx.require_operator("show_test_clock")
    return _view(ctx, org, _attached(ctx, org.id))


def advance(
    ctx: Context,
    organization_id: int,
    *,
    days: int | None = None,
    to: date | datetime | None = None,
) -> AdvanceView:
    """Move the clock forward by whole days or to a moment (a date means its first instant in
    the organization's time zone), running everything due on the way, day by day, in order."""
    org = ctx.organization(organization_id)  # another organization's: not found (tenancy)
    ctx.require_operator("advance_test_clock")
    row = _attached(ctx, org.id)
    if (days is None) == (to is None):
        raise invalid("days", "give either a number of days or a date to move to")
    if days is not None:
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise invalid("days", "use a whole number of days, 0 or more")
        if days > MAX_ADVANCE.days:
            raise invalid("days", f"move a test clock at most {MAX_ADVANCE.days} days at a time")
        target = row.now + timedelta(days=days)
    elif isinstance(to, datetime):
        target = _aware("to", to)
    else:
        assert to is not None
        target = billing_run.moment(to, org.time_zone)
    if target < row.now:
        raise invalid("to", f"a test clock only moves forward; it says {row.now.isoformat()}")
    if target - row.now > MAX_ADVANCE:
        raise invalid("to", f"move a test clock at most {MAX_ADVANCE.days} days at a time")
    before = _state(row)
    tally = billing_run.run_organization(ctx, org.id, target)
    row = _attached(ctx, org.id)
    org = ctx.organization(org.id)
    row.now = target
    ctx.uow.session.flush()
    ctx.audit(
        "test_clock.advance",
        "test_clock",
        row.id,
        organization_id=org.id,
        before=before,
        after=_state(row),
    )
    return AdvanceView(
        clock=_view(ctx, org, row),
        days=tally.days,
        invoices=tally.invoices,
        events=dict(sorted(tally.events.items())),
    )


def current(ctx: Context, organization_id: int) -> ClockView:
    """The clock the organization reads: its test clock, or the system clock (`attached`
    false)."""
    org = ctx.organization(organization_id)
    ctx.require_operator("show_test_clock")
    row = _row(ctx, org.id)
    if row is None:
        now = ctx.clock.now()
        return ClockView(
            organization_id=org.id,
            now=now,
            today=local_date(now, org.time_zone),
            billed_through=billing_run.cursor_of(ctx, org),
            attached=False,
        )
    return _view(ctx, org, row)


def detach(ctx: Context, organization_id: int, *, missing_ok: bool = False) -> ClockView:
    """Detach the clock: the organization is back on the system clock. With `missing_ok`, an
    organization without one is answered with the system clock (detaching twice is no error)."""
    org = ctx.organization(organization_id)  # another organization's: not found (tenancy)
    ctx.require_operator("detach_test_clock")
    if missing_ok and _row(ctx, org.id) is None:
        return current(ctx, org.id)
    row = _attached(ctx, org.id)
    view = _view(ctx, org, row, attached=False)
    ctx.audit("test_clock.detach", "test_clock", row.id, organization_id=org.id, before=_state(row))
    ctx.uow.session.delete(row)
    ctx.uow.session.flush()
    return view
