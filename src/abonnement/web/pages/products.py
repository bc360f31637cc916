"""Billing > Your products: each subscription, buying and removing licenses by the new total
with a preview (R3, R4, R5, R6, R7, R12), recurring billing, cancelling (R8, R10, R14, R15, with
"Let us call you") and the switch-plan wizard (R9).

Availability and money are the services' data: `can_buy`/`can_remove` with their reasons, and
`invoices.preview`, which runs the very change with nothing charged and rolls it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Response

from abonnement.domain.errors import AbonnementError, Code
from abonnement.domain.roles import Action
from abonnement.services import cancellation, catalog, invoices, subscriptions, validation
from abonnement.services.context import Context
from abonnement.services.invoices import PreviewView
from abonnement.services.schemas import CancellationView, OfferView, SubscriptionView
from abonnement.web.core import PREFIX, Page, PageDep, WebRoute, describe

router = APIRouter(route_class=WebRoute)

BASE = f"{PREFIX}/billing/products"


def _url(subscription_id: int, tail: str = "") -> str:
    return f"{BASE}/{subscription_id}{tail}"


# -- use cases composed for the pages (services only) --------------------------------------------
def quantity_preview(ctx: Context, subscription_id: int, total: int) -> PreviewView:
    """What entering `total` would charge now and put on the next invoice."""
    sub = subscriptions.get(ctx, subscription_id)
    return invoices.preview(
        ctx, sub.organization_id, subscriptions.set_quantity, subscription_id, total
    )


@dataclass(frozen=True)
class CancelPreview:
    outcome: CancellationView
    money: PreviewView


def cancel_preview(ctx: Context, subscription_id: int) -> CancelPreview:
    """What cancelling would do (ends now or at term end, R8) and the credit it issues."""
    sub = subscriptions.get(ctx, subscription_id)
    captured: list[CancellationView] = []

    def cancel(dry: Context, sub_id: int) -> None:
        captured.append(cancellation.cancel(dry, sub_id))

    money = invoices.preview(ctx, sub.organization_id, cancel, subscription_id)
    return CancelPreview(captured[0], money)


def switch_preview(
    ctx: Context, subscription_id: int, target: str, quantity: int | None
) -> PreviewView:
    sub = subscriptions.get(ctx, subscription_id)
    return invoices.preview(
        ctx, sub.organization_id, cancellation.switch_plan, subscription_id, target, quantity
    )


def switch_targets(ctx: Context, subscription_id: int) -> list[OfferView]:
    """The plans a subscription can switch to: on sale, priced in its currency, not its own."""
    sub = subscriptions.get(ctx, subscription_id)
    return [
        offer
        for offer in catalog.list_offers(ctx)
        if offer.code != sub.offer and not offer.end_of_sale and sub.currency in offer.prices
    ]


# -- list and detail -------------------------------------------------------------------------------
def _visible(subs: list[SubscriptionView]) -> list[SubscriptionView]:
    return [s for s in subs if s.status != "deleted"]


@router.get(BASE)
def products(page: PageDep) -> Response:
    subs = _visible(page.read(subscriptions.list_for, page.organization_id))
    return page.render(
        "products.html",
        title=page._("Your products"),
        subscriptions=subs,
        manage=page.can(Action.MANAGE_PURCHASES),
    )


@router.get(BASE + "/{subscription_id}")
def product(page: PageDep, subscription_id: int) -> Response:
    sub = page.read(subscriptions.get, subscription_id)
    return _detail(page, sub)


def _detail(page: Page, sub: SubscriptionView, status_code: int = 200, **values: Any) -> Response:
    return page.render(
        "product.html",
        status_code=status_code,
        title=sub.offer_name,
        sub=sub,
        manage=page.can(Action.MANAGE_PURCHASES),
        **values,
    )


@router.post(BASE + "/{subscription_id}/recurring-billing")
async def recurring_billing(page: PageDep, subscription_id: int) -> Response:
    on = await page.field("on") == "1"
    back = await page.field("back")
    try:
        sub = page.run(subscriptions.set_recurring_billing, subscription_id, on)
    except AbonnementError as exc:
        message, remedy = describe(exc, page.locale)
        current = page.read(subscriptions.get, subscription_id)
        return _detail(page, current, exc.status, error=message, remedy=remedy)
    target = BASE if back == "list" else _url(subscription_id)
    if on:
        return page.redirect(target, "recurring_on")
    return page.redirect(target, "recurring_off", date=sub.term_end)


# -- buy and remove licenses (R3) ------------------------------------------------------------------
def _quantity_page(
    page: Page,
    sub: SubscriptionView,
    *,
    mode: str,
    total: int | None,
    preview: PreviewView | None = None,
    status_code: int = 200,
    error: str | None = None,
    remedy: str | None = None,
    partial: bool = False,
) -> Response:
    return page.render(
        "_preview.html" if partial else "quantity.html",
        status_code=status_code,
        title=page._("Buy licenses") if mode == "buy" else page._("Remove licenses"),
        sub=sub,
        mode=mode,
        total=sub.quantity if total is None else total,
        preview=preview,
        error=error,
        remedy=remedy,
    )


def _mode(value: str | None) -> str:
    return "remove" if value == "remove" else "buy"


@router.get(BASE + "/{subscription_id}/licenses")
def quantity_form(page: PageDep, subscription_id: int, mode: str = "buy") -> Response:
    sub = page.read(subscriptions.get, subscription_id)
    return _quantity_page(page, sub, mode=_mode(mode), total=None)


@router.post(BASE + "/{subscription_id}/licenses")
async def quantity(page: PageDep, subscription_id: int) -> Response:
    """Step "preview" shows what the new total costs or credits; step "save" applies it."""
    mode = _mode(await page.field("mode"))
    step = await page.field("step", "preview")
    partial = bool(page.request.headers.get("hx-request")) and step == "preview"
    sub = page.read(subscriptions.get, subscription_id)
    total: int | None = None
    try:
        total = await page.number("total")
        if step == "save":
            change = page.run(subscriptions.set_quantity, subscription_id, total)
            if change.scheduled_quantity is not None and change.scheduled_on is not None:
                return page.redirect(
                    BASE, "scheduled", count=change.scheduled_quantity, date=change.scheduled_on
                )
            if change.kind == "buy":
                return page.redirect(BASE, "bought", count=change.quantity - change.previous)
            if change.kind == "remove":
                return page.redirect(BASE, "removed", count=change.previous - change.quantity)
            return page.redirect(BASE, "unchanged")
        preview = page.run(quantity_preview, subscription_id, total)
    except AbonnementError as exc:
        message, remedy = describe(exc, page.locale)
        return _quantity_page(
            page,
            sub,
            mode=mode,
            total=total,
            status_code=200 if partial else exc.status,
            error=message,
            remedy=remedy,
            partial=partial,
        )
    return _quantity_page(page, sub, mode=mode, total=total, preview=preview, partial=partial)


# -- cancel (R8, R10, R14, R15) and "Let us call you" ---------------------------------------------
def _cancel_page(
    page: Page, subscription_id: int, status_code: int = 200, **values: Any
) -> Response:
    sub = page.read(subscriptions.get, subscription_id)
    preview: CancelPreview | None = None
    refusal: tuple[str, str | None] | None = None
    over_limit = False
    try:
        preview = page.run(cancel_preview, subscription_id)
    except AbonnementError as exc:
        refusal = describe(exc, page.locale)
        over_limit = exc.code is Code.OVER_ONLINE_CANCEL_LIMIT
        if exc.code is Code.PERMISSION_DENIED:
            raise
    return page.render(
        "cancel.html",
        status_code=status_code,
        title=page._("Cancel subscription"),
        sub=sub,
        preview=preview,
        refusal=refusal,
        over_limit=over_limit,
        phone=values.pop("phone", ""),
        note=values.pop("note", ""),
        **values,
    )


@router.get(BASE + "/{subscription_id}/cancel")
def cancel_form(page: PageDep, subscription_id: int) -> Response:
    return _cancel_page(page, subscription_id)


@router.post(BASE + "/{subscription_id}/cancel")
async def cancel(page: PageDep, subscription_id: int) -> Response:
    await page.form()
    try:
        result = page.run(cancellation.cancel, subscription_id)
    except AbonnementError as exc:
        message, remedy = describe(exc, page.locale)
        return _cancel_page(page, subscription_id, exc.status, error=message, remedy=remedy)
    if result.outcome == "now":
        return page.redirect(BASE, "cancelled_now")
    return page.redirect(
        BASE, "cancelled_at_end", date=result.ends_on or result.subscription.term_end
    )


@router.post(BASE + "/{subscription_id}/callback")
async def callback(page: PageDep, subscription_id: int) -> Response:
    phone = await page.field("phone")
    note = await page.field("note")
    try:
        page.run(cancellation.request_callback, subscription_id, phone=phone, note=note)
    except AbonnementError as exc:
        message, remedy = describe(exc, page.locale)
        return _cancel_page(
            page,
            subscription_id,
            exc.status,
            callback_error=message,
            callback_remedy=remedy,
            phone=phone,
            note=note,
        )
    return page.redirect(_url(subscription_id), "callback")


# -- switch plan (R9): choose, review, confirm ----------------------------------------------------
@router.get(BASE + "/{subscription_id}/switch")
def switch_form(page: PageDep, subscription_id: int) -> Response:
    sub = page.read(subscriptions.get, subscription_id)
    return _switch_page(page, sub, step="choose")


def _switch_page(
    page: Page,
    sub: SubscriptionView,
    *,
    step: str,
    target: str = "",
    quantity: int | None = None,
    preview: PreviewView | None = None,
    status_code: int = 200,
    error: str | None = None,
    remedy: str | None = None,
) -> Response:
    targets = page.read(switch_targets, sub.id)
    chosen = next((o for o in targets if o.code == target), None)
    return page.render(
        "switch.html",
        status_code=status_code,
        title=page._("Switch plan"),
        sub=sub,
        step=step,
        targets=targets,
        target=target,
        chosen=chosen,
        quantity=sub.quantity if quantity is None else quantity,
        preview=preview,
        error=error,
        remedy=remedy,
    )


@router.post(BASE + "/{subscription_id}/switch")
async def switch(page: PageDep, subscription_id: int) -> Response:
    step = await page.field("step", "review")
    target = await page.field("target")
    sub = page.read(subscriptions.get, subscription_id)
    quantity: int | None = None
    try:
        quantity = await page.number("quantity")
        if not target:
            raise validation.bad("target", page._("choose the plan to switch to"))
        if step == "confirm":
            result = page.run(cancellation.switch_plan, subscription_id, target, quantity)
            return page.redirect(BASE, "switched", count=len(result.moved_user_ids))
        preview = page.run(switch_preview, subscription_id, target, quantity)
    except AbonnementError as exc:
        message, remedy = describe(exc, page.locale)
        return _switch_page(
            page,
            sub,
            step="choose",
            target=target,
            quantity=quantity,
            status_code=exc.status,
            error=message,
            remedy=remedy,
        )
    return _switch_page(page, sub, step="review", target=target, quantity=quantity, preview=preview)
