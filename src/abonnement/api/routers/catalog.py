"""The vendor's catalog: products with their service plans, and offers. Everyone authenticated
reads it (to know what to buy); only the operator adds to it."""

from __future__ import annotations

from fastapi import APIRouter

from abonnement.api.auth import CallerDep
from abonnement.api.errors import RESPONSES
from abonnement.api.routers import V1, ApiRoute
from abonnement.api.schemas import OfferIn, ProductIn
from abonnement.services import catalog
from abonnement.services.schemas import OfferView, ProductView

router = APIRouter(prefix=V1, route_class=ApiRoute, tags=["catalog"], responses=RESPONSES)


@router.post("/products", status_code=201, summary="Add a product (operator)")
def create_product(body: ProductIn, caller: CallerDep) -> ProductView:
    plans = [(plan.code, plan.name) for plan in body.service_plans]
    return caller.run(catalog.create_product, body.sku, body.name, plans)


@router.get("/products", summary="List the products")
def list_products(caller: CallerDep) -> list[ProductView]:
    return caller.read(catalog.list_products)


@router.post("/offers", status_code=201, summary="Add an offer (operator)")
def create_offer(body: OfferIn, caller: CallerDep) -> OfferView:
    return caller.run(catalog.create_offer, **body.model_dump())


@router.get("/offers", summary="List the offers")
def list_offers(caller: CallerDep) -> list[OfferView]:
    return caller.read(catalog.list_offers)
