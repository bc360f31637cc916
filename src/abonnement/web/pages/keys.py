"""Billing > Redeem product keys: one or several 25-character keys at once (prepaid licenses).
A typo is caught by the key's check character before anything is looked up, and a refusal
redeems none of the keys (R1: Global and Billing admins redeem keys)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Response

from abonnement.domain.errors import AbonnementError, Code, error
from abonnement.domain.roles import Action
from abonnement.services import productkeys, subscriptions
from abonnement.services.schemas import SubscriptionView
from abonnement.web.core import PREFIX, Page, PageDep, WebRoute, describe

router = APIRouter(route_class=WebRoute)

BASE = f"{PREFIX}/billing/keys"
#: Keys are entered one a line (commas and semicolons separate them too); spaces and dashes
#: inside a key are allowed.
SEPARATORS = re.compile(r"[\r\n,;]+")


def split_keys(text: str) -> list[str]:
    return [key.strip() for key in SEPARATORS.split(text) if key.strip()]


def _page(
    page: Page,
    *,
    status_code: int = 200,
    keys: str = "",
    redeemed: tuple[int, int, SubscriptionView] | None = None,
    message: str | None = None,
    remedy: str | None = None,
) -> Response:
    return page.render(
        "keys.html",
        status_code=status_code,
        title=page._("Redeem product keys"),
        keys=keys,
        redeemed=redeemed,
        error=message,
        remedy=remedy,
    )


@router.get(BASE)
def keys_form(page: PageDep) -> Response:
    if not page.can(Action.MANAGE_PURCHASES):
        raise error(Code.PERMISSION_DENIED, action=Action.MANAGE_PURCHASES.value)
    query = page.request.query_params
    redeemed = None
    if all(query.get(name, "").isdigit() for name in ("keys", "licenses", "subscription")):
        sub = page.read(subscriptions.get, int(query["subscription"]))
        redeemed = (int(query["keys"]), int(query["licenses"]), sub)
    return _page(page, redeemed=redeemed)


@router.post(BASE)
async def redeem(page: PageDep) -> Response:
    text = (await page.form()).get("keys", [""])[0]
    try:
        result = page.run(productkeys.redeem, page.organization_id, split_keys(text))
    except AbonnementError as exc:
        message, remedy = describe(exc, page.locale)
        return _page(page, status_code=exc.status, keys=text, message=message, remedy=remedy)
    return page.redirect(
        f"{BASE}?keys={result.keys}&licenses={result.licenses_added}"
        f"&subscription={result.subscription.id}"
    )
