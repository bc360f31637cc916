"""Test clocks over HTTP (operator): attach one to an organization, advance it (running every
day due on the way), read it, detach it. The same use cases as `abonnement clock`."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from fastapi import APIRouter
from pydantic import AwareDatetime, Field, model_validator

from abonnement.api.auth import CallerDep
from abonnement.api.errors import RESPONSES
from abonnement.api.params import OrganizationId
from abonnement.api.routers import V1, ApiRoute
from abonnement.api.schemas import Body
from abonnement.services import clocks
from abonnement.services.clocks import AdvanceView, ClockView

router = APIRouter(prefix=V1, route_class=ApiRoute, tags=["test clocks"], responses=RESPONSES)


class AttachIn(Body):
    at: AwareDatetime | None = Field(
        default=None, description="Where the clock starts (with a time zone); default now."
    )


class AdvanceIn(Body):
    days: int | None = Field(
        default=None, ge=0, le=clocks.MAX_ADVANCE.days, description="Days to move forward."
    )
    to: AwareDatetime | None = Field(default=None, description="A moment to move to.")

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.days is None) == (self.to is None):
            raise ValueError('give either "days" or "to"')
        return self


@router.post(
    "/organizations/{organization_id}/test-clock",
    status_code=201,
    summary="Attach a test clock to an organization (operator)",
)
def attach(organization_id: OrganizationId, body: AttachIn, caller: CallerDep) -> ClockView:
    at: datetime | None = body.at
    return caller.run(clocks.attach, organization_id, at)


@router.post(
    "/organizations/{organization_id}/test-clock/advance",
    summary="Move the test clock forward, running everything due on the way (operator)",
)
def advance(organization_id: OrganizationId, body: AdvanceIn, caller: CallerDep) -> AdvanceView:
    return caller.run(clocks.advance, organization_id, days=body.days, to=body.to)


@router.get(
    "/organizations/{organization_id}/test-clock",
    summary="The clock the organization reads: its test clock, or the system's (operator)",
)
def show(organization_id: OrganizationId, caller: CallerDep) -> ClockView:
    return caller.read(clocks.current, organization_id)


@router.delete(
    "/organizations/{organization_id}/test-clock",
    summary="Detach the test clock: back to the system clock (operator)",
)
def detach(organization_id: OrganizationId, caller: CallerDep) -> ClockView:
    return caller.run(clocks.detach, organization_id, missing_ok=True)
