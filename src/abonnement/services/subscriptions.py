"""Buying subscriptions, setting their quantity, recurring billing, trials and reactivation."""

from __future__ import annotations

from datetime import date, timedelta

from abonnement.domain import policies as p
from abonnement.domain.catalog import CancellationModel, PurchaseChannel
from abonnement.domain.errors import Code, Refusal, error, from_refusal
from abonnement.domain.periods import add_months
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
from abonnement.services.schemas import AvailabilityView, QuantityChangeView, SubscriptionView
from abonnement.store import models as m

RUNNING = (Status.TRIAL, Status.ACTIVE)


def has_payment_method(ctx: Context, organization_id: int) -> bool:
    return bool(ctx.uow.payment_methods.active(organization_id))


def view(ctx: Context, sub: m.Subscription, assigned: int | None = None) -> SubscriptionView:
    count = ctx.uow.assignments.count(sub.id) if assigned is None else assigned
    avail = p.availability(
        facts(sub, count),
        offer_to_domain(sub.offer),
        has_payment_method=has_payment_method(ctx, sub.organization_id),
    )
    return SubscriptionView.of(sub, count, avail)


def term_end(offer: m.Offer, start: date) -> date:
    return add_months(start, offer.term.months)


def new_subscription(
    ctx: Context,
    org: m.Organization,
    offer: m.Offer,
    *,
    channel: PurchaseChannel,
    quantity: int,
    status: Status = Status.ACTIVE,
) -> m.Subscription:
    """A subscription row starting today, for a full term of the offer (not yet added)."""
    today = ctx.today(org)
    now = ctx.now()
    return m.Subscription(
        organization_id=org.id,
        offer_id=offer.id,
        offer=offer,
        product_id=offer.product_id,
        status=status,
        channel=channel,
        currency=org.currency,
        quantity=quantity,
        prepaid_quantity=0,
        recurring_billing=channel is PurchaseChannel.ONLINE,
        credit_check_pending=False,
        trial_extended=False,
        term_start=today,
        term_end=term_end(offer, today),
        status_changed_at=now,
        created_at=now,
    )


def _check_offer_for(offer: m.Offer, channel: PurchaseChannel, currency: str) -> None:
    domain_offer = offer_to_domain(offer)
    if offer.end_of_sale:
        raise error(Code.OFFER_END_OF_SALE, offer=offer.name)
    if not domain_offer.allows(channel):
        raise error(Code.CHANNEL_NOT_ALLOWED, offer=offer.name, channel=channel.value)
    if domain_offer.price(currency) is None:
        raise error(Code.CURRENCY_NOT_OFFERED, offer=offer.name, currency=currency)


def buy(
    ctx: Context,
    organization_id: int,
    offer_code: str,
    *,
    quantity: int | None = None,
    channel: str = "online",
    trial: bool = False,
    partner_name: str | None = None,
    agreement_number: str | None = None,
) -> SubscriptionView:
    """Buy a subscription. Online purchases (and trials) are the organization's own, paid with
    the payment method on file; reseller and volume purchases are recorded by the operator;
    prepaid subscriptions come from redeeming product keys."""
    org = ctx.organization(organization_id)
    try:
        chosen = PurchaseChannel(channel)
    except ValueError:
        raise v.bad("channel", "use online, reseller or volume") from None
    offer = ctx.offer(offer_code)
    today = ctx.today(org)
    sub = new_subscription(ctx, org, offer, channel=chosen, quantity=0)
    sub.recurring_billing = True
    if chosen is PurchaseChannel.PREPAID:
        raise v.bad("channel", "prepaid subscriptions start by redeeming product keys")
    if chosen in (PurchaseChannel.RESELLER, PurchaseChannel.VOLUME):
        ctx.require_operator(f"record_{chosen.value}_purchase")
        if trial:
            raise v.bad("trial", "trials are bought online")
        if chosen is PurchaseChannel.RESELLER:
            sub.partner_name = v.text("partner_name", partner_name or "")
        else:
            sub.agreement_number = v.text("agreement_number", agreement_number or "", max_length=64)
    else:
        ctx.authorize(org.id, Action.MANAGE_PURCHASES)
    _check_offer_for(offer, chosen, org.currency)
    if trial:
        if offer.trial_days is None or offer.trial_licenses is None:
            raise v.bad("trial", f"{offer.name} has no trial")
        if quantity is not None and quantity != offer.trial_licenses:
            raise v.bad("quantity", f"a trial has {offer.trial_licenses} licenses")
        sub.status = Status.TRIAL
        sub.quantity = offer.trial_licenses
        sub.term_end = today + timedelta(days=offer.trial_days)
        sub.recurring_billing = False
    else:
        if quantity is None:
            raise v.bad("quantity", "say how many licenses to buy")
        if not offer.min_quantity <= quantity <= offer.max_quantity:
            raise error(
                Code.QUANTITY_OUT_OF_RANGE, minimum=offer.min_quantity, maximum=offer.max_quantity
            )
        sub.quantity = quantity
        if chosen is PurchaseChannel.ONLINE:
            methods = ctx.uow.payment_methods.active(org.id)
            if not methods:
                raise error(Code.PAYMENT_METHOD_REQUIRED)
            # Paying by invoice starts a credit check, which completes within two business days.
            sub.credit_check_pending = methods[0].kind == "invoice"
            sub.credit_check_started_at = ctx.now() if sub.credit_check_pending else None
    ctx.uow.subscriptions.add(sub)
    ctx.uow.subscriptions.flush()
    ctx.audit(
        "subscription.buy", "subscription", sub.id, organization_id=org.id, after=snapshot(sub)
    )
    if sub.status is Status.ACTIVE and chosen is PurchaseChannel.ONLINE:
        billing.on_purchase(ctx, org, sub)
    return view(ctx, sub, 0)


