"""Users: everyone in the organization with their licenses and admin roles; adding a user and
giving them licenses in one step (R2); a user's licenses, admin roles and admin-center password;
deleting a user, which frees their licenses at once.

What each role is offered follows R1: Global admins do everything, with every admin role; User
admins add and delete users who hold no admin role and assign licenses, but grant no roles;
Global readers read. The services decide; the pages only leave out what a role may not do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import APIRouter, Response

from abonnement.domain.errors import N_, AbonnementError, Code
from abonnement.domain.roles import Action, Role
from abonnement.services import licensing, organizations, signin
from abonnement.services import validation as v
from abonnement.services.context import Context
from abonnement.services.schemas import LicenseView, UserView
from abonnement.web.core import PREFIX, Page, PageDep, WebRoute, describe
from abonnement.web.pages.licenses import done_message

router = APIRouter(route_class=WebRoute)

BASE = f"{PREFIX}/users"

#: The admin roles in words, in the order they are offered.
ROLE_LABELS: Mapping[str, str] = {
    Role.GLOBAL_ADMIN.value: N_("Global administrator"),
    Role.BILLING_ADMIN.value: N_("Billing administrator"),
    Role.LICENSE_ADMIN.value: N_("License administrator"),
    Role.USER_ADMIN.value: N_("User administrator"),
    Role.GLOBAL_READER.value: N_("Global reader"),
}

DONE: Mapping[str, str] = {
    "added": N_("The user was added."),
    "added_licensed": N_("The user was added and got {count} licenses."),
    "licenses": N_("The user's licenses are saved."),
    "roles": N_("The admin roles are saved."),
    "password": N_("The password is set. Sessions signed in with the old one were signed out."),
    "deleted": N_("The user was deleted."),
    "deleted_licensed": N_(
        "The user was deleted. Their {count} licenses were freed and can be assigned to others "
        "right away."
    ),
}


def _url(user_id: int, tail: str = "") -> str:
    return f"{BASE}/{user_id}{tail}"


# -- use cases composed for the pages (services only, one transaction each) ---------------------
def add_user(
    ctx: Context,
    organization_id: int,
    *,
    email: str,
    display_name: str,
    product_skus: Iterable[str],
    roles: Iterable[str],
) -> UserView:
    """R2: a new user and their licenses in one step; with admin roles (Global admins only),
    the same, all or nothing."""
    wanted = list(roles)
    skus = list(dict.fromkeys(product_skus))
    if not wanted:
        return licensing.add_user_with_license(
            ctx, organization_id, email=email, display_name=display_name, product_skus=skus
        )
    user = organizations.add_user(
        ctx, organization_id, email=email, display_name=display_name, roles=wanted
    )
    for sku in skus:
        licensing.assign(ctx, organization_id, sku, [user.id])
    return organizations.get_user(ctx, user.id)


def set_licenses(ctx: Context, organization_id: int, user_id: int, skus: Iterable[str]) -> int:
    """Give a user exactly these products' licenses; how many changed."""
    user = organizations.get_user(ctx, user_id)
    wanted, held = set(skus), set(user.licenses)
    for sku in sorted(held - wanted):
        licensing.unassign(ctx, organization_id, sku, [user.id])
    for sku in sorted(wanted - held):
        licensing.assign(ctx, organization_id, sku, [user.id])
    return len(held ^ wanted)


def set_roles(ctx: Context, user_id: int, roles: Iterable[str]) -> UserView:
    """Give a user exactly these admin roles (R1: Global admins only)."""
    user = organizations.get_user(ctx, user_id)
    wanted, held = set(roles), set(user.roles)
    return organizations.set_roles(ctx, user_id, grant=wanted - held, revoke=held - wanted)


def _words(page: Page, exc: AbonnementError) -> tuple[str, str | None]:
    """A refusal to show beside its form; one the page can't help with (not allowed, not
    found) becomes the error page."""
    if exc.code is Code.PERMISSION_DENIED:
        raise exc
    if exc.code is Code.NOT_FOUND and exc.context.get("entity") == "user":
        raise exc
    return describe(exc, page.locale)


# -- list -----------------------------------------------------------------------------------------
def _products(page: Page) -> list[LicenseView]:
    return page.read(licensing.licenses, page.organization_id)


def _matches(user: UserView, query: str) -> bool:
    needle = query.casefold()
    return needle in user.display_name.casefold() or needle in user.email.casefold()


@router.get(BASE)
def user_list(page: PageDep) -> Response:
    users = page.read(organizations.list_users, page.organization_id)
    query = (page.request.query_params.get("q") or "").strip()
    shown = [u for u in users if not query or _matches(u, query)]
    names = {lv.product_sku: lv.product_name for lv in _products(page)}
    return page.render(
        "users.html",
        title=page._("Users"),
        users=sorted(shown, key=lambda u: (u.display_name.casefold(), u.id)),
        count=len(users),
        query=query,
        names=names,
        role_labels=ROLE_LABELS,
        manage=page.can(Action.MANAGE_USERS),
        done=done_message(page, DONE),
    )


