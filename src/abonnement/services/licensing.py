"""Assigning licenses to people, and the Licenses view aggregated per product."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy.exc import IntegrityError

from abonnement.domain.errors import Code, error
from abonnement.domain.lifecycle import excess
from abonnement.domain.policies import check_assignable
from abonnement.domain.roles import Action, allowed
from abonnement.domain.subscriptions import Status
from abonnement.services import lifecycle, organizations
from abonnement.services import validation as v
from abonnement.services.context import Context
from abonnement.services.schemas import AssignmentResultView, LicenseView, UserView, View
from abonnement.store import models as m

MAX_USERS_PER_CALL = 20
# Statuses whose licenses still count on the Licenses page (expired: everyone keeps access).
COUNTED = (Status.TRIAL, Status.ACTIVE, Status.EXPIRED)


def _user_ids(user_ids: Iterable[int]) -> list[int]:
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        raise v.bad("user_ids", "choose at least one user")
    if len(ids) > MAX_USERS_PER_CALL:
        raise error(Code.TOO_MANY_USERS, maximum=MAX_USERS_PER_CALL, requested=len(ids))
    return ids


def _product(ctx: Context, sku: str) -> m.Product:
    product = ctx.uow.catalog.product_by_sku(sku)
    if product is None:
        raise error(Code.NOT_FOUND, entity="product", id=sku)
    return product


def _users(ctx: Context, organization_id: int, ids: list[int]) -> Sequence[m.User]:
    users = ctx.uow.users.many(organization_id, ids)
    found = {u.id for u in users}
    for user_id in ids:
        if user_id not in found:
            raise error(Code.NOT_FOUND, entity="user", id=user_id)
    return users


def _license_view(
    ctx: Context, organization_id: int, product: m.Product, subs: Sequence[m.Subscription]
) -> LicenseView:
    counted = [s for s in subs if s.status in COUNTED]
    counts = ctx.uow.assignments.count_by_subscription(s.id for s in subs)
    holders = sorted(a.user_id for s in subs for a in ctx.uow.assignments.for_subscription(s.id))
    total = sum(s.quantity for s in counted)
    assigned = sum(counts[s.id] for s in subs)
    return LicenseView(
        product_sku=product.sku,
        product_name=product.name,
        total=total,
        assigned=assigned,
        available=max(total - assigned, 0),
        subscription_ids=[s.id for s in counted],
        user_ids=holders,
    )


def assign(
    ctx: Context, organization_id: int, product_sku: str, user_ids: Iterable[int]
) -> AssignmentResultView:
    """Give up to 20 people a license of a product, taken from any of the organization's running
    subscriptions of it. All or nothing: if the licenses don't reach, nobody is assigned."""
    org = ctx.organization(organization_id)
    ctx.authorize(org.id, Action.ASSIGN_LICENSES)
    ids = _user_ids(user_ids)
    product = _product(ctx, product_sku)
    users = _users(ctx, org.id, ids)
    subs = ctx.uow.subscriptions.lock_for_product(org.id, product.id)
    already = ctx.uow.assignments.for_users(ids, product.id)
    if already:
        holder = next(u for u in users if u.id == already[0].user_id)
        raise error(Code.USER_ALREADY_LICENSED, user=holder.email, product=product.name)
    counts = ctx.uow.assignments.count_by_subscription(s.id for s in subs)
    free = [(s, s.quantity - counts[s.id]) for s in subs if check_assignable(s.status) is None]
    available = sum(max(n, 0) for _, n in free)
    if available < len(ids):
        if not free and subs:
            raise error(Code.ASSIGNMENT_NOT_ALLOWED, status=subs[0].status.value)
        raise error(
            Code.NO_LICENSES_AVAILABLE,
            available=available,
            requested=len(ids),
            product=product.name,
        )
    now = ctx.now()
    queue = list(ids)
    for sub, seats in free:
        while seats > 0 and queue:
            user_id = queue.pop(0)
            ctx.uow.assignments.add(
                m.LicenseAssignment(
                    organization_id=org.id,
                    subscription_id=sub.id,
                    product_id=product.id,
                    user_id=user_id,
                    assigned_at=now,
                )
            )
            seats -= 1
    try:
        ctx.uow.assignments.flush()
    except IntegrityError:
        raise error(Code.CONCURRENT_CHANGE) from None
    ctx.audit(
        "license.assign", "product", product.sku, organization_id=org.id, after={"user_ids": ids}
    )
    return AssignmentResultView(
        product_sku=product.sku, user_ids=ids, license=_license_view(ctx, org.id, product, subs)
    )


