"""Subscriptions: buy, the new total (R3), availability with reasons (R5), cancel, switch plan
(R9), recurring billing, reactivation, a support callback (R15), and a preview of any change."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from abonnement.api.auth import CallerDep
from abonnement.api.errors import RESPONSES
from abonnement.api.pagination import Page, PageDep, paginate
from abonnement.api.params import OrganizationId, SubscriptionId
from abonnement.api.routers import V1, ApiRoute
from abonnement.api.schemas import (
    BuyIn,
    CallbackIn,
    PreviewIn,
    QuantityIn,
    RecurringBillingIn,
    SwitchIn,
)
from abonnement.services import cancellation, invoices, subscriptions
from abonnement.services.context import Context
from abonnement.services.invoices import PreviewView
from abonnement.services.schemas import (
    AvailabilityView,
    CallbackView,
    CancellationView,
    QuantityChangeView,
    SubscriptionView,
    SwitchView,
)

router = APIRouter(prefix=V1, route_class=ApiRoute, tags=["subscriptions"], responses=RESPONSES)

StatusFilter = Literal["trial", "active", "expired", "disabled", "deleted"]


@router.post(
    "/organizations/{organization_id}/subscriptions",
    status_code=201,
    summary="Buy a subscription, or start a trial",
    description="Online purchases charge the default payment method at once (R6). Reseller and "
    "Volume Licensing purchases are recorded by the operator.",
)
def buy(organization_id: OrganizationId, body: BuyIn, caller: CallerDep) -> SubscriptionView:
    return caller.run(
        subscriptions.buy,
        organization_id,
        body.offer,
        quantity=body.quantity,
        channel=body.channel,
        trial=body.trial,
        partner_name=body.partner_name,
        agreement_number=body.agreement_number,
    )


@router.get("/organizations/{organization_id}/subscriptions")
def list_subscriptions(
    organization_id: OrganizationId,
    caller: CallerDep,
    page: PageDep,
    status: Annotated[StatusFilter | None, Query(description="Only this status.")] = None,
) -> Page[SubscriptionView]:
    return paginate(caller.read(subscriptions.list_for, organization_id, status), page)


@router.get("/subscriptions/{subscription_id}")
def get_subscription(subscription_id: SubscriptionId, caller: CallerDep) -> SubscriptionView:
    return caller.read(subscriptions.get, subscription_id)


@router.patch(
    "/subscriptions/{subscription_id}",
    summary="Enter the new total number of licenses (R3)",
    description="100 → 105 buys 5 licenses, charged at once (R6); 100 → 95 removes 5, credited "
    "on the next bill (R12). Never below the assigned licenses (R4).",
)
def set_quantity(
    subscription_id: SubscriptionId, body: QuantityIn, caller: CallerDep
) -> QuantityChangeView:
    return caller.run(subscriptions.set_quantity, subscription_id, body.quantity)


@router.get(
    "/subscriptions/{subscription_id}/availability",
    summary="Whether licenses can be bought or removed, and why not (R5)",
)
def availability(subscription_id: SubscriptionId, caller: CallerDep) -> AvailabilityView:
    return caller.read(subscriptions.availability, subscription_id)


@router.post("/subscriptions/{subscription_id}/cancel", summary="Cancel (R8, R11, R14, R15)")
def cancel(subscription_id: SubscriptionId, caller: CallerDep) -> CancellationView:
    return caller.run(cancellation.cancel, subscription_id)


@router.post(
    "/subscriptions/{subscription_id}/switch",
    summary="Switch to another plan; the users' licenses move with it (R9)",
)
def switch(subscription_id: SubscriptionId, body: SwitchIn, caller: CallerDep) -> SwitchView:
    return caller.run(cancellation.switch_plan, subscription_id, body.offer, body.quantity)


@router.post("/subscriptions/{subscription_id}/reactivate")
def reactivate(subscription_id: SubscriptionId, caller: CallerDep) -> SubscriptionView:
    return caller.run(subscriptions.reactivate, subscription_id)


@router.put(
    "/subscriptions/{subscription_id}/recurring-billing",
    summary="Turn recurring billing on or off (off is not a cancel)",
)
def recurring_billing(
    subscription_id: SubscriptionId, body: RecurringBillingIn, caller: CallerDep
) -> SubscriptionView:
    return caller.run(subscriptions.set_recurring_billing, subscription_id, body.on)


@router.post(
    "/subscriptions/{subscription_id}/callback",
    status_code=201,
    summary="Ask to be called instead of cancelling online (R15)",
)
def request_callback(
    subscription_id: SubscriptionId, body: CallbackIn, caller: CallerDep
) -> CallbackView:
    return caller.run(
        cancellation.request_callback, subscription_id, phone=body.phone, note=body.note
    )


def _preview(ctx: Context, subscription_id: int, body: PreviewIn) -> PreviewView:
    organization_id = subscriptions.get(ctx, subscription_id).organization_id
    if body.switch_to is not None:
        return invoices.preview(
            ctx,
            organization_id,
            cancellation.switch_plan,
            subscription_id,
            body.switch_to,
            body.quantity,
        )
    if body.cancel:
        return invoices.preview(ctx, organization_id, cancellation.cancel, subscription_id)
    assert body.quantity is not None
    return invoices.preview(
        ctx, organization_id, subscriptions.set_quantity, subscription_id, body.quantity
    )


@router.post(
    "/subscriptions/{subscription_id}/preview",
    summary="What a change would charge now and on the next invoice",
    description='Give one change: `{"quantity": 105}`, `{"cancel": true}` or '
    '`{"switch_to": "offer-code"}`. The change runs with nothing charged and is rolled back.',
)
def preview(subscription_id: SubscriptionId, body: PreviewIn, caller: CallerDep) -> PreviewView:
    return caller.run(_preview, subscription_id, body)
