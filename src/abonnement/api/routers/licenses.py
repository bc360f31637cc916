"""License assignments (up to 20 users per call), the aggregated Licenses view, and product
keys."""

from __future__ import annotations

from fastapi import APIRouter

from abonnement.api.auth import CallerDep
from abonnement.api.errors import RESPONSES
from abonnement.api.params import OrganizationId, Sku
from abonnement.api.routers import V1, ApiRoute
from abonnement.api.schemas import ProductKeysIn, RedeemIn, UsersIn
from abonnement.services import licensing, productkeys
from abonnement.services.schemas import (
    AssignmentResultView,
    GeneratedKeysView,
    LicenseView,
    RedemptionView,
)

router = APIRouter(prefix=V1, route_class=ApiRoute, responses=RESPONSES)


@router.get(
    "/organizations/{organization_id}/licenses",
    tags=["licenses"],
    summary="The Licenses view: per product, all its subscriptions together",
)
def list_licenses(organization_id: OrganizationId, caller: CallerDep) -> list[LicenseView]:
    return caller.read(licensing.licenses, organization_id)


@router.post(
    "/organizations/{organization_id}/licenses/{sku}/assign",
    tags=["licenses"],
    summary="Assign licenses of a product to up to 20 users (all or nothing)",
)
def assign(
    organization_id: OrganizationId, sku: Sku, body: UsersIn, caller: CallerDep
) -> AssignmentResultView:
    return caller.run(licensing.assign, organization_id, sku, body.user_ids)


@router.post(
    "/organizations/{organization_id}/licenses/{sku}/unassign",
    tags=["licenses"],
    summary="Take licenses of a product back from up to 20 users",
)
def unassign(
    organization_id: OrganizationId, sku: Sku, body: UsersIn, caller: CallerDep
) -> AssignmentResultView:
    return caller.run(licensing.unassign, organization_id, sku, body.user_ids)


@router.post(
    "/product-keys",
    status_code=201,
    tags=["product keys"],
    summary="Generate product keys for an offer (operator); shown only in this response",
)
def generate_keys(body: ProductKeysIn, caller: CallerDep) -> GeneratedKeysView:
    return caller.run(productkeys.generate, body.offer, count=body.count, licenses=body.licenses)


@router.post(
    "/organizations/{organization_id}/product-keys/redeem",
    tags=["product keys"],
    summary="Redeem up to 20 product keys of one product at once",
)
def redeem(organization_id: OrganizationId, body: RedeemIn, caller: CallerDep) -> RedemptionView:
    return caller.run(productkeys.redeem, organization_id, body.keys)