def get(ctx: Context, subscription_id: int) -> SubscriptionView:
    sub = ctx.subscription(subscription_id)
    ctx.authorize(sub.organization_id, Action.READ_SUBSCRIPTIONS)
    return view(ctx, sub)


def list_for(
    ctx: Context, organization_id: int, status: str | None = None
) -> list[SubscriptionView]:
    org = ctx.organization(organization_id)
    ctx.authorize(org.id, Action.READ_SUBSCRIPTIONS)
    statuses = None
    if status is not None:
        try:
            statuses = [Status(status)]
        except ValueError:
            raise v.bad("status", "use " + ", ".join(s.value for s in Status)) from None
    subs = ctx.uow.subscriptions.in_organization(org.id, statuses)
    counts = ctx.uow.assignments.count_by_subscription(s.id for s in subs)
    return [view(ctx, s, counts[s.id]) for s in subs]


def availability(ctx: Context, subscription_id: int) -> AvailabilityView:
    return get(ctx, subscription_id).availability


def set_quantity(ctx: Context, subscription_id: int, new_total: int) -> QuantityChangeView:
    """R3: the admin enters the new total. R4/R5 are checked by the domain; the subscription row
    is locked so a concurrent assignment can't slip under the floor."""
    if not isinstance(new_total, int) or isinstance(new_total, bool):
        raise v.bad("quantity", "use a whole number")
    sub = ctx.subscription(subscription_id, lock=True)
    ctx.authorize(sub.organization_id, Action.MANAGE_PURCHASES)
    org = ctx.organization(sub.organization_id)
    today = ctx.today(org)
    assigned = ctx.uow.assignments.count(sub.id)
    before = snapshot(sub)
    decision = p.decide_quantity(
        facts(sub, assigned),
        offer_to_domain(sub.offer),
        new_total,
        today,
        has_payment_method=has_payment_method(ctx, org.id),
    )
    if isinstance(decision, Refusal):
        raise from_refusal(decision)
    if decision.kind is p.QuantityChangeKind.BUY:
        window = sub.offer.cancellation_window_days
        if not p.in_window(sub.last_increase_on, today, window):
            sub.quantity_before_last_increase = sub.quantity
        sub.last_increase_on = today
        sub.quantity = decision.now_quantity
    elif decision.kind is p.QuantityChangeKind.REMOVE:
        sub.quantity = decision.now_quantity
        if sub.quantity_before_last_increase is not None:
            sub.quantity_before_last_increase = min(sub.quantity_before_last_increase, sub.quantity)
        if decision.scheduled_quantity is not None:
            sub.pending_quantity = decision.scheduled_quantity
            sub.pending_effective = decision.scheduled_on
    if decision.kind is p.QuantityChangeKind.BUY:
        billing.on_licenses_added(ctx, org, sub, decision.now_quantity - decision.previous)
    elif decision.now_quantity < decision.previous:
        windowed = sub.offer.cancellation_model is CancellationModel.WINDOWED
        billing.on_licenses_removed(ctx, org, sub, refund_now=windowed)
    if decision.kind is not p.QuantityChangeKind.UNCHANGED:
        ctx.uow.subscriptions.flush()
        ctx.audit(
            f"subscription.quantity.{decision.kind.value}",
            "subscription",
            sub.id,
            organization_id=sub.organization_id,
            before=before,
            after=snapshot(sub),
        )
    return QuantityChangeView(
        kind=decision.kind.value,
        previous=decision.previous,
        quantity=sub.quantity,
        scheduled_quantity=decision.scheduled_quantity,
        scheduled_on=decision.scheduled_on,
        subscription=view(ctx, sub, assigned),
    )


def set_recurring_billing(ctx: Context, subscription_id: int, on: bool) -> SubscriptionView:
    """Off is not a cancel: the term runs to its end. Turning it off drops scheduled changes."""
    sub = ctx.subscription(subscription_id, lock=True)
    ctx.authorize(sub.organization_id, Action.MANAGE_PURCHASES)
    assigned = ctx.uow.assignments.count(sub.id)
    refuse(p.check_recurring_billing(facts(sub, assigned)))
    if sub.recurring_billing == on:
        return view(ctx, sub, assigned)
    before = snapshot(sub)
    sub.recurring_billing = on
    if not on:
        sub.pending_quantity = None
        sub.pending_effective = None
    record_change(ctx, "subscription.recurring_billing." + ("on" if on else "off"), sub, before)
    return view(ctx, sub, assigned)


