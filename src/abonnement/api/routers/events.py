"""The outbox as a list: what happened, newest first, as the webhooks carry it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from abonnement.api.auth import CallerDep
from abonnement.api.errors import RESPONSES
from abonnement.api.pagination import Page, PageDep
from abonnement.api.params import OrganizationId
from abonnement.api.routers import V1, ApiRoute
from abonnement.services import events
from abonnement.services.events import EventView

router = APIRouter(prefix=V1, route_class=ApiRoute, tags=["events"], responses=RESPONSES)

Types = Annotated[
    list[Annotated[str, Query(max_length=80, pattern=r"^(\*|[a-z_]+(\.[a-z_]+)*(\.\*)?)$")]] | None,
    Query(
        alias="type",
        description="Only these types (repeat it; `subscription.*` keeps a family).",
    ),
]


def _page(items: list[EventView], has_more: bool) -> Page[EventView]:
    return Page[EventView](
        data=items, has_more=has_more, next_cursor=items[-1].id if has_more else None
    )


@router.get("/events", summary="Every organization's events, newest first (operator)")
def all_events(caller: CallerDep, page: PageDep, types: Types = None) -> Page[EventView]:
    items, more = caller.read(
        events.list_events, None, types=types, limit=page.limit, starting_after=page.starting_after
    )
    return _page(items, more)


@router.get(
    "/organizations/{organization_id}/events",
    summary="An organization's events, newest first",
    description="For the organization's admins who may read its subscriptions.",
)
def organization_events(
    organization_id: OrganizationId, caller: CallerDep, page: PageDep, types: Types = None
) -> Page[EventView]:
    items, more = caller.read(
        events.list_events,
        organization_id,
        types=types,
        limit=page.limit,
        starting_after=page.starting_after,
    )
    return _page(items, more)
