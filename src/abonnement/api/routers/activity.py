"""The audit log, and the operator's queue of support callback requests (R15)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from abonnement.api.auth import CallerDep
from abonnement.api.errors import RESPONSES
from abonnement.api.pagination import Page, PageDep, paginate
from abonnement.api.params import CallbackId, OrganizationId
from abonnement.api.routers import V1, ApiRoute
from abonnement.services import audit, cancellation
from abonnement.services.schemas import AuditView, CallbackView

router = APIRouter(prefix=V1, route_class=ApiRoute, responses=RESPONSES)

#: The audit endpoints page through this many of the newest records.
AUDIT_WINDOW = 1000


@router.get(
    "/organizations/{organization_id}/audit",
    tags=["audit"],
    summary="An organization's audit records, newest first",
    description=f"Who changed what, when, with before and after. Pages through the newest "
    f"{AUDIT_WINDOW} records.",
)
def organization_audit(
    organization_id: OrganizationId, caller: CallerDep, page: PageDep
) -> Page[AuditView]:
    records = caller.read(audit.list_records, organization_id, AUDIT_WINDOW)
    return paginate(records, page, newest_first=True)


@router.get(
    "/audit",
    tags=["audit"],
    summary="Every audit record, newest first (operator)",
    description=f"Pages through the newest {AUDIT_WINDOW} records.",
)
def all_audit(caller: CallerDep, page: PageDep) -> Page[AuditView]:
    return paginate(caller.read(audit.list_records, None, AUDIT_WINDOW), page, newest_first=True)


@router.get(
    "/callbacks", tags=["callbacks"], summary="Support callback requests (operator's queue)"
)
def list_callbacks(
    caller: CallerDep,
    status: Annotated[Literal["open", "done", "all"], Query(description="Which ones.")] = "open",
) -> list[CallbackView]:
    return caller.read(cancellation.list_callbacks, None if status == "all" else status)


@router.post(
    "/callbacks/{callback_id}/close", tags=["callbacks"], summary="Mark a callback as done"
)
def close_callback(callback_id: CallbackId, caller: CallerDep) -> CallbackView:
    return caller.run(cancellation.close_callback, callback_id)