def unassign(
    ctx: Context, organization_id: int, product_sku: str, user_ids: Iterable[int]
) -> AssignmentResultView:
    org = ctx.organization(organization_id)
    ctx.authorize(org.id, Action.ASSIGN_LICENSES)
    ids = _user_ids(user_ids)
    product = _product(ctx, product_sku)
    users = _users(ctx, org.id, ids)
    subs = ctx.uow.subscriptions.lock_for_product(org.id, product.id)
    held = {a.user_id: a for a in ctx.uow.assignments.for_users(ids, product.id)}
    for user in users:
        if user.id not in held:
            raise error(Code.LICENSE_NOT_ASSIGNED, user=user.email, product=product.name)
    for assignment in held.values():
        ctx.uow.assignments.delete(assignment)
    ctx.uow.assignments.flush()
    ctx.audit(
        "license.unassign", "product", product.sku, organization_id=org.id, before={"user_ids": ids}
    )
    return AssignmentResultView(
        product_sku=product.sku, user_ids=ids, license=_license_view(ctx, org.id, product, subs)
    )


def licenses(ctx: Context, organization_id: int) -> list[LicenseView]:
    """The Licenses page: per product, every subscription of it together."""
    org = ctx.organization(organization_id)
    ctx.authorize(org.id, Action.READ_LICENSES)
    by_product: dict[int, list[m.Subscription]] = {}
    for sub in ctx.uow.subscriptions.in_organization(org.id):
        by_product.setdefault(sub.product_id, []).append(sub)
    views = []
    for product_id, subs in by_product.items():
        product = ctx.uow.catalog.product(product_id)
        assert product is not None
        views.append(_license_view(ctx, org.id, product, subs))
    return sorted(views, key=lambda lv: lv.product_sku)


def add_user_with_license(
    ctx: Context,
    organization_id: int,
    *,
    email: str,
    display_name: str,
    product_skus: Iterable[str],
    locale: str | None = None,
) -> UserView:
    """R2: add a person and give them licenses in one step (all or nothing)."""
    org = ctx.organization(organization_id)
    ctx.authorize(org.id, Action.ASSIGN_LICENSES)
    user = organizations.add_user(
        ctx, org.id, email=email, display_name=display_name, locale=locale
    )
    skus = list(dict.fromkeys(product_skus))
    for sku in skus:
        assign(ctx, org.id, sku, [user.id])
    return UserView.of(ctx.user(user.id), skus)


# -- the admin center's Licenses pages -------------------------------------------------------
class PersonView(View):
    id: int
    display_name: str
    email: str


class ExcessView(View):
    """More licenses assigned than a product has (after a reduction at renewal): nobody loses
    access during the 90-day grace; an admin chooses whom to unassign."""

    product_sku: str
    product_name: str
    over: int
    grace_until: date | None


class LicenseDetailView(View):
    license: LicenseView
    holders: list[PersonView]
    candidates: list[PersonView]
    excess: ExcessView | None


def _excess(ctx: Context, organization_id: int, view: LicenseView) -> ExcessView | None:
    over = excess(view.total, view.assigned)
    if over == 0:
        return None
    subs = set(view.subscription_ids)
    ends = [
        g.ends_on for g in lifecycle.open_graces(ctx, organization_id) if g.subscription_id in subs
    ]
    return ExcessView(
        product_sku=view.product_sku,
        product_name=view.product_name,
        over=over,
        grace_until=min(ends) if ends else None,
    )


def excesses(ctx: Context, organization_id: int) -> list[ExcessView]:
    """The products with more licenses assigned than bought, and when their grace ends."""
    found = (_excess(ctx, organization_id, view) for view in licenses(ctx, organization_id))
    return [e for e in found if e is not None]


def license_detail(ctx: Context, organization_id: int, product_sku: str) -> LicenseDetailView:
    """One product on the Licenses page: its counts, the people who hold a license and (for
    those who may assign, R1) the people who could get one."""
    org = ctx.organization(organization_id)
    ctx.authorize(org.id, Action.READ_LICENSES)
    view = next((lv for lv in licenses(ctx, org.id) if lv.product_sku == product_sku), None)
    if view is None:
        raise error(Code.NOT_FOUND, entity="product", id=product_sku)
    holding = set(view.user_ids)
    people = sorted(
        ctx.uow.users.in_organization(org.id), key=lambda u: (u.display_name.lower(), u.id)
    )
    holders = [
        PersonView(id=u.id, display_name=u.display_name, email=u.email)
        for u in people
        if u.id in holding
    ]
    candidates: list[PersonView] = []
    if ctx.actor.is_operator or allowed(ctx.actor.roles, Action.ASSIGN_LICENSES):
        candidates = [
            PersonView(id=u.id, display_name=u.display_name, email=u.email)
            for u in people
            if u.id not in holding
        ]
    return LicenseDetailView(
        license=view, holders=holders, candidates=candidates, excess=_excess(ctx, org.id, view)
    )