def reactivate(ctx: Context, subscription_id: int) -> SubscriptionView:
    """Global and billing admins bring back an expired or disabled subscription; a term that
    has ended starts again today."""
    sub = ctx.subscription(subscription_id, lock=True)
    ctx.authorize(sub.organization_id, Action.MANAGE_PURCHASES)
    assigned = ctx.uow.assignments.count(sub.id)
    refuse(p.check_reactivate(facts(sub, assigned)))
    if sub.channel is PurchaseChannel.ONLINE and not has_payment_method(ctx, sub.organization_id):
        raise error(Code.PAYMENT_METHOD_REQUIRED)
    before = snapshot(sub)
    org = ctx.organization(sub.organization_id)
    today = ctx.today(org)
    sub.status = transition(sub.status, Status.ACTIVE)
    sub.status_changed_at = ctx.now()
    sub.recurring_billing = True
    sub.cancelled_at = None
    if sub.term_end <= today:
        sub.term_start = today
        sub.term_end = term_end(sub.offer, today)
    record_change(ctx, "subscription.reactivate", sub, before)
    billing.on_purchase(ctx, org, sub)
    return view(ctx, sub, assigned)


def complete_credit_check(ctx: Context, subscription_id: int) -> SubscriptionView:
    """The operator (or, later, the billing run) records a finished credit check."""
    ctx.require_operator("complete_credit_check")
    sub = ctx.subscription(subscription_id, lock=True)
    if not sub.credit_check_pending:
        return view(ctx, sub)
    before = snapshot(sub)
    sub.credit_check_pending = False
    sub.credit_check_started_at = None
    record_change(ctx, "subscription.credit_check.complete", sub, before)
    return view(ctx, sub)


def start_credit_check(ctx: Context, subscription_id: int) -> SubscriptionView:
    ctx.require_operator("start_credit_check")
    sub = ctx.subscription(subscription_id, lock=True)
    before = snapshot(sub)
    sub.credit_check_pending = True
    sub.credit_check_started_at = ctx.now()
    record_change(ctx, "subscription.credit_check.start", sub, before)
    return view(ctx, sub)


def convert_trial(
    ctx: Context, subscription_id: int, quantity: int | None = None
) -> SubscriptionView:
    """R14: a trial becomes paid when the organization has a payment method and buys it."""
    sub = ctx.subscription(subscription_id, lock=True)
    ctx.authorize(sub.organization_id, Action.MANAGE_PURCHASES)
    if sub.status is not Status.TRIAL:
        raise error(Code.SUBSCRIPTION_NOT_ACTIVE, status=sub.status.value)
    if not has_payment_method(ctx, sub.organization_id):
        raise error(Code.PAYMENT_METHOD_REQUIRED)
    offer = sub.offer
    _check_offer_for(offer, PurchaseChannel.ONLINE, sub.currency)
    assigned = ctx.uow.assignments.count(sub.id)
    new_quantity = sub.quantity if quantity is None else quantity
    if not offer.min_quantity <= new_quantity <= offer.max_quantity:
        raise error(
            Code.QUANTITY_OUT_OF_RANGE, minimum=offer.min_quantity, maximum=offer.max_quantity
        )
    if new_quantity < assigned:
        raise error(Code.QUANTITY_BELOW_ASSIGNED, assigned=assigned, requested=new_quantity)
    before = snapshot(sub)
    org = ctx.organization(sub.organization_id)
    today = ctx.today(org)
    sub.status = transition(sub.status, Status.ACTIVE)
    sub.status_changed_at = ctx.now()
    sub.quantity = new_quantity
    sub.term_start = today
    sub.term_end = term_end(offer, today)
    sub.recurring_billing = True
    record_change(ctx, "subscription.trial.convert", sub, before)
    billing.on_purchase(ctx, org, sub)
    return view(ctx, sub, assigned)


def extend_trial(ctx: Context, subscription_id: int) -> SubscriptionView:
    sub = ctx.subscription(subscription_id, lock=True)
    ctx.authorize(sub.organization_id, Action.MANAGE_PURCHASES)
    org = ctx.organization(sub.organization_id)
    offer = offer_to_domain(sub.offer)
    assigned = ctx.uow.assignments.count(sub.id)
    refuse(p.check_trial_extension(facts(sub, assigned), offer, ctx.today(org)))
    assert offer.trial is not None
    before = snapshot(sub)
    sub.term_end = sub.term_end + timedelta(days=offer.trial.extension_days)
    sub.trial_extended = True
    record_change(ctx, "subscription.trial.extend", sub, before)
    return view(ctx, sub, assigned)
