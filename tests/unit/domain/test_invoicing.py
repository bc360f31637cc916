"""Invoice lines computed from the billing plan (R6, R7, R11, R12), with hand-checked numbers."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from abonnement.domain.invoicing import (
    BillingPlan,
    Line,
    LineKind,
    Segment,
    generate,
    immediate_charge,
    live,
)
from abonnement.domain.money import Money
from abonnement.domain.periods import Frequency, period_containing

EUR_1250 = Money.of(1250, "EUR")


def plan(
    *segments: tuple[date, date | None, int],
    frequency: Frequency = Frequency.MONTHLY,
    price: Money = EUR_1250,
    anchor: date | None = None,
) -> BillingPlan:
    return BillingPlan(
        subscription_id=1,
        anchor=anchor or segments[0][0],
        frequency=frequency,
        segments=tuple(Segment(s, e, q, price) for s, e, q in segments),
    )


def issue(lines: list[Line], issued: list[Line]) -> list[Line]:
    """Give new lines ids, as storing them would."""
    start = max((line.ref or 0 for line in issued), default=0)
    return [
        Line(**{**{f: getattr(line, f) for f in Line.__dataclass_fields__}, "ref": start + i + 1})
        for i, line in enumerate(lines)
    ]


def test_r7_100_to_105_reverses_the_original_and_charges_days_at_each_quantity() -> None:
    """Seed 002: 100 licenses from Mar 1, five more bought on Mar 11 (21 of 31 days left)."""
    before = plan((date(2026, 3, 1), None, 100))
    issued = issue(generate(before, date(2026, 3, 1), []), [])
    assert [(ln.quantity, ln.amount.minor) for ln in issued] == [(100, 125000)]  # 100 × €12.50

    after = plan((date(2026, 3, 1), date(2026, 3, 11), 100), (date(2026, 3, 11), None, 105))
    now = immediate_charge(after, date(2026, 3, 11), 5)  # R6: charged at once
    assert (now.quantity, now.days, now.amount.minor) == (5, 21, 4234)  # 5 × 1250 × 21/31
    issued += issue([now], issued)

    statement = generate(after, date(2026, 4, 1), issued)
    shape = [
        (ln.kind.value, ln.start.day, ln.end.isoformat(), ln.quantity, ln.amount.minor)
        for ln in statement
    ]
    assert shape == [
        ("reversal", 1, "2026-04-01", 100, -125000),
        ("reversal", 11, "2026-04-01", 5, -4234),
        ("charge", 1, "2026-03-11", 100, 40323),  # 100 × 1250 × 10/31 = 40322.58
        ("charge", 11, "2026-04-01", 105, 88911),  # 105 × 1250 × 21/31 = 88911.29
        ("charge", 1, "2026-05-01", 105, 131250),  # April, in advance
    ]
    march = [ln for ln in statement if ln.period.start == date(2026, 3, 1)]
    assert sum(ln.amount.minor for ln in march) == 0  # the immediate charge already paid for it


def test_r12_100_to_95_credits_the_unused_time_on_the_next_bill() -> None:
    before = plan((date(2026, 3, 1), None, 100))
    issued = issue(generate(before, date(2026, 3, 1), []), [])
    after = plan((date(2026, 3, 1), date(2026, 3, 11), 100), (date(2026, 3, 11), None, 95))
    march = [ln for ln in generate(after, date(2026, 3, 31), issued)]
    # 100 × 10/31 + 95 × 21/31 − 100 = −5 × 21/31 licenses-months = −€33.87
    assert sum(ln.amount.minor for ln in march) == 40323 + 80444 - 125000 == -4233
    assert [ln.kind for ln in march] == [LineKind.REVERSAL, LineKind.CHARGE, LineKind.CHARGE]


def test_r11_cancelling_reverses_the_period_and_charges_the_days_used() -> None:
    before = plan((date(2026, 3, 1), None, 10))
    issued = issue(generate(before, date(2026, 3, 1), []), [])
    cancelled = plan((date(2026, 3, 1), date(2026, 3, 16), 10))  # 15 days used of 31
    final = generate(cancelled, date(2026, 3, 16), issued)
    assert [(ln.kind.value, ln.amount.minor) for ln in final] == [
        ("reversal", -12500),
        ("charge", 6048),  # 10 × 1250 × 15/31 = 6048.39
    ]
    assert generate(cancelled, date(2026, 6, 1), issued + issue(final, issued)) == []


def test_annual_billing_charges_the_year_and_a_mid_term_change_within_a_month() -> None:
    """R7 on annual billing: the change is on the statement of the next monthly run."""
    year = Money.of(15000, "EUR")
    before = plan((date(2026, 1, 31), None, 10), frequency=Frequency.ANNUAL, price=year)
    issued = issue(generate(before, date(2026, 1, 31), []), [])
    assert [(ln.end, ln.amount.minor) for ln in issued] == [(date(2027, 1, 31), 150000)]
    after = plan(
        (date(2026, 1, 31), date(2026, 7, 1), 10),
        (date(2026, 7, 1), None, 12),
        frequency=Frequency.ANNUAL,
        price=year,
    )
    statement = generate(after, date(2026, 7, 31), issued)
    # 10 × 15000 × 151/365 + 12 × 15000 × 214/365 − 150000
    assert sum(ln.amount.minor for ln in statement) == 62055 + 105534 - 150000


def test_month_end_anchor_bills_feb_28_then_mar_31() -> None:
    lines = generate(plan((date(2026, 1, 31), None, 1)), date(2026, 3, 31), [])
    assert [(ln.start, ln.end) for ln in lines] == [
        (date(2026, 1, 31), date(2026, 2, 28)),
        (date(2026, 2, 28), date(2026, 3, 31)),
        (date(2026, 3, 31), date(2026, 4, 30)),
    ]


def test_nothing_issued_twice() -> None:
    p = plan((date(2026, 3, 1), None, 3))
    issued = issue(generate(p, date(2026, 5, 1), []), [])
    assert len(issued) == 3
    assert generate(p, date(2026, 5, 1), issued) == []
    assert len(generate(p, date(2026, 6, 1), issued)) == 1


# properties --------------------------------------------------------------------------------------
changes = st.lists(
    st.tuples(st.integers(min_value=1, max_value=400), st.integers(min_value=0, max_value=500)),
    max_size=8,
)


@settings(max_examples=1000, deadline=None)
@given(
    anchor=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    initial=st.integers(min_value=1, max_value=500),
    steps=changes,
    price=st.integers(min_value=0, max_value=10**6),
    code=st.sampled_from(["EUR", "JPY", "KWD"]),
    frequency=st.sampled_from(list(Frequency)),
    run_every=st.integers(min_value=1, max_value=45),
)
def test_r7_charged_equals_license_days_times_daily_rate_within_a_unit_per_line(
    anchor: date,
    initial: int,
    steps: list[tuple[int, int]],
    price: int,
    code: str,
    frequency: Frequency,
    run_every: int,
) -> None:
    """Bill repeatedly while the quantity changes: what stays charged per period equals the
    license-days used × the daily rate within one minor unit per line, and every reversal
    cancels exactly one earlier charge."""
    unit = Money.of(price, code)
    days = sorted({d for d, _ in steps})
    quantities = dict(steps)
    segments: list[tuple[date, date | None, int]] = []
    start, quantity = anchor, initial
    for offset in days:
        day = anchor + timedelta(days=offset)
        segments.append((start, day, quantity))
        start, quantity = day, quantities[offset]
    segments.append((start, None, quantity))

    def plan_as_of(today: date) -> BillingPlan:
        # the plan as it was known on `today`: changes after it haven't happened yet
        known = [
            (s, e if e is not None and e <= today else None, q)
            for s, e, q in segments
            if s <= today
        ]
        return plan(*known, price=unit, frequency=frequency, anchor=anchor)

    issued: list[Line] = []
    horizon = anchor + timedelta(days=430)
    today = anchor
    while today <= horizon:
        issued += issue(generate(plan_as_of(today), today, issued), issued)
        today += timedelta(days=run_every)
    final = plan_as_of(horizon)
    issued += issue(generate(final, horizon, issued), issued)
    assert generate(final, horizon, issued) == []

    reversed_refs = [ln.reverses for ln in issued if ln.kind is LineKind.REVERSAL]
    assert len(reversed_refs) == len(set(reversed_refs))
    by_ref = {ln.ref: ln for ln in issued}
    for line in issued:
        if line.kind is LineKind.REVERSAL:
            assert by_ref[line.reverses].amount == -line.amount

    for period in final.periods_through(horizon):
        charged = [ln for ln in live(issued) if ln.period == period]
        exact = sum(
            (Decimal(price) * ln.quantity * ln.days / Decimal(period.days) for ln in charged),
            Decimal(0),
        )
        in_period = [ln for ln in issued if ln.period == period]
        total = sum(ln.amount.minor for ln in in_period)
        seat_days = sum(
            Decimal(price)
            * q
            * ((min(e or period.end, period.end) - max(s, period.start)).days)
            / Decimal(period.days)
            for s, e, q in final_segments(final)
            if max(s, period.start) < min(e or period.end, period.end)
        )
        assert exact == seat_days
        assert abs(total - seat_days) <= max(len(charged), 1)
    assert period_containing(anchor, frequency, anchor).start == anchor


def final_segments(p: BillingPlan) -> list[tuple[date, date | None, int]]:
    return [(s.start, s.end, s.quantity) for s in p.segments]


def test_an_earlier_as_of_date_never_takes_back_a_billed_period() -> None:
    p = plan((date(2026, 3, 1), None, 3))
    issued = issue(generate(p, date(2026, 5, 1), []), [])
    assert generate(p, date(2026, 3, 15), issued) == []


# the generator's shortcuts give what the plain definition gives ---------------------------------
def reference_generate(p: BillingPlan, as_of: date, issued: list[Line]) -> list[Line]:
    """`generate` as first written: every proposed charge priced, then matched by shape."""
    from collections import Counter

    from abonnement.domain.invoicing import proposed, reversal_of
    from abonnement.domain.periods import nth_period

    current = live(line for line in issued if line.subscription_id == p.subscription_id)
    by_period: dict[date, list[Line]] = {}
    for line in current:
        by_period.setdefault(line.period.start, []).append(line)
    horizon = max([as_of, *by_period])
    billed = {}
    if p.segments and horizon >= p.segments[0].start:
        first = period_containing.__wrapped__(p.anchor, p.frequency, p.segments[0].start)
        index = 0
        while True:
            period = nth_period.__wrapped__(first.start, p.frequency, index)
            if period.start > horizon or (p.service_end and period.start >= p.service_end):
                break
            billed[period.start] = period
            index += 1
    periods = dict(billed)
    for start, lines in by_period.items():
        periods.setdefault(start, lines[0].period)
    result: list[Line] = []
    for start in sorted(periods):
        wanted = proposed(p, periods[start]) if start in billed else []
        have = sorted(by_period.get(start, []), key=lambda line: (line.start, line.ref or 0))
        unmatched = Counter(line.shape for line in wanted)
        for line in have:
            if unmatched[line.shape] > 0:
                unmatched[line.shape] -= 1
            else:
                result.append(reversal_of(line))
        for line in wanted:
            if unmatched[line.shape] > 0:
                unmatched[line.shape] -= 1
                result.append(line)
    return result


@settings(max_examples=200, deadline=None)
@given(
    anchor=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    initial=st.integers(min_value=0, max_value=500),
    steps=changes,
    price=st.integers(min_value=0, max_value=10**6),
    frequency=st.sampled_from(list(Frequency)),
    run_every=st.integers(min_value=1, max_value=45),
    gap=st.one_of(st.none(), st.integers(min_value=1, max_value=120)),
    end_after=st.one_of(st.none(), st.integers(min_value=1, max_value=450)),
    early=st.integers(min_value=0, max_value=60),
)
def test_the_generator_gives_what_its_plain_definition_gives(
    anchor: date,
    initial: int,
    steps: list[tuple[int, int]],
    price: int,
    frequency: Frequency,
    run_every: int,
    gap: int | None,
    end_after: int | None,
    early: int,
) -> None:
    """The cached periods and the charges matched by shape before they are priced change
    nothing: on histories with changes, a gap in service, an end and runs on earlier days
    (a period once billed stays billed), both give the same lines in the same order."""
    unit = Money.of(price, "NOK")
    segments: list[tuple[date, date | None, int]] = []
    start, quantity = anchor, initial
    for offset, new in sorted(dict(steps).items()):
        day = anchor + timedelta(days=offset)
        if day <= start:
            continue
        segments.append((start, day, quantity))
        start, quantity = day, new
        if gap is not None and offset > 200:  # ended, then reactivated after the gap
            start = day + timedelta(days=gap)
            gap = None
    end = anchor + timedelta(days=end_after) if end_after is not None else None
    if end is not None and end > start:
        segments.append((start, end, quantity))
    elif end is None:
        segments.append((start, None, quantity))
    full = plan(*segments, price=unit, frequency=frequency, anchor=anchor)
    issued: list[Line] = []
    today = anchor
    while today <= anchor + timedelta(days=470):
        known = tuple(s for s in full.segments if s.start <= today)
        if known:
            last = known[-1]
            if last.end is not None and last.end > today:
                known = (*known[:-1], Segment(last.start, None, last.quantity, last.unit_price))
        p = BillingPlan(1, anchor, frequency, known)
        as_of = today - timedelta(days=early) if early and today > anchor else today
        new = generate(p, as_of, issued)
        assert new == reference_generate(p, as_of, issued)
        issued += issue(new, issued)
        today += timedelta(days=run_every)
    assert generate(full, today, issued) == reference_generate(full, today, issued)


def test_periods_are_counted_from_the_anchor_when_the_service_starts_in_a_clamped_period() -> None:
    """An anchor of Jan 31 gives Feb 28 and then Mar 31 again, also for a plan whose first
    segment starts inside the clamped period (after a gap, say): never Mar 28."""
    price = Money.of(1000, "EUR")
    plan = BillingPlan(
        1,
        date(2026, 1, 31),
        Frequency.MONTHLY,
        (Segment(date(2026, 3, 5), None, 1, price),),
    )
    periods = plan.periods_through(date(2026, 4, 1))
    assert [(p.start, p.end) for p in periods] == [
        (date(2026, 2, 28), date(2026, 3, 31)),
        (date(2026, 3, 31), date(2026, 4, 30)),
    ]
