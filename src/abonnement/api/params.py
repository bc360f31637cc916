"""Path parameters, constrained so that nonsense never reaches a query."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from abonnement.api.pagination import MAX_ID

OrganizationId = Annotated[int, Path(ge=1, le=MAX_ID, description="An organization's id.")]
UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="A user's id.")]
SubscriptionId = Annotated[int, Path(ge=1, le=MAX_ID, description="A subscription's id.")]
PaymentMethodId = Annotated[int, Path(ge=1, le=MAX_ID, description="A payment method's id.")]
CallbackId = Annotated[int, Path(ge=1, le=MAX_ID, description="A callback request's id.")]
Sku = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
        description="A product's SKU.",
    ),
]
InvoiceNumber = Annotated[
    str,
    Path(
        min_length=1,
        max_length=32,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9\-]*$",
        description="An invoice number, e.g. INV-000001.",
    ),
]
KeyId = Annotated[str, Path(pattern=r"^[0-9A-Za-z]{12}$", description="An API key's public id.")]