# -- add a user (R2) ------------------------------------------------------------------------------
def _new_page(page: Page, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("email", "")
    values.setdefault("display_name", "")
    values.setdefault("chosen", [])
    values.setdefault("roles", [])
    return page.render(
        "user_new.html",
        status_code=status_code,
        title=page._("Add a user"),
        products=_products(page) if page.can(Action.ASSIGN_LICENSES) else [],
        role_labels=ROLE_LABELS,
        grant_roles=page.can(Action.MANAGE_ADMIN_ROLES),
        **values,
    )


@router.get(BASE + "/new")
def new_user_form(page: PageDep) -> Response:
    return _new_page(page)


@router.post(BASE + "/new")
async def new_user(page: PageDep) -> Response:
    form = await page.form()
    email = await page.field("email")
    display_name = await page.field("display_name")
    skus = form.get("product", [])
    roles = form.get("role", [])
    try:
        user = page.run(
            add_user,
            page.organization_id,
            email=email,
            display_name=display_name,
            product_skus=skus,
            roles=roles,
        )
    except AbonnementError as exc:
        message, remedy = _words(page, exc)
        return _new_page(
            page,
            exc.status,
            error=message,
            remedy=remedy,
            email=email,
            display_name=display_name,
            chosen=skus,
            roles=roles,
        )
    if user.licenses:
        return page.redirect(_url(user.id), "added_licensed", count=len(user.licenses))
    return page.redirect(_url(user.id), "added")


# -- one user -------------------------------------------------------------------------------------
def _may_delete(page: Page, user: UserView) -> bool:
    if user.roles:
        return page.can(Action.MANAGE_ADMIN_ROLES)
    return page.can(Action.MANAGE_USERS)


def _may_set_password(page: Page, user: UserView) -> bool:
    return page.can(Action.MANAGE_ADMIN_ROLES) or page.signed_in.actor.user_id == user.id


def _user_page(page: Page, user_id: int, status_code: int = 200, **values: Any) -> Response:
    user = page.read(organizations.get_user, user_id)
    products = _products(page)
    names = {lv.product_sku: lv.product_name for lv in products}
    return page.render(
        "user.html",
        status_code=status_code,
        title=user.display_name,
        user=user,
        products=products,
        names=names,
        role_labels=ROLE_LABELS,
        assign=page.can(Action.ASSIGN_LICENSES),
        grant_roles=page.can(Action.MANAGE_ADMIN_ROLES),
        may_delete=_may_delete(page, user),
        may_set_password=_may_set_password(page, user),
        done=done_message(page, DONE),
        **values,
    )


@router.get(BASE + "/{user_id}")
def user_page(page: PageDep, user_id: int) -> Response:
    return _user_page(page, user_id)


@router.post(BASE + "/{user_id}/licenses")
async def user_licenses(page: PageDep, user_id: int) -> Response:
    skus = (await page.form()).get("product", [])
    try:
        page.run(set_licenses, page.organization_id, user_id, skus)
    except AbonnementError as exc:
        message, remedy = _words(page, exc)
        return _user_page(page, user_id, exc.status, licenses_error=message, licenses_remedy=remedy)
    return page.redirect(_url(user_id), "licenses")


@router.post(BASE + "/{user_id}/roles")
async def user_roles(page: PageDep, user_id: int) -> Response:
    roles = (await page.form()).get("role", [])
    try:
        page.run(set_roles, user_id, roles)
    except AbonnementError as exc:
        message, remedy = _words(page, exc)
        return _user_page(page, user_id, exc.status, roles_error=message, roles_remedy=remedy)
    return page.redirect(_url(user_id), "roles")


@router.post(BASE + "/{user_id}/password")
async def user_password(page: PageDep, user_id: int) -> Response:
    password = (await page.form()).get("password", [""])[0]
    repeated = (await page.form()).get("password_again", [""])[0]
    try:
        if password != repeated:
            raise v.bad("password", page._("the two passwords are not the same"))
        page.run(signin.set_password, user_id, password)
    except AbonnementError as exc:
        message, remedy = _words(page, exc)
        return _user_page(page, user_id, exc.status, password_error=message, password_remedy=remedy)
    return page.redirect(_url(user_id), "password")


# -- delete (confirm first; frees the licenses at once) -------------------------------------------
def _delete_page(page: Page, user_id: int, status_code: int = 200, **values: Any) -> Response:
    user = page.read(organizations.get_user, user_id)
    names = {lv.product_sku: lv.product_name for lv in _products(page)}
    return page.render(
        "user_delete.html",
        status_code=status_code,
        title=page._("Delete user"),
        user=user,
        names=names,
        **values,
    )


@router.get(BASE + "/{user_id}/delete")
def delete_form(page: PageDep, user_id: int) -> Response:
    return _delete_page(page, user_id)


@router.post(BASE + "/{user_id}/delete")
async def delete(page: PageDep, user_id: int) -> Response:
    await page.form()
    try:
        user = page.run(organizations.delete_user, user_id)
    except AbonnementError as exc:
        message, remedy = _words(page, exc)
        return _delete_page(page, user_id, exc.status, error=message, remedy=remedy)
    if user.licenses:
        return page.redirect(BASE, "deleted_licensed", count=len(user.licenses))
    return page.redirect(BASE, "deleted")
