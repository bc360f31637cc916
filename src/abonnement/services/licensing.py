"""Assigning licenses to people, and the Licenses view aggregated per product."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Protocol

from sqlalchemy.exc import IntegrityError

from abonnement.domain.errors import Code, error
from abonnement.domain.lifecycle import excess
from abonnement.domain.policies import check_assignable
from abonnement.domain.roles import Action, allowed
from abonnement.domain.subscriptions import Status
from abonnement.services import lifecycle, organizations
from abonnement.services import validation as v
from abonnement.services.context import Context
from abonnement.services.schemas import (
    AssignmentResultView,
    LicenseCountsView,
    LicenseView,
    UserView,
    View,
)
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


class _Seats(Protocol):
    """What the Licenses view needs of a subscription: an ORM row or a locked (id, status,
    quantity) row."""

    @property
    def id(self) -> int: ...
    @property
    def status(self) -> Status: ...
    @property
    def quantity(self) -> int: ...


def _locked_seats(
    ctx: Context, organization_id: int, product_sku: str, ids: list[int]
) -> tuple[tuple[int, str, str], Sequence[_Seats], dict[int, int], set[int]]:
    """For an assignment: the product (id, SKU, name), the organization's subscriptions of it,
    locked (R4), the licenses taken from each, and which of the users hold one. Two round
    trips; an unknown product, or a user who is not the organization's, is not found."""
    product, subs = ctx.uow.subscriptions.lock_product_seats(organization_id, product_sku)
    if product is None:
        raise error(Code.NOT_FOUND, entity="product", id=product_sku)
    counts, holding, known = ctx.uow.assignments.seats_and_users(
        organization_id, (s.id for s in subs), ids
    )
    for user_id in ids:
        if user_id not in known:
            raise error(Code.NOT_FOUND, entity="user", id=user_id)
    return (product[0], product[1], product[2]), subs, counts, holding


def _email(ctx: Context, organization_id: int, user_id: int) -> str:
    """A user's email, for a refusal that names them."""
    return ctx.uow.users.emails(organization_id, [user_id])[user_id]


def _license_counts(
    sku: str, name: str, subs: Sequence[_Seats], assigned: int
) -> LicenseCountsView:
    """One product's license counts: `subs` are all the organization's subscriptions of it,
    `assigned` the licenses assigned from any of them."""
    counted = [s for s in subs if s.status in COUNTED]
    total = sum(s.quantity for s in counted)
    return LicenseCountsView(
        product_sku=sku,
        product_name=name,
        total=total,
        assigned=assigned,
        available=max(total - assigned, 0),
        subscription_ids=[s.id for s in counted],
    )


def _license_view(
    sku: str, name: str, subs: Sequence[_Seats], holders: Iterable[tuple[int, int]]
) -> LicenseView:
    """One product's licenses and who holds them: `holders` are the (subscription id, user id)
    of every license of `subs`, which are all the organization's subscriptions of the product."""
    user_ids = sorted(user_id for _, user_id in holders)
    counts = _license_counts(sku, name, subs, len(user_ids))
    return LicenseView(**counts.model_dump(), user_ids=user_ids)


def assign(
    ctx: Context, organization_id: int, product_sku: str, user_ids: Iterable[int]
) -> AssignmentResultView:
    """Give up to 20 people a license of a product, taken from any of the organization's running
    subscriptions of it. All or nothing: if the licenses don't reach, nobody is assigned.

    The request path of the REST API's busiest call: a handful of column reads and one insert,
    no ORM objects, and the same work in an organization of any size (the licenses are counted,
    and only the requested users looked up, not every holder read). The product's subscriptions
    are locked (R4) before their licenses are counted, so two assignments never both take the
    last one. The answer carries the product's counts; the Licenses view lists the holders."""
    org_id = ctx.organization_ref(organization_id)
    ctx.authorize(org_id, Action.ASSIGN_LICENSES)
    ids = _user_ids(user_ids)
    (product_id, sku, name), subs, counts, holding = _locked_seats(ctx, org_id, product_sku, ids)
    already = next((user_id for user_id in ids if user_id in holding), None)
    if already is not None:
        user = _email(ctx, org_id, already)
        raise error(Code.USER_ALREADY_LICENSED, user=user, product=name)
    free = [
        (s, s.quantity - counts.get(s.id, 0)) for s in subs if check_assignable(s.status) is None
    ]
    available = sum(max(n, 0) for _, n in free)
    if available < len(ids):
        if not free and subs:
            raise error(Code.ASSIGNMENT_NOT_ALLOWED, status=subs[0].status.value)
        raise error(
            Code.NO_LICENSES_AVAILABLE, available=available, requested=len(ids), product=name
        )
    now = ctx.now()
    queue = list(ids)
    rows: list[dict[str, object]] = []
    for sub, seats in free:
        while seats > 0 and queue:
            user_id = queue.pop(0)
            rows.append(
                {
                    "organization_id": org_id,
                    "subscription_id": sub.id,
                    "product_id": product_id,
                    "user_id": user_id,
                    "assigned_at": now,
                }
            )
            seats -= 1
    try:  # the assignments and their audit record: one statement on PostgreSQL
        ctx.audit(
            "license.assign",
            "product",
            sku,
            organization_id=org_id,
            after={"user_ids": ids},
            change=ctx.uow.assignments.inserting(rows),
        )
    except IntegrityError:  # the same person assigned by a concurrent request
        raise error(Code.CONCURRENT_CHANGE) from None
    assigned = sum(counts.values()) + len(ids)
    return AssignmentResultView(
        product_sku=sku, user_ids=ids, license=_license_counts(sku, name, subs, assigned)
    )


def unassign(
    ctx: Context, organization_id: int, product_sku: str, user_ids: Iterable[int]
) -> AssignmentResultView:
    org_id = ctx.organization_ref(organization_id)
    ctx.authorize(org_id, Action.ASSIGN_LICENSES)
    ids = _user_ids(user_ids)
    (product_id, sku, name), subs, counts, holding = _locked_seats(ctx, org_id, product_sku, ids)
    for user_id in ids:
        if user_id not in holding:
            user = _email(ctx, org_id, user_id)
            raise error(Code.LICENSE_NOT_ASSIGNED, user=user, product=name)
    ctx.audit(
        "license.unassign",
        "product",
        sku,
        organization_id=org_id,
        before={"user_ids": ids},
        change=ctx.uow.assignments.deleting(ids, product_id),
    )
    assigned = sum(counts.values()) - len(ids)
    return AssignmentResultView(
        product_sku=sku, user_ids=ids, license=_license_counts(sku, name, subs, assigned)
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
        holders = ctx.uow.assignments.holders(s.id for s in subs)
        views.append(_license_view(product.sku, product.name, subs, holders))
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
