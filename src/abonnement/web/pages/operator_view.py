"""The vendor's operator view under /admin/operator: its own sign-in (`abonnement operator
set-password` gives the password), the organizations with their subscriptions, the support
callback requests of "Let us call you" (R15) to close once called, and what the billing runs
did day by day. Only an operator's session opens these pages; an organization's admin is
refused (the services refuse them too)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from abonnement.domain.errors import N_, AbonnementError, Code
from abonnement.services import apikeys, cancellation, operations, organizations, signin
from abonnement.services import subscriptions as subs
from abonnement.services.context import Context
from abonnement.services.schemas import CallbackView
from abonnement.web.core import (
    PREFIX,
    SESSION_COOKIE,
    AnonymousPage,
    AnonymousPageDep,
    NavItem,
    Page,
    SignInRequiredError,
    WebRoute,
    current_page,
    describe,
)

router = APIRouter(route_class=WebRoute)

BASE = f"{PREFIX}/operator"

NAV = (
    NavItem("operator", N_("Organizations"), f"{BASE}/organizations", None, N_("Operator")),
    NavItem("callbacks", N_("Support callbacks"), f"{BASE}/callbacks", None, N_("Operator")),
    NavItem("billing-runs", N_("Billing runs"), f"{BASE}/billing-runs", None, N_("Operator")),
)


def _signed_in(request: Request) -> Page | None:
    try:
        return current_page(request)
    except SignInRequiredError:
        return None


#: The signed-in page, or None: the operator view has a sign-in page of its own.
OperatorPageDep = Annotated[Page | None, Depends(_signed_in)]


def _safe_next(target: str | None) -> str:
    """Only a page of the operator view: never another site."""
    if target and target.startswith(BASE) and "//" not in target and "\\" not in target:
        return target
    return BASE


def _operator(page: Page | None, request: Request) -> Page | Response:
    """The page for an operator; the operator sign-in for no one (and back afterwards); the
    refusal for anyone else (an organization's admins included)."""
    if page is None:
        target = request.url.path if request.method == "GET" else BASE
        return RedirectResponse(f"{BASE}/sign-in?next={quote(target, safe='')}", status_code=303)
    if page.actor.is_operator:
        return page
    return page.render(
        "error.html",
        status_code=403,
        title=N_("Something could not be done"),
        message=page._("These pages are for the vendor's operators."),
        remedy=page._("Sign in with an operator sign-in to use them."),
        code=Code.PERMISSION_DENIED.value,
    )


def _render(page: Page, template: str, **values: Any) -> Response:
    return page.render(template, nav=NAV, **values)


# -- sign-in ---------------------------------------------------------------------------------------
def _sign_in_form(
    page: AnonymousPage,
    *,
    login: str = "",
    target: str | None = None,
    status_code: int = 200,
    **values: object,
) -> Response:
    return page.render(
        "operator_sign_in.html",
        status_code=status_code,
        title=page._("Operator sign-in"),
        login=login,
        next=_safe_next(target or page.request.query_params.get("next")),
        **values,
    )


@router.get(f"{BASE}/sign-in")
def operator_sign_in_form(page: AnonymousPageDep) -> Response:
    return _sign_in_form(page, message=None, remedy=None)


@router.post(f"{BASE}/sign-in")
async def operator_sign_in(page: AnonymousPageDep) -> Response:
    login, target = "", BASE
    try:
        target = _safe_next((await page.form()).get("next", [""])[0])
        login = await page.field("login")
        password = (await page.form()).get("password", [""])[0]
        state = page.state
        result = state.engine.run(
            apikeys.ANONYMOUS, signin.sign_in, signin.OPERATOR, login, password, state.policy
        )
        result.raise_refusal()
    except AbonnementError as exc:
        message, remedy = describe(exc, page.locale)
        return _sign_in_form(
            page,
            login=login,
            target=target,
            status_code=exc.status,
            message=message,
            remedy=remedy,
        )
    assert result.token is not None
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        max_age=int(state.policy.lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=state.secure_cookies,
        path=PREFIX,
    )
    return response


# -- organizations ---------------------------------------------------------------------------------
@router.get(BASE)
def operator_home(signed_in: OperatorPageDep, request: Request) -> Response:
    page = _operator(signed_in, request)
    if isinstance(page, Response):
        return page
    return RedirectResponse(f"{BASE}/organizations", status_code=303)


@router.get(f"{BASE}/organizations")
def organizations_page(signed_in: OperatorPageDep, request: Request) -> Response:
    page = _operator(signed_in, request)
    if isinstance(page, Response):
        return page
    rows = page.read(operations.organizations_overview)
    return _render(page, "operator_organizations.html", title=page._("Organizations"), rows=rows)


# -- support callbacks (R15) -----------------------------------------------------------------------
@dataclass(frozen=True)
class CallbackRow:
    callback: CallbackView
    organization: str
    product: str
    requested_by: str


def callback_queue(ctx: Context, status: str | None) -> list[CallbackRow]:
    """The callback requests with the names an operator needs to call back."""
    names = {org.id: org.name for org in organizations.list_organizations(ctx)}
    rows: list[CallbackRow] = []
    for cb in cancellation.list_callbacks(ctx, status):
        product = subs.get(ctx, cb.subscription_id).offer_name
        requester = ""
        if cb.requested_by_user_id is not None:
            try:
                user = organizations.get_user(ctx, cb.requested_by_user_id)
                requester = f"{user.display_name} <{user.email}>"
            except AbonnementError:
                requester = ""
        rows.append(CallbackRow(cb, names.get(cb.organization_id, ""), product, requester))
    return sorted(rows, key=lambda r: r.callback.id, reverse=True)


@router.get(f"{BASE}/callbacks")
def callbacks_page(signed_in: OperatorPageDep, request: Request) -> Response:
    page = _operator(signed_in, request)
    if isinstance(page, Response):
        return page
    show = page.request.query_params.get("show", "open")
    status = None if show == "all" else "open"
    rows = page.read(callback_queue, status)
    done = page.done_message()
    closed = page.request.query_params.get("closed", "")
    if closed.isdigit():
        done = page._("Callback request #{id} is closed.", id=closed)
    return _render(
        page,
        "operator_callbacks.html",
        title=page._("Support callbacks"),
        rows=rows,
        show=status or "all",
        done=done,
    )


@router.post(BASE + "/callbacks/{callback_id}/close")
async def close_callback(
    signed_in: OperatorPageDep, request: Request, callback_id: int
) -> Response:
    page = _operator(signed_in, request)
    if isinstance(page, Response):
        return page
    await page.form()
    page.run(cancellation.close_callback, callback_id)
    return page.redirect(f"{BASE}/callbacks?closed={callback_id}")


# -- billing runs ----------------------------------------------------------------------------------
@router.get(f"{BASE}/billing-runs")
def billing_runs_page(signed_in: OperatorPageDep, request: Request) -> Response:
    page = _operator(signed_in, request)
    if isinstance(page, Response):
        return page
    runs = page.read(operations.billing_runs, 14)
    return _render(page, "operator_billing_runs.html", title=page._("Billing runs"), runs=runs)
