"""Organizations (created by the operator), their users and admin roles."""

from __future__ import annotations

from fastapi import APIRouter

from abonnement.api.auth import CallerDep
from abonnement.api.errors import RESPONSES
from abonnement.api.pagination import Page, PageDep, paginate
from abonnement.api.params import OrganizationId, UserId
from abonnement.api.routers import V1, ApiRoute
from abonnement.api.schemas import OrganizationIn, PasswordIn, RolesIn, UserIn
from abonnement.services import licensing, organizations, signin
from abonnement.services.context import Context
from abonnement.services.schemas import OrganizationView, UserView

router = APIRouter(prefix=V1, route_class=ApiRoute, responses=RESPONSES)


@router.post(
    "/organizations", status_code=201, tags=["organizations"], summary="Create an organization"
)
def create_organization(body: OrganizationIn, caller: CallerDep) -> OrganizationView:
    return caller.run(organizations.create_organization, **body.model_dump())


@router.get(
    "/organizations",
    tags=["organizations"],
    summary="List organizations (an organization's users see their own)",
)
def list_organizations(caller: CallerDep, page: PageDep) -> Page[OrganizationView]:
    return paginate(caller.read(organizations.list_organizations), page)


@router.get("/organizations/{organization_id}", tags=["organizations"])
def get_organization(organization_id: OrganizationId, caller: CallerDep) -> OrganizationView:
    return caller.read(organizations.get_organization, organization_id)


def _add_user(ctx: Context, organization_id: int, body: UserIn) -> UserView:
    """R2: a person and their licenses in one transaction (all or nothing)."""
    skus = list(dict.fromkeys(body.licenses))
    if skus and not body.roles:
        return licensing.add_user_with_license(
            ctx,
            organization_id,
            email=body.email,
            display_name=body.display_name,
            product_skus=skus,
            locale=body.locale,
        )
    user = organizations.add_user(
        ctx,
        organization_id,
        email=body.email,
        display_name=body.display_name,
        roles=body.roles,
        locale=body.locale,
    )
    for sku in skus:
        licensing.assign(ctx, organization_id, sku, [user.id])
    return user.model_copy(update={"licenses": skus}) if skus else user


@router.post(
    "/organizations/{organization_id}/users",
    status_code=201,
    tags=["users"],
    summary="Add a user, optionally with admin roles or licenses (R2)",
)
def add_user(organization_id: OrganizationId, body: UserIn, caller: CallerDep) -> UserView:
    return caller.run(_add_user, organization_id, body)


@router.get("/organizations/{organization_id}/users", tags=["users"])
def list_users(organization_id: OrganizationId, caller: CallerDep, page: PageDep) -> Page[UserView]:
    return paginate(caller.read(organizations.list_users, organization_id), page)


@router.get("/users/{user_id}", tags=["users"])
def get_user(user_id: UserId, caller: CallerDep) -> UserView:
    return caller.read(organizations.get_user, user_id)


@router.delete(
    "/users/{user_id}", tags=["users"], summary="Delete a user; their licenses are freed"
)
def delete_user(user_id: UserId, caller: CallerDep) -> UserView:
    return caller.run(organizations.delete_user, user_id)


@router.patch(
    "/users/{user_id}/roles", tags=["users"], summary="Grant or revoke admin roles (global admins)"
)
def set_roles(user_id: UserId, body: RolesIn, caller: CallerDep) -> UserView:
    return caller.run(organizations.set_roles, user_id, grant=body.grant, revoke=body.revoke)


def _set_password(ctx: Context, user_id: int, password: str) -> UserView:
    signin.set_password(ctx, user_id, password)
    return UserView.of(ctx.user(user_id))


@router.put(
    "/users/{user_id}/password",
    tags=["users"],
    summary="Set a user's admin-center password (global admins, or the user themself)",
    description="The password is stored only as an argon2id hash. A new one ends the user's "
    "open admin-center sessions and lifts a lockout.",
)
def set_password(user_id: UserId, body: PasswordIn, caller: CallerDep) -> UserView:
    return caller.run(_set_password, user_id, body.password)
