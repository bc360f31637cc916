"""Ending subscriptions: cancel (R8, R10, R14, R15), switch plan (R9), and support callbacks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from abonnement.domain import policies as p
from abonnement.domain.catalog import CancellationModel, PurchaseChannel
from abonnement.domain.errors import Code, Refusal, error, from_refusal
from abonnement.domain.roles import Action
from abonnement.domain.subscriptions import Status, transition
from abonnement.services import billing
from abonnement.services import validation as v
from abonnement.services.context import (
    Context,
    facts,
    offer_to_domain,
    record_change,
    refuse,
    snapshot,
)
from abonnement.services.schemas import CallbackView, CancellationView, SwitchView
from abonnement.services.subscriptions import has_payment_method, new_subscription, view
from abonnement.store import models as m


def cancel(ctx: Context, subscription_id: int) -> CancellationView:
    """Cancel online. Classic offers, and windowed offers inside their window, end now and go to
    Disabled with the unused time returned; windowed offers after the window, and prepaid ones,
    end at the end of their term (recurring billing off)."""
    sub = ctx.subscription(subscription_id, lock=True)
    ctx.authorize(sub.organization_id, Action.MANAGE_PURCHASES)
    org = ctx.organization(sub.organization_id)
    today = ctx.today(org)
    assigned = ctx.uow.assignments.count(sub.id)
    decision = p.decide_cancellation(facts(sub, assigned), offer_to_domain(sub.offer), today)
    if isinstance(decision, Refusal):
        raise from_refusal(decision)
    before = snapshot(sub)
    sub.recurring_billing = False
    sub.pending_quantity = None
    sub.pending_effective = None
    if decision.new_status is not None:
        sub.status = transition(sub.status, decision.new_status)
        sub.status_changed_at = ctx.now()
        sub.cancelled_at = ctx.now()
        windowed = sub.offer.cancellation_model is CancellationModel.WINDOWED
        billing.on_service_end(ctx, org, sub, refund_now=windowed)
    record_change(ctx, f"subscription.cancel.{decision.outcome.value}", sub, before)
    return CancellationView(
        outcome=decision.outcome.value,
        ends_on=decision.ends_on,
        prorated_return=decision.prorated_return,
        subscription=view(ctx, sub, assigned),
    )


def switch_plan(
    ctx: Context, subscription_id: int, target_offer: str, quantity: int | None = None
) -> SwitchView:
    """R9, in one transaction: buy the right plan, move everyone's licenses to it, and cancel the
    wrong one without penalty."""
    sub = ctx.subscription(subscription_id, lock=True)
    ctx.authorize(sub.organization_id, Action.MANAGE_PURCHASES)
    org = ctx.organization(sub.organization_id)
    target = ctx.offer(target_offer)
    assignments = list(ctx.uow.assignments.for_subscription(sub.id))
    new_quantity = sub.quantity if quantity is None else quantity
    if not isinstance(new_quantity, int) or isinstance(new_quantity, bool):
        raise v.bad("quantity", "use a whole number")
    refuse(
        p.check_switch(
            facts(sub, len(assignments)),
            offer_to_domain(sub.offer),
            offer_to_domain(target),
            new_quantity,
            sub.currency,
        )
    )
    if not has_payment_method(ctx, org.id):
        raise error(Code.PAYMENT_METHOD_REQUIRED)
    # Lock the target product's subscriptions too: moved licenses land there.
    if target.product_id != sub.product_id:
        ctx.uow.subscriptions.lock_for_product(org.id, target.product_id)
    now = ctx.now()
    old_before = snapshot(sub)
    new = new_subscription(ctx, org, target, channel=PurchaseChannel.ONLINE, quantity=new_quantity)
    ctx.uow.subscriptions.add(new)
    ctx.uow.subscriptions.flush()
    # R9: the days used on the wrong plan are charged, the rest credited to the new one; both
    # invoices are numbered after the new plan's charge (`billing.numbered_together`).
    with billing.numbered_together(ctx):
        billing.on_service_end(ctx, org, sub, refund_now=False, reason="switch")
        moved = _move_and_disable(
            ctx, org, sub, old_before, new, assignments, target.product_id, now
        )
        billing.on_purchase(ctx, org, new)
    return SwitchView(old=view(ctx, sub, 0), new=view(ctx, new, len(moved)), moved_user_ids=moved)


def _move_and_disable(
    ctx: Context,
    org: m.Organization,
    sub: m.Subscription,
    old_before: dict[str, Any],
    new: m.Subscription,
    assignments: list[m.LicenseAssignment],
    product_id: int,
    now: datetime,
) -> list[int]:
    """The switch's licenses move to the new subscription, and the old one is disabled."""
    moved: list[int] = []
    holders = {
        a.user_id
        for a in ctx.uow.assignments.for_users([a.user_id for a in assignments], product_id)
    }
    for assignment in assignments:
        if assignment.user_id in holders and product_id != sub.product_id:
            # The person already holds the new product; the old license simply goes away.
            ctx.uow.assignments.delete(assignment)
            continue
        assignment.subscription_id = new.id
        assignment.product_id = product_id
        moved.append(assignment.user_id)
    sub.status = transition(sub.status, Status.DISABLED)
    sub.status_changed_at = now
    sub.cancelled_at = now
    sub.recurring_billing = False
    sub.switched_to_id = new.id
    ctx.uow.subscriptions.flush()
    ctx.audit(
        "subscription.switch",
        "subscription",
        sub.id,
        organization_id=org.id,
        before=old_before,
        after={**snapshot(sub), "switched_to": new.id, "moved_users": moved},
    )
    ctx.audit(
        "subscription.buy",
        "subscription",
        new.id,
        organization_id=org.id,
        after={**snapshot(new), "switched_from": sub.id},
    )
    return moved


