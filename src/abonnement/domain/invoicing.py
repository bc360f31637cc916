"""Invoice lines are computed, not assembled by hand.

The lines a subscription should have been charged are a function of its billing plan (which
quantity at which unit price on which days), the as-of date, and the lines already issued. The
generator proposes, per billing period, one charge per run of days at one quantity; where the
issued lines of a period differ from that proposal, the ones that no longer hold are reversed
(never edited) and the missing ones charged. That is the statement R7 describes: the previous
charge for the original quantity reversed, a prorated charge for the days at the original quantity,
and a charge for the new quantity for the rest of the period. Removing licenses (R12) and
cancelling (R11) produce the same shape, with a net credit.

Billing is in advance: on an as-of date, every period that has started is charged.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from abonnement.domain.money import Money
from abonnement.domain.periods import Frequency, Period, nth_period, period_containing, period_index
from abonnement.domain.proration import prorate


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of days [start, end) at one quantity and unit price (price per license per
    billing period). `end=None` means the subscription goes on."""

    start: date
    end: date | None
    quantity: int
    unit_price: Money

    def __post_init__(self) -> None:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"segment ends before it starts: {self.start} .. {self.end}")
        if self.quantity < 0:
            raise ValueError("quantity cannot be negative")


@dataclass(frozen=True, slots=True)
class BillingPlan:
    """What a subscription is, day by day, for billing: segments in order on one anchor. Days
    between segments (a subscription ended, then reactivated) have no service."""

    subscription_id: int
    anchor: date
    frequency: Frequency
    segments: tuple[Segment, ...]

    def __post_init__(self) -> None:
        for before, after in zip(self.segments, self.segments[1:], strict=False):
            if before.end is None or before.end > after.start:
                raise ValueError("segments must be in order and must not overlap")
        if self.segments and self.segments[0].start < self.anchor:
            raise ValueError("a plan cannot start before its anchor")
        currencies = {s.unit_price.currency for s in self.segments}
        if len(currencies) > 1:
            raise ValueError("a plan bills in one currency")

    @property
    def service_end(self) -> date | None:
        return self.segments[-1].end if self.segments else None

    def periods_through(self, as_of: date) -> list[Period]:
        """Every billing period that has started by `as_of` and overlaps the service."""
        if not self.segments or as_of < self.segments[0].start:
            return []
        return list(
            _periods_through(
                self.anchor, self.frequency, self.segments[0].start, self.service_end, as_of
            )
        )


@functools.lru_cache(maxsize=1 << 16)
def _periods_through(
    anchor: date, frequency: Frequency, first_day: date, service_end: date | None, as_of: date
) -> tuple[Period, ...]:
    """`BillingPlan.periods_through`, on the values it depends on (cached: the subscriptions
    that renew on a day share a few anchors)."""
    # Counted from the anchor, never from a clamped start: Jan 31 gives Feb 28, then Mar 31.
    index = period_index(anchor, frequency, first_day)
    periods: list[Period] = []
    while True:
        period = nth_period(anchor, frequency, index)
        if period.start > as_of:
            break
        if service_end is not None and period.start >= service_end:
            break
        periods.append(period)
        index += 1
    return tuple(periods)


class LineKind(StrEnum):
    CHARGE = "charge"
    REVERSAL = "reversal"


@dataclass(frozen=True, slots=True)
class Line:
    """One invoice line: quantity × unit price × days / days in the period, rounded once.

    Reversals repeat the line they reverse with the opposite amount and name it in `reverses`.
    `ref` identifies an issued line (its id in storage); proposed lines have none yet.
    """

    subscription_id: int
    kind: LineKind
    period: Period
    start: date
    end: date
    quantity: int
    unit_price: Money
    amount: Money
    ref: int | None = None
    reverses: int | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def shape(self) -> tuple[date, date, date, int, int]:
        """What a charge is for, regardless of when it was issued."""
        return (self.period.start, self.start, self.end, self.quantity, self.unit_price.minor)


def charge(
    subscription_id: int, period: Period, start: date, end: date, quantity: int, unit_price: Money
) -> Line:
    days = (end - start).days
    return Line(
        subscription_id=subscription_id,
        kind=LineKind.CHARGE,
        period=period,
        start=start,
        end=end,
        quantity=quantity,
        unit_price=unit_price,
        amount=prorate(unit_price, quantity, days, period.days),
    )


def reversal_of(line: Line) -> Line:
    if line.kind is not LineKind.CHARGE or line.ref is None:
        raise ValueError("only an issued charge can be reversed")
    return Line(
        subscription_id=line.subscription_id,
        kind=LineKind.REVERSAL,
        period=line.period,
        start=line.start,
        end=line.end,
        quantity=line.quantity,
        unit_price=line.unit_price,
        amount=-line.amount,
        reverses=line.ref,
    )


