"""Signing in and out, and choosing the language."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from abonnement import i18n
from abonnement.domain.errors import AbonnementError
from abonnement.services import apikeys, signin, validation
from abonnement.web.core import (
    LANG_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    AnonymousPage,
    AnonymousPageDep,
    Page,
    PageDep,
    SignInRequiredError,
    WebRoute,
    anonymous_page,
    current_page,
    describe,
)

router = APIRouter(route_class=WebRoute)


def _safe_next(target: str | None) -> str:
    """Only a path inside the admin center: never another site."""
    if target and target.startswith(PREFIX) and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX


def _form(
    page: AnonymousPage, *, email: str = "", status_code: int = 200, **values: object
) -> Response:
    return page.render(
        "sign_in.html",
        status_code=status_code,
        email=email,
        next=_safe_next(page.request.query_params.get("next")),
        **values,
    )


@router.get(f"{PREFIX}/sign-in")
def sign_in_form(request: Request) -> Response:
    try:  # signed in already: straight on
        current_page(request)
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    except SignInRequiredError:
        page = anonymous_page(request)
    return _form(page, title=page._("Sign in"), message=None, remedy=None)


@router.post(f"{PREFIX}/sign-in")
async def sign_in(page: AnonymousPageDep) -> Response:
    email = ""
    try:
        email = await page.field("email")
        password = (await page.form()).get("password", [""])[0]
        state = page.state
        result = state.engine.run(
            apikeys.ANONYMOUS, signin.sign_in, signin.USER, email, password, state.policy
        )
        result.raise_refusal()
    except AbonnementError as exc:
        message, remedy = describe(exc, page.locale)
        return _form(page, email=email, status_code=exc.status, message=message, remedy=remedy)
    assert result.token is not None
    response = RedirectResponse(_safe_next(await page.field("next")), status_code=303)
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


@router.post(f"{PREFIX}/sign-out")
async def sign_out(page: PageDep) -> Response:
    await page.form()
    token = page.request.cookies.get(SESSION_COOKIE, "")
    page.state.engine.run(apikeys.ANONYMOUS, signin.sign_out, token)
    response = RedirectResponse(f"{PREFIX}/sign-in?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


@router.post(f"{PREFIX}/language")
async def choose_language(request: Request) -> Response:
    """The language switcher: saved in the user's setting when signed in, and in a cookie for
    this browser either way."""
    try:
        page: AnonymousPage | Page = current_page(request)
    except SignInRequiredError:
        page = anonymous_page(request)
    chosen = validation.locale(await page.field("lang") or i18n.DEFAULT, "lang")
    back = _safe_next(await page.field("next"))
    if not isinstance(page, AnonymousPage):
        page.run(signin.set_my_language, chosen)
    response = RedirectResponse(back, status_code=303)
    response.set_cookie(
        LANG_COOKIE,
        chosen,
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=page.state.secure_cookies,
        path=PREFIX,
    )
    return response
