"""Home: the subscriptions at a glance, and what needs attention."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Response

from abonnement.domain.errors import N_
from abonnement.domain.roles import Action
from abonnement.services import invoices, licensing, subscriptions
from abonnement.services.context import Context
from abonnement.services.schemas import LicenseView, SubscriptionView
from abonnement.web.core import PREFIX, PageDep, WebRoute

router = APIRouter(route_class=WebRoute)


@dataclass(frozen=True)
class Alert:
    level: str  # warning, danger, info
    message: str  # msgid with {placeholders}
    facts: dict[str, object]
    subscription_id: int | None = None


def _alerts(ctx: Context, organization_id: int, subs: list[SubscriptionView]) -> list[Alert]:
    org = ctx.organization(organization_id)
    today = ctx.today(org)
    alerts: list[Alert] = []
    for sub in subs:
        facts: dict[str, object] = {"product": sub.offer_name, "date": sub.term_end}
        if sub.status == "active" and not sub.recurring_billing and sub.term_end >= today:
            alerts.append(
                Alert(
                    "warning",
                    N_("{product} expires on {date}: recurring billing is off."),
                    facts,
                    sub.id,
                )
            )
        elif sub.status == "expired":
            alerts.append(
                Alert(
                    "warning",
                    N_("{product} has expired. Users keep access for a while; reactivate it."),
                    facts,
                    sub.id,
                )
            )
        elif sub.status == "disabled" and sub.switched_to_id is None:
            alerts.append(
                Alert(
                    "danger",
                    N_("{product} is disabled: only admins can use it."),
                    facts,
                    sub.id,
                )
            )
        if sub.credit_check_pending:
            alerts.append(
                Alert(
                    "info",
                    N_(
                        "A credit check is pending for {product}. It completes within two "
                        "business days."
                    ),
                    facts,
                    sub.id,
                )
            )
    return alerts


@dataclass(frozen=True)
class Overview:
    subscriptions: list[SubscriptionView]
    alerts: list[Alert]
    unpaid: int | None
    currency: str | None
    licenses: list[LicenseView]


def overview(ctx: Context, organization_id: int, roles_see: dict[str, bool]) -> Overview:
    """Everything Home shows, each part only if the caller's roles may read it (R1)."""
    subs: list[SubscriptionView] = []
    alerts: list[Alert] = []
    unpaid = currency = None
    if roles_see["subscriptions"]:
        subs = [s for s in subscriptions.list_for(ctx, organization_id) if s.status != "deleted"]
        alerts = _alerts(ctx, organization_id, subs)
    if roles_see["invoices"]:
        balance = invoices.balance(ctx, organization_id)
        unpaid, currency = max(balance.receivable, 0), balance.currency
    licenses = licensing.licenses(ctx, organization_id) if roles_see["licenses"] else []
    return Overview(subs, alerts, unpaid, currency, licenses)


@router.get(PREFIX)
def home(page: PageDep) -> Response:
    sees = {
        "subscriptions": page.can(Action.READ_SUBSCRIPTIONS),
        "invoices": page.can(Action.READ_INVOICES),
        "licenses": page.can(Action.READ_LICENSES),
    }
    data = page.read(overview, page.organization_id, sees)
    running = [s for s in data.subscriptions if s.status in ("active", "trial")]
    return page.render(
        "home.html",
        title=page._("Home"),
        overview=data,
        running=running,
        total_licenses=sum(s.quantity for s in running),
        assigned_licenses=sum(s.assigned for s in running),
    )