def request_callback(
    ctx: Context, subscription_id: int, *, phone: str, note: str = ""
) -> CallbackView:
    """R15: "let us call you" when a subscription has too many licenses to cancel online."""
    sub = ctx.subscription(subscription_id)
    ctx.authorize(sub.organization_id, Action.MANAGE_PURCHASES)
    cleaned = v.text("phone", phone, max_length=40)
    if not any(ch.isdigit() for ch in cleaned):
        raise v.bad("phone", "it has no digits")
    row = m.CallbackRequest(
        organization_id=sub.organization_id,
        subscription_id=sub.id,
        requested_by_user_id=ctx.actor.user_id,
        phone=cleaned,
        note=(note or "").strip()[:2000],
        status="open",
        created_at=ctx.now(),
    )
    ctx.uow.callbacks.add(row)
    ctx.uow.callbacks.flush()
    callback = CallbackView.of(row)
    ctx.audit(
        "callback.request",
        "callback",
        row.id,
        organization_id=sub.organization_id,
        after=callback.model_dump(mode="json"),
    )
    return callback


def list_callbacks(ctx: Context, status: str | None = "open") -> list[CallbackView]:
    """The operator's queue of callback requests."""
    ctx.require_operator("list_callbacks")
    if status not in (None, "open", "done"):
        raise v.bad("status", "use open or done")
    return [CallbackView.of(r) for r in ctx.uow.callbacks.list(status=status)]


def close_callback(ctx: Context, callback_id: int) -> CallbackView:
    ctx.require_operator("close_callback")
    row = ctx.uow.callbacks.get(callback_id)
    if row is None:
        raise error(Code.NOT_FOUND, entity="callback", id=callback_id)
    if row.status != "done":
        row.status = "done"
        row.closed_at = ctx.now()
        ctx.uow.callbacks.flush()
        ctx.audit(
            "callback.close",
            "callback",
            row.id,
            organization_id=row.organization_id,
            before={"status": "open"},
            after={"status": "done"},
        )
    return CallbackView.of(row)