def proposed(plan: BillingPlan, period: Period) -> list[Line]:
    """The charges a period should carry: one per segment's days inside it, licenses > 0."""
    lines = []
    for segment in plan.segments:
        start = max(segment.start, period.start)
        end = period.end if segment.end is None else min(segment.end, period.end)
        if start < end and segment.quantity > 0:
            lines.append(
                charge(
                    plan.subscription_id, period, start, end, segment.quantity, segment.unit_price
                )
            )
    return lines


def live(lines: Iterable[Line]) -> list[Line]:
    """Issued charges that no reversal has cancelled."""
    issued = list(lines)
    reversed_refs = {line.reverses for line in issued if line.kind is LineKind.REVERSAL}
    return [
        line for line in issued if line.kind is LineKind.CHARGE and line.ref not in reversed_refs
    ]


def generate(plan: BillingPlan, as_of: date, issued: Sequence[Line]) -> list[Line]:
    """The new lines that bring a subscription's invoices in line with its plan as of a date.

    Issued charges that still hold are kept; the rest are reversed and the missing charges
    added. Running it again with its own output added to `issued` yields nothing (idempotent).
    """
    sid = plan.subscription_id
    mine = [line for line in issued if line.subscription_id == sid]
    current = live(mine)
    by_period: dict[date, list[Line]] = {}
    for line in current:
        by_period.setdefault(line.period.start, []).append(line)
    # A period once billed stays billed: an earlier as-of date never takes it back.
    horizon = max(as_of, *by_period) if by_period else as_of
    billed = {p.start: p for p in plan.periods_through(horizon)}
    periods = dict(billed)
    # Periods already charged but no longer in the plan (e.g. after a cancellation) are
    # proposed empty, so their charges are reversed.
    for start, lines in by_period.items():
        periods.setdefault(start, lines[0].period)
    result: list[Line] = []
    for start in sorted(periods):
        period = periods[start]
        # The charges the period should carry, as shapes first: a charge that is already
        # issued is kept without working out its amount again (`proposed`, unrounded).
        wanted = _wanted(plan, period) if start in billed else []
        have = by_period.get(start, [])
        if len(have) > 1:
            have = sorted(have, key=lambda line: (line.start, line.ref or 0))
        unmatched: dict[tuple[date, date, date, int, int], int] = {}
        for shape, _segment in wanted:
            unmatched[shape] = unmatched.get(shape, 0) + 1
        for line in have:
            shape = line.shape
            if unmatched.get(shape, 0) > 0:
                unmatched[shape] -= 1  # still holds: keep it
            else:
                result.append(reversal_of(line))
        for shape, segment in wanted:
            if unmatched[shape] > 0:
                unmatched[shape] -= 1
                _p, day, end, quantity, _price = shape
                result.append(charge(sid, period, day, end, quantity, segment.unit_price))
    return result


def _wanted(
    plan: BillingPlan, period: Period
) -> list[tuple[tuple[date, date, date, int, int], Segment]]:
    """`proposed(plan, period)` as (`Line.shape`, segment) pairs, in the same order."""
    wanted = []
    for segment in plan.segments:
        start = max(segment.start, period.start)
        end = period.end if segment.end is None else min(segment.end, period.end)
        if start < end and segment.quantity > 0:
            shape = (period.start, start, end, segment.quantity, segment.unit_price.minor)
            wanted.append((shape, segment))
    return wanted


def immediate_charge(plan: BillingPlan, change_day: date, added: int) -> Line:
    """R6: licenses bought mid-period are charged at once for the rest of the period."""
    if added <= 0:
        raise ValueError("an immediate charge is for licenses added")
    segment = next(
        s for s in plan.segments if s.start <= change_day and (s.end is None or change_day < s.end)
    )
    period = period_containing(plan.anchor, plan.frequency, change_day)
    end = period.end if plan.service_end is None else min(period.end, plan.service_end)
    return charge(plan.subscription_id, period, change_day, end, added, segment.unit_price)


def prorated_return(plan: BillingPlan, change_day: date, removed: int) -> Money:
    """What removing licenses on a day gives back for the rest of its period (before rounding
    of the statement that books it): the exact figure a preview shows."""
    segment = next(
        s for s in plan.segments if s.start <= change_day and (s.end is None or change_day < s.end)
    )
    period = period_containing(plan.anchor, plan.frequency, change_day)
    return prorate(segment.unit_price, removed, (period.end - change_day).days, period.days)
