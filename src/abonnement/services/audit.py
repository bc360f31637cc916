"""Reading the audit log."""

from __future__ import annotations

from abonnement.domain.roles import Action
from abonnement.services import validation as v
from abonnement.services.context import Context
from abonnement.services.schemas import AuditView


def list_records(
    ctx: Context, organization_id: int | None = None, limit: int = 100
) -> list[AuditView]:
    v.positive("limit", limit, maximum=1000)
    if organization_id is None:
        ctx.require_operator("read_audit_log")
    else:
        org = ctx.organization(organization_id)
        ctx.authorize(org.id, Action.READ_SUBSCRIPTIONS)
    return [AuditView.of(r) for r in ctx.uow.audit.list(organization_id, limit)]
