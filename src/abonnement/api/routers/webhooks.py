"""Webhook endpoints (the vendor's, for every organization, or one organization's), their
delivery log, and manual redelivery. The signing secret is in the answer that makes or rotates
an endpoint, and nowhere else."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import Field, StringConstraints

from abonnement.api.auth import CallerDep
from abonnement.api.errors import RESPONSES
from abonnement.api.pagination import MAX_ID, Page, PageDep
from abonnement.api.routers import V1, ApiRoute
from abonnement.api.schemas import Body
from abonnement.services import webhooks
from abonnement.services.webhooks import DeliveryView, EndpointSecretView, EndpointView

router = APIRouter(prefix=V1, route_class=ApiRoute, tags=["webhooks"], responses=RESPONSES)

EndpointId = Annotated[int, Path(ge=1, le=MAX_ID, description="A webhook endpoint's id.")]
DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID, description="A webhook delivery's id.")]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=r"^[^\x00]*$")]
EventType = Annotated[
    str,
    StringConstraints(min_length=1, max_length=80, pattern=r"^(\*|[a-z_]+(\.[a-z_]+)*(\.\*)?)$"),
]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=webhooks.MAX_EVENT_TYPES)]
Description = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00]*$")]


class EndpointIn(Body):
    url: Url = Field(description="Where events are POSTed: an http:// or https:// address.")
    event_types: EventTypes = Field(
        default=["*"],
        description='Which events: `["*"]` (all), families such as `"subscription.*"`, or '
        "exact types.",
    )
    organization_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="Only this organization's events. Operator: leave it out for every "
        "organization's; an organization's global admin: their own (the default).",
    )
    description: Description = ""
    enabled: bool = True


class EndpointPatch(Body):
    url: Url | None = None
    event_types: EventTypes | None = None
    enabled: bool | None = None
    description: Description | None = None


@router.post(
    "/webhook-endpoints",
    status_code=201,
    summary="Register a webhook endpoint; the response holds its signing secret, shown once",
    description="Operator: for every organization, or one (`organization_id`). An "
    "organization's global admin: for their organization.",
)
def create_endpoint(body: EndpointIn, caller: CallerDep) -> EndpointSecretView:
    return caller.run(
        webhooks.create_endpoint,
        body.url,
        event_types=body.event_types,
        organization_id=body.organization_id,
        description=body.description,
        enabled=body.enabled,
    )


@router.get("/webhook-endpoints", summary="List webhook endpoints (without secrets)")
def list_endpoints(
    caller: CallerDep,
    organization_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this organization's endpoints.")
    ] = None,
) -> list[EndpointView]:
    return caller.read(webhooks.list_endpoints, organization_id)


@router.get("/webhook-endpoints/{endpoint_id}", summary="One webhook endpoint")
def get_endpoint(endpoint_id: EndpointId, caller: CallerDep) -> EndpointView:
    return caller.read(webhooks.get_endpoint, endpoint_id)


@router.patch(
    "/webhook-endpoints/{endpoint_id}",
    summary="Change an endpoint's URL, event types, description, or turn it off and on",
)
def update_endpoint(
    endpoint_id: EndpointId, body: EndpointPatch, caller: CallerDep
) -> EndpointView:
    return caller.run(
        webhooks.update_endpoint,
        endpoint_id,
        url=body.url,
        event_types=body.event_types,
        enabled=body.enabled,
        description=body.description,
    )


@router.delete(
    "/webhook-endpoints/{endpoint_id}", summary="Remove an endpoint and its delivery log"
)
def delete_endpoint(endpoint_id: EndpointId, caller: CallerDep) -> EndpointView:
    return caller.run(webhooks.delete_endpoint, endpoint_id)


@router.post(
    "/webhook-endpoints/{endpoint_id}/rotate",
    summary="A new signing secret, shown once; the old one also signs for 24 hours",
)
def rotate_secret(endpoint_id: EndpointId, caller: CallerDep) -> EndpointSecretView:
    return caller.run(webhooks.rotate_secret, endpoint_id)


@router.get(
    "/webhook-endpoints/{endpoint_id}/deliveries",
    summary="An endpoint's deliveries, newest first: status, attempts, last answer, next try",
)
def list_deliveries(
    endpoint_id: EndpointId,
    caller: CallerDep,
    page: PageDep,
    status: Annotated[
        Literal["pending", "succeeded", "failed"] | None, Query(description="Only these.")
    ] = None,
) -> Page[DeliveryView]:
    items, has_more = caller.read(
        webhooks.list_deliveries,
        endpoint_id,
        status=status,
        limit=page.limit,
        starting_after=page.starting_after,
    )
    return Page[DeliveryView](
        data=items, has_more=has_more, next_cursor=items[-1].id if has_more else None
    )


@router.post(
    "/webhook-deliveries/{delivery_id}/redeliver",
    summary="Send a delivery again (at once, with a new round of retries)",
)
def redeliver(delivery_id: DeliveryId, caller: CallerDep) -> DeliveryView:
    return caller.run(webhooks.redeliver, delivery_id)
