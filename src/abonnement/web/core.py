"""What every admin-center page shares: who is signed in, the language, CSRF-checked forms,
templates with translation and formatting, refusals turned into words, and the navigation.

A page handler takes a `Page` (signed in) or an `AnonymousPage` and returns `page.render(...)`
or `page.redirect(...)`; see `abonnement.web` for a worked example.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute, iter_route_contexts
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.exc import SQLAlchemyError

from abonnement import i18n
from abonnement.app import Abonnement
from abonnement.config import Settings
from abonnement.domain.errors import N_, AbonnementError, Code, error
from abonnement.domain.money import Money
from abonnement.domain.roles import Action, allowed
from abonnement.services import apikeys, signin
from abonnement.services.context import Context
from abonnement.services.schemas import ReasonView

P = ParamSpec("P")
T = TypeVar("T")

PREFIX = "/admin"
HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "abo_session"
LANG_COOKIE = "abo_lang"
SIGN_IN_CSRF_COOKIE = "abo_signin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_FORM_BYTES = 64 * 1024

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


# -- state held by the app ------------------------------------------------------------------------
@dataclass(frozen=True)
class WebState:
    engine: Abonnement
    settings: Settings
    policy: signin.Policy
    pepper: bytes

    @property
    def secure_cookies(self) -> bool:
        if self.settings.cookie_secure is not None:
            return self.settings.cookie_secure
        return self.settings.environment == "production"


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


# -- navigation -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class NavItem:
    """A link in the left navigation: shown when its page is mounted and the signed-in roles
    allow `action` (R1: what a role may not do is not offered)."""

    key: str
    label: str  # msgid
    path: str
    action: Action | None = None
    section: str | None = None  # msgid of the group heading, e.g. "Billing"


NAV: tuple[NavItem, ...] = (
    NavItem("home", N_("Home"), PREFIX),
    NavItem(
        "products",
        N_("Your products"),
        f"{PREFIX}/billing/products",
        Action.READ_SUBSCRIPTIONS,
        N_("Billing"),
    ),
    NavItem(
        "invoices",
        N_("Invoices"),
        f"{PREFIX}/billing/invoices",
        Action.READ_INVOICES,
        N_("Billing"),
    ),
    NavItem(
        "accounts",
        N_("Billing accounts"),
        f"{PREFIX}/billing/accounts",
        Action.READ_INVOICES,
        N_("Billing"),
    ),
    NavItem("licenses", N_("Licenses"), f"{PREFIX}/licenses", Action.READ_LICENSES),
    NavItem("users", N_("Users"), f"{PREFIX}/users", Action.READ_USERS),
)

LANGUAGES = (("en", "English"), ("nb", "Norsk (bokmål)"), ("nl", "Nederlands"), ("da", "Dansk"))

# Messages shown once after a change, named in the redirect (`?done=bought&count=5`). Only these
# keys and plain numbers or dates travel in the address.
DONE: Mapping[str, str] = {
    "bought": N_("You bought {count} licenses. They can be assigned right away."),
    "removed": N_("You removed {count} licenses. Their unused time is credited on your next bill."),
    "scheduled": N_("The subscription goes down to {count} licenses on {date}."),
    "unchanged": N_("The number of licenses is unchanged."),
    "recurring_on": N_("Recurring billing is on: the subscription renews at the end of its term."),
    "recurring_off": N_(
        "Recurring billing is off: the subscription ends on {date}, at the end of its term."
    ),
    "cancelled_now": N_("The subscription is cancelled. A final invoice with a credit was issued."),
    "cancelled_at_end": N_(
        "Recurring billing is off, so the subscription ends on {date}, at the end of its term."
    ),
    "callback": N_("Thank you. We will call you at the number you gave."),
    "switched": N_(
        "The plan was switched. {count} users' licenses moved to the new subscription; the "
        "unused days of the old one come back as credit."
    ),
    "language": N_("The language is saved."),
}


# -- errors and reasons in words --------------------------------------------------------------
def describe(exc: AbonnementError, locale: str) -> tuple[str, str | None]:
    """A refusal's message and remedy in the reader's language (as the API's problem details)."""
    return i18n.localize_refusal(exc, locale)


def reason_text(reason: ReasonView, locale: str) -> tuple[str, str | None]:
    """An availability reason (R5, R10): computed by the services, put in words here."""
    return i18n.localize_error(Code(reason.code), reason.context, locale)


class SignInRequiredError(Exception):
    """No live session: the browser goes to the sign-in page and comes back afterwards."""


# -- the route class: refusals as pages ----------------------------------------------------------
class WebRoute(APIRoute):
    """Routes of the admin center answer in HTML: a refusal nobody caught becomes an error page
    with its message and remedy, a missing session a redirect to the sign-in page, and every
    answer carries the security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequiredError:
                response = sign_in_redirect(request)
            except AbonnementError as exc:
                response = error_page(request, exc)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return route


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path
    if request.method != "GET":
        target = PREFIX
    elif request.url.query:
        target += "?" + request.url.query
    url = f"{PREFIX}/sign-in?next={quote(target, safe='')}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def error_page(request: Request, exc: AbonnementError) -> Response:
    page: BasePage | None = getattr(request.state, "page", None)
    locale = page.locale if page is not None else request_locale(request, None)
    message, remedy = describe(exc, locale)
    if page is None:
        page = AnonymousPage(request, web_state(request), locale)
    return page.render(
        "error.html",
        status_code=exc.status,
        title=N_("Something could not be done"),
        message=message,
        remedy=remedy,
        code=exc.code.value,
    )


# -- language -------------------------------------------------------------------------------------
def request_locale(request: Request, user_locale: str | None) -> str:
    """The user's own setting, else the language chosen on this browser, else Accept-Language."""
    for choice in (user_locale, request.cookies.get(LANG_COOKIE)):
        if choice:
            try:
                return i18n.normalize_locale(choice)
            except ValueError:
                continue
    return i18n.negotiate(request.headers.get("accept-language"))


# -- templates ------------------------------------------------------------------------------------
_environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"], default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def environment() -> Environment:
    """The Jinja2 environment of the admin center (templates under web/templates)."""
    return _environment


# -- pages ----------------------------------------------------------------------------------------
class BasePage:
    """One request of the admin center: its language, templates and forms."""

    signed_in: signin.SignedIn | None = None

    def __init__(self, request: Request, state: WebState, locale: str) -> None:
        self.request = request
        self.state = state
        self.locale = locale
        self._form: dict[str, list[str]] | None = None
        request.state.page = self

    # words, money, dates ------------------------------------------------------------------
    def _(self, msgid: str, /, **context: object) -> str:
        """`msgid` in the page's language with `{name}` filled in (money and dates formatted)."""
        return i18n.render(msgid, self.locale, **context)

    def money(self, minor: int | Money, currency: str | None = None) -> str:
        amount = minor if isinstance(minor, Money) else Money.of(minor, currency or "EUR")
        return i18n.format_money(amount, self.locale)

    def format_date(self, day: date | None, format: i18n.DateFormat = "long") -> str:
        return i18n.format_date(day, self.locale, format) if day is not None else ""

    def label(self, context: str, value: str) -> str:
        """A code value in words: label("status", "active"), label("channel", "reseller")."""
        rendered = i18n.render("{" + context + "}", self.locale, **{context: value})
        return rendered

    def reasons(self, reasons: Sequence[ReasonView]) -> list[tuple[str, str | None]]:
        return [reason_text(r, self.locale) for r in reasons]

    # forms --------------------------------------------------------------------------------
    @property
    def csrf_token(self) -> str:
        raise NotImplementedError

    async def form(self) -> dict[str, list[str]]:
        """The posted form (application/x-www-form-urlencoded), once its CSRF token matched.
        A mismatch is refused with `form_expired` (403) and nothing is done."""
        if self._form is None:
            body = await self.request.body()
            if len(body) > MAX_FORM_BYTES:
                raise error(Code.INVALID_INPUT, field="form", problem="it is too large")
            values: dict[str, list[str]] = {}
            for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
                values.setdefault(key, []).append(value)
            sent = self.request.headers.get(CSRF_HEADER) or (values.get(CSRF_FIELD) or [""])[0]
            if not sent or not hmac.compare_digest(sent, self.csrf_token):
                raise error(Code.FORM_EXPIRED)
            self._form = values
        return self._form

    async def field(self, name: str, default: str = "") -> str:
        return ((await self.form()).get(name) or [default])[0].strip()

    async def number(self, name: str) -> int:
        """A whole number from the form, or `invalid_input` naming the field."""
        text = await self.field(name)
        try:
            return int(text)
        except ValueError:
            raise error(
                Code.INVALID_INPUT, field=name, problem=self._("enter a whole number")
            ) from None

    # answers ------------------------------------------------------------------------------
    def context(self) -> dict[str, Any]:
        return {
            "page": self,
            "title": "",
            "_": self._,
            "money": self.money,
            "date": self.format_date,
            "label": self.label,
            "locale": self.locale,
            "languages": LANGUAGES,
            "csrf_field": CSRF_FIELD,
            "prefix": PREFIX,
            "request": self.request,
            "signed_in": self.signed_in,
            "nav": [],
            "done": self.done_message(),
        }

    def render(self, template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
        context = self.context()
        context.update(values)
        html = environment().get_template(template).render(context)
        response = HTMLResponse(html, status_code=status_code)
        response.headers["Content-Language"] = self.locale
        return response

    def redirect(self, path: str, done: str | None = None, **facts: int | str | date) -> Response:
        """See other (303) after a change; `done` names the message shown once (DONE)."""
        if done is not None:
            query = {"done": done, **{k: str(v) for k, v in facts.items()}}
            path += ("&" if "?" in path else "?") + urlencode(query)
        if self.request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": path})
        return RedirectResponse(path, status_code=303)

    def done_message(self) -> str | None:
        key = self.request.query_params.get("done") or ""
        if key not in DONE:
            return None
        facts: dict[str, object] = {}
        for name in ("count", "date"):
            value = self.request.query_params.get(name, "")
            if name == "count" and value.isdigit():
                facts[name] = int(value)
            elif name == "date":
                try:
                    facts[name] = date.fromisoformat(value)
                except ValueError:
                    facts[name] = ""
            else:
                facts[name] = ""
        return self._(DONE[key], **facts)


class AnonymousPage(BasePage):
    """A page before sign-in (the sign-in page): its forms carry a double-submit token."""

    @property
    def csrf_token(self) -> str:
        token: str | None = getattr(self.request.state, "signin_csrf", None)
        if token is None:
            token = self.request.cookies.get(SIGN_IN_CSRF_COOKIE) or secrets.token_urlsafe(24)
            self.request.state.signin_csrf = token
        return token

    def render(self, template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
        response = super().render(template, status_code=status_code, **values)
        response.set_cookie(
            SIGN_IN_CSRF_COOKIE,
            self.csrf_token,
            httponly=True,
            samesite="strict",
            secure=self.state.secure_cookies,
            path=PREFIX,
        )
        return response


class Page(BasePage):
    """A page for a signed-in organization user (or operator), acting with the roles they hold
    right now. Use cases run through `run` (a change, one transaction) and `read`."""

    signed_in: signin.SignedIn

    def __init__(self, request: Request, state: WebState, signed_in: signin.SignedIn) -> None:
        super().__init__(request, state, request_locale(request, signed_in.locale))
        self.signed_in = signed_in

    @property
    def actor(self) -> Any:
        return self.signed_in.actor

    @property
    def organization_id(self) -> int:
        org = self.signed_in.organization_id
        if org is None:
            raise error(Code.PERMISSION_DENIED, action="organization_pages")
        return org

    @property
    def csrf_token(self) -> str:
        return self.signed_in.csrf_token

    def can(self, action: Action) -> bool:
        """Whether the signed-in roles allow an action (R1): only to decide what to offer; the
        services decide what is done."""
        actor = self.signed_in.actor
        return bool(actor.is_operator or allowed(actor.roles, action))

    def run(
        self, use_case: Callable[Concatenate[Context, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return self.state.engine.run(self.actor, use_case, *args, **kwargs)

    def read(
        self, use_case: Callable[Concatenate[Context, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return self.state.engine.read(self.actor, use_case, *args, **kwargs)

    def context(self) -> dict[str, Any]:
        context = super().context()
        mounted = mounted_paths(self.request.app)
        context["nav"] = [
            item
            for item in NAV
            if item.path in mounted and (item.action is None or self.can(item.action))
        ]
        context["current_path"] = self.request.url.path
        return context


def mounted_paths(app: Any) -> frozenset[str]:
    """The paths of every route the app serves (through included routers too), once."""
    paths: frozenset[str] | None = getattr(app.state, "web_paths", None)
    if paths is None:
        paths = frozenset(c.path for c in iter_route_contexts(app.routes) if c.path is not None)
        app.state.web_paths = paths
    return paths


# -- dependencies ---------------------------------------------------------------------------------
def current_page(request: Request) -> Page:
    state = web_state(request)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequiredError
    found = state.engine.read(apikeys.ANONYMOUS, signin.resume, token, state.policy)
    if found is None:
        raise SignInRequiredError
    if found.stale:
        # The last-seen time is a convenience: never fail a page on it.
        with contextlib.suppress(SQLAlchemyError):
            state.engine.run(apikeys.ANONYMOUS, signin.touch, found.session_id)
    return Page(request, state, found)


def anonymous_page(request: Request) -> AnonymousPage:
    return AnonymousPage(request, web_state(request), request_locale(request, None))


PageDep = Annotated[Page, Depends(current_page)]
AnonymousPageDep = Annotated[AnonymousPage, Depends(anonymous_page)]
