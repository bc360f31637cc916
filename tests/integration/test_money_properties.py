"""Money invariants over random sequences of purchases, changes, switches, cancellations and
dates, through the real services on both databases."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from abonnement.domain.errors import AbonnementError
from abonnement.domain.periods import Period
from abonnement.services import billing, cancellation, invoices, subscriptions
from abonnement.store import models as m
from abonnement.store.uow import UnitOfWork

from .conftest import World

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# CI runs 300 random sequences on each database (600 in all, each of up to 12 steps through
# the real services: about 2 minutes on PostgreSQL, 1 on SQLite, on an idle 2-core machine);
# a local run a quicker 60. (It was 1,000 on each: 23 minutes of a 53-minute CI run.)
EXAMPLES = 300 if os.environ.get("CI", "").lower() in ("1", "true", "yes") else 60

steps = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.integers(min_value=1, max_value=40)),
        st.tuples(st.just("quantity"), st.integers(min_value=1, max_value=60)),
        st.tuples(st.just("statement"), st.just(0)),
        st.tuples(st.just("cancel"), st.just(0)),
        st.tuples(st.just("switch"), st.just(0)),
        st.tuples(st.just("reactivate"), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=steps, offer=st.sampled_from(["std-monthly", "std-annual", "basic-monthly"]))
def test_money_invariants_hold_for_any_sequence_of_changes(
    world: World, plan: list[tuple[str, int]], offer: str
) -> None:
    """The ledger balances; what stays charged equals the license-days used × the daily rate
    within one minor unit per line; refunds never exceed what was charged; and the preview of a
    quantity change equals the change."""
    app = world.app
    app.clock.set(START)  # type: ignore[attr-defined]  # each example starts on the same day
    org = world.org(f"Prop{world._n}")
    ga = org.admins["global_admin"]
    sub_id = app.run(ga, subscriptions.buy, org.id, offer, quantity=10).id
    for action, value in plan:
        try:
            if action == "advance":
                app.clock.advance(timedelta(days=value))  # type: ignore[attr-defined]
            elif action == "quantity":
                preview = app.read(
                    ga, invoices.preview, org.id, subscriptions.set_quantity, sub_id, value
                )
                count = len(app.read(ga, invoices.list_invoices, org.id))
                app.run(ga, subscriptions.set_quantity, sub_id, value)
                issued = app.read(ga, invoices.list_invoices, org.id)[count:]
                assert [
                    [(ln.kind, ln.start, ln.end, ln.quantity, ln.amount) for ln in i.lines]
                    for i in preview.now
                ] == [
                    [(ln.kind, ln.start, ln.end, ln.quantity, ln.amount) for ln in i.lines]
                    for i in issued
                ]
            elif action == "statement":
                app.run(app.operator, invoices.run_statement, org.id)
            elif action == "cancel":
                app.run(ga, cancellation.cancel, sub_id)
            elif action == "switch":
                target = "prem-monthly" if offer != "prem-monthly" else "basic-monthly"
                sub_id = app.run(ga, cancellation.switch_plan, sub_id, target).new.id
                offer = target
            elif action == "reactivate":
                app.run(ga, subscriptions.reactivate, sub_id)
        except AbonnementError:
            pass  # a refusal changes nothing; the invariants below still hold
    app.run(app.operator, invoices.run_statement, org.id)

    with UnitOfWork(app.engine, read_only=True) as uow:
        session = uow.session
        account = session.scalars(
            select(m.BillingAccount).where(m.BillingAccount.organization_id == org.id)
        ).one()
        sums = session.execute(
            select(m.LedgerEntry.transaction, func.sum(m.LedgerEntry.amount_minor))
            .where(m.LedgerEntry.billing_account_id == account.id)
            .group_by(m.LedgerEntry.transaction)
        ).all()
        assert all(total == 0 for _, total in sums)
        payments = session.scalars(
            select(m.Payment).where(m.Payment.billing_account_id == account.id)
        ).all()
        charged = sum(
            p.amount_minor for p in payments if p.kind == "charge" and p.status == "succeeded"
        )
        refunded = sum(
            p.amount_minor for p in payments if p.kind == "refund" and p.status == "succeeded"
        )
        assert 0 <= refunded <= charged
        for sub in uow.subscriptions.in_organization(org.id):
            from abonnement.services.context import Context

            ctx = Context(uow, app.clock, app.operator)
            plan_ = billing.plan(ctx, sub)
            live = [ln for ln in billing.issued_lines(ctx, sub) if ln.kind.value == "charge"]
            reversed_refs = {ln.reverses for ln in billing.issued_lines(ctx, sub)}
            live = [ln for ln in live if ln.ref not in reversed_refs]
            periods: dict[Period, list[int]] = {}
            for ln in live:
                periods.setdefault(ln.period, []).append(ln.amount.minor)
            org_row = uow.organizations.get(org.id)
            assert org_row is not None
            for period in plan_.periods_through(ctx.today(org_row)):
                periods.setdefault(period, [])  # every started period is billed
            for period, amounts in periods.items():
                exact = Decimal(0)
                for seg in plan_.segments:
                    start = max(seg.start, period.start)
                    end = period.end if seg.end is None else min(seg.end, period.end)
                    if start < end:
                        exact += (
                            Decimal(seg.unit_price.minor)
                            * seg.quantity
                            * (end - start).days
                            / period.days
                        )
                assert abs(sum(amounts) - exact) <= max(len(amounts), 0), (period, amounts, exact)
