"""API keys: made (the whole key is in that response only), listed without secrets, revoked."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from abonnement.api.auth import CallerDep
from abonnement.api.errors import RESPONSES
from abonnement.api.pagination import MAX_ID
from abonnement.api.params import KeyId
from abonnement.api.routers import V1, ApiRoute
from abonnement.api.schemas import ApiKeyIn
from abonnement.services import apikeys
from abonnement.services import validation as v
from abonnement.services.apikeys import ApiKeyCreatedView, ApiKeyView
from abonnement.services.context import Context

router = APIRouter(prefix=V1, route_class=ApiRoute, tags=["api keys"], responses=RESPONSES)


@router.post(
    "/api-keys",
    status_code=201,
    summary="Make an API key; the response holds the key, shown this once",
    description='`{"label": "billing bot"}` makes a key for the caller; `"user_id"` for '
    'another user of the organization (global admins); `"operator": true` an operator key '
    "(operator).",
)
def create_key(body: ApiKeyIn, caller: CallerDep) -> ApiKeyCreatedView:
    if body.operator:
        if body.user_id is not None:
            raise v.bad("user_id", "an operator key acts as no user")
        return caller.run(apikeys.create_operator_key, label=body.label, pepper=caller.pepper)
    return caller.run(_create_user_key, body.user_id, label=body.label, pepper=caller.pepper)


def _create_user_key(
    ctx: Context, user_id: int | None, *, label: str, pepper: bytes
) -> ApiKeyCreatedView:
    """A key for the named user, or for the caller themself."""
    user_id = user_id if user_id is not None else ctx.actor.user_id
    if user_id is None:
        raise v.bad("user_id", 'name the user the key acts as, or ask for "operator": true')
    return apikeys.create_user_key(ctx, user_id, label=label, pepper=pepper)


@router.get("/api-keys", summary="List keys without their secrets")
def list_keys(
    caller: CallerDep,
    organization_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this organization's keys.")
    ] = None,
) -> list[ApiKeyView]:
    return caller.read(apikeys.list_keys, organization_id)


@router.delete("/api-keys/{key_id}", summary="Revoke a key; it stops working at once")
def revoke_key(key_id: KeyId, caller: CallerDep) -> ApiKeyView:
    return caller.run(apikeys.revoke, key_id)
