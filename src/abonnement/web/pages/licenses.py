"""Licenses: per product, every subscription of it together (total, assigned, available), the
people who hold one, and assigning or unassigning up to 20 people at once (R1, R4).

Shown to every role that may read licenses (R1); the forms only to those who may assign
(Global, License and User admins). Over-assigned products (after a reduction at renewal) carry
a warning with the end of their 90-day grace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Response

from abonnement.domain.errors import N_, AbonnementError, Code
from abonnement.domain.roles import Action
from abonnement.services import licensing
from abonnement.services.licensing import LicenseDetailView, PersonView
from abonnement.web.core import PREFIX, Page, PageDep, WebRoute, describe

router = APIRouter(route_class=WebRoute)

BASE = f"{PREFIX}/licenses"

#: Messages shown once after a change on these pages (`?done=assigned&count=3`).
DONE: Mapping[str, str] = {
    "assigned": N_("{count} users were assigned a license."),
    "unassigned": N_("{count} users' licenses were unassigned. They can be assigned again now."),
}


def _url(sku: str) -> str:
    return f"{BASE}/{quote(sku, safe='')}"


def done_message(page: Page, messages: Mapping[str, str]) -> str | None:
    """The one-time message named in the address, from this module's own messages."""
    key = page.request.query_params.get("done") or ""
    if key not in messages:
        return page.done_message()
    count = page.request.query_params.get("count", "")
    return page._(messages[key], count=int(count) if count.isdigit() else "")


def matches(person: PersonView, query: str) -> bool:
    needle = query.casefold()
    return needle in person.display_name.casefold() or needle in person.email.casefold()


@router.get(BASE)
def license_list(page: PageDep) -> Response:
    # A product whose subscriptions all ended and hold nobody's license is history, not a row.
    rows = [
        lv
        for lv in page.read(licensing.licenses, page.organization_id)
        if lv.subscription_ids or lv.assigned
    ]
    over = page.read(licensing.excesses, page.organization_id)
    return page.render(
        "licenses.html",
        title=page._("Licenses"),
        licenses=rows,
        excesses=over,
        assign=page.can(Action.ASSIGN_LICENSES),
    )


def _detail(
    page: Page,
    sku: str,
    *,
    status_code: int = 200,
    selected: tuple[int, ...] = (),
    **values: Any,
) -> Response:
    detail: LicenseDetailView = page.read(licensing.license_detail, page.organization_id, sku)
    query = (page.request.query_params.get("q") or "").strip()
    holders = [p for p in detail.holders if not query or matches(p, query)]
    candidates = [p for p in detail.candidates if not query or matches(p, query)]
    return page.render(
        "license.html",
        status_code=status_code,
        title=detail.license.product_name,
        detail=detail,
        lic=detail.license,
        holders=holders,
        candidates=candidates,
        query=query,
        selected=set(selected),
        action_url=_url(sku),
        assign=page.can(Action.ASSIGN_LICENSES),
        buy=page.can(Action.MANAGE_PURCHASES),
        maximum=licensing.MAX_USERS_PER_CALL,
        done=done_message(page, DONE),
        **values,
    )


def _words(page: Page, exc: AbonnementError) -> tuple[str, str | None]:
    """A refusal to show beside its form; one that a form can't help with (R1: the role may
    not assign) becomes the error page."""
    if exc.code is Code.PERMISSION_DENIED:
        raise exc
    return describe(exc, page.locale)


@router.get(BASE + "/{sku}")
def license_page(page: PageDep, sku: str) -> Response:
    return _detail(page, sku)


async def _chosen(page: Page) -> tuple[int, ...]:
    values = (await page.form()).get("user_id", [])
    return tuple(int(v) for v in values if v.strip().isdigit())


@router.post(BASE + "/{sku}/assign")
async def assign(page: PageDep, sku: str) -> Response:
    chosen = await _chosen(page)
    try:
        result = page.run(licensing.assign, page.organization_id, sku, chosen)
    except AbonnementError as exc:
        message, remedy = _words(page, exc)
        return _detail(
            page, sku, status_code=exc.status, selected=chosen, error=message, remedy=remedy
        )
    return page.redirect(_url(sku), "assigned", count=len(result.user_ids))


@router.post(BASE + "/{sku}/unassign")
async def unassign(page: PageDep, sku: str) -> Response:
    chosen = await _chosen(page)
    try:
        result = page.run(licensing.unassign, page.organization_id, sku, chosen)
    except AbonnementError as exc:
        message, remedy = _words(page, exc)
        return _detail(
            page,
            sku,
            status_code=exc.status,
            selected=chosen,
            unassign_error=message,
            unassign_remedy=remedy,
        )
    return page.redirect(_url(sku), "unassigned", count=len(result.user_ids))
