"""Every error as `application/problem+json` (RFC 9457), in the language of Accept-Language.

    {"type": "https://abonnement.dev/problems/quantity_below_assigned",
     "title": "Quantity below assigned", "status": 409, "code": "quantity_below_assigned",
     "detail": "Du kan ikke redusere antall lisenser til 3, fordi 5 lisenser er tildelt brukere.",
     "remedy": "...", "context": {"requested": 3, "assigned": 5}, "instance": "/v1/..."}

`code` is stable and meant for programs; `detail` and `remedy` are for people. The facts that
explain a refusal are in `context` (kept apart from the members RFC 9457 defines, so a fact
named `status` or `type` never collides with them). Validation errors name each field in
`errors: [{field, problem}]`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from abonnement import i18n
from abonnement.domain.errors import N_, AbonnementError, Code, UnauthenticatedError
from abonnement.domain.money import Money

log = logging.getLogger("abonnement.api")

PROBLEM_TYPE_BASE = "https://abonnement.dev/problems/"
MEDIA_TYPE = "application/problem+json"

# Problems of HTTP itself, which no use case raises: their codes are the API's own.
ROUTE_NOT_FOUND = "not_found"
METHOD_NOT_ALLOWED = "method_not_allowed"
INTERNAL_ERROR = "internal_error"
REQUEST_TOO_LARGE = "request_too_large"
_HTTP_MESSAGES: Mapping[str, tuple[str, str | None]] = {
    ROUTE_NOT_FOUND: (
        N_("There is nothing at {path}."),
        N_("Check the address against the API reference at /docs."),
    ),
    METHOD_NOT_ALLOWED: (
        N_("{path} does not accept the method {method}."),
        N_("Check the address against the API reference at /docs."),
    ),
    REQUEST_TOO_LARGE: (
        N_("The request body is larger than the server accepts."),
        N_("Send less at once, e.g. at most 20 users or product keys per call."),
    ),
    INTERNAL_ERROR: (
        N_("Something went wrong on the server, and nothing was changed."),
        N_("Try again later. If it happens again, tell the vendor the time of the request."),
    ),
}


class FieldProblem(BaseModel):
    field: str
    problem: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details with abonnement's stable code."""

    type: str
    title: str
    status: int
    code: str
    detail: str
    remedy: str | None = None
    context: dict[str, Any] = {}
    errors: list[FieldProblem] | None = None
    instance: str | None = None


def _problem_content() -> dict[str, Any]:
    return {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


#: The error responses of every /v1 operation, for the OpenAPI document.
RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": description, "content": _problem_content()}
    for status, description in (
        (401, "No valid API key (code `unauthenticated`)."),
        (403, "The caller's role does not allow this (code `permission_denied`)."),
        (404, "Not found, or another organization's (code `not_found`)."),
        (409, "Refused by a rule, with a reason and a remedy."),
        (422, "Invalid input; `errors` names the fields."),
    )
}


def title(code: str) -> str:
    """The short, stable English summary of a problem type: "quantity_below_assigned" ->
    "Quantity below assigned"."""
    return code.replace("_", " ").capitalize()


def _jsonable(value: object) -> object:
    if isinstance(value, Money):
        return {"amount": value.minor, "currency": value.currency.code}
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return str(value)


def locale_of(request: Request) -> str:
    return i18n.negotiate(request.headers.get("accept-language"))


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    detail: str,
    remedy: str | None,
    context: Mapping[str, object] | None = None,
    errors: Sequence[FieldProblem] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=PROBLEM_TYPE_BASE + code,
        title=title(code),
        status=status,
        code=code,
        detail=detail,
        remedy=remedy,
        context={k: _jsonable(v) for k, v in (context or {}).items()},
        errors=list(errors) if errors is not None else None,
        instance=request.url.path,
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers={
            "Content-Language": locale_of(request),
            "Vary": "Accept-Language",
            **(headers or {}),
        },
    )


def http_problem(
    request: Request, status: int, code: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    message, remedy = _HTTP_MESSAGES[code]
    locale = locale_of(request)
    context = {"path": request.url.path, "method": request.method}
    return problem_response(
        request,
        status=status,
        code=code,
        detail=i18n.render(message, locale, **context),
        remedy=i18n.render(remedy, locale, **context) if remedy else None,
        context=context,
        headers=headers,
    )


async def _abonnement_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AbonnementError)
    detail, remedy = i18n.localize_refusal(exc, locale_of(request))
    errors = None
    if exc.code is Code.INVALID_INPUT and "field" in exc.context:
        errors = [
            FieldProblem(field=str(exc.context["field"]), problem=str(exc.context.get("problem")))
        ]
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return problem_response(
        request,
        status=exc.status,
        code=exc.code.value,
        detail=detail,
        remedy=remedy,
        context=exc.context,
        errors=errors,
        headers=headers,
    )


def field_name(location: Sequence[int | str]) -> str:
    """A validation error's location as a field name: ("body", "prices", "EUR") ->
    "prices.EUR", ("body", "user_ids", 3) -> "user_ids[3]", ("query", "limit") -> "limit"."""
    parts = list(location[1:]) if len(location) > 1 else list(location)
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += ("." if name else "") + str(part)
    return name or "body"


def _problem_text(message: str) -> str:
    text = message.strip().rstrip(".")
    return text[:1].lower() + text[1:] if text else "it is not valid"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if await _key_no_longer_valid(request):
        # The key was checked from memory before the body was read; a key revoked since is
        # what is wrong first (401 before 422), as it is for a valid body.
        return await _abonnement_error(request, UnauthenticatedError(Code.UNAUTHENTICATED))
    problems = [
        FieldProblem(field="body", problem=f"it is not valid JSON (at character {err['loc'][-1]})")
        if err.get("type") == "json_invalid"
        else FieldProblem(
            field=field_name(err.get("loc", ())), problem=_problem_text(err.get("msg", ""))
        )
        for err in exc.errors()
    ] or [FieldProblem(field="body", problem="it is not valid")]
    first = problems[0]
    context = {"field": first.field, "problem": first.problem}
    detail, remedy = i18n.localize_error(Code.INVALID_INPUT, context, locale_of(request))
    return problem_response(
        request,
        status=422,
        code=Code.INVALID_INPUT.value,
        detail=detail,
        remedy=remedy,
        context=context,
        errors=problems,
    )


async def _key_no_longer_valid(request: Request) -> bool:
    """Whether the request's bearer token, which looked valid from memory, no longer
    authenticates (looked up in the database: only on this error path)."""
    identities = getattr(getattr(request.app.state, "api", None), "identities", None)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if identities is None or scheme.lower() != "bearer" or not token.strip():
        return False
    return await identities.key_id_now(token.strip()) is None


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        return http_problem(request, 405, METHOD_NOT_ALLOWED, exc.headers)
    if exc.status_code == 404:
        return http_problem(request, 404, ROUTE_NOT_FOUND)
    if exc.status_code == 413:
        return http_problem(request, 413, REQUEST_TOO_LARGE)
    # Anything else Starlette raises by itself (e.g. 400 for a malformed request).
    return problem_response(
        request,
        status=exc.status_code,
        code="http_" + str(exc.status_code),
        detail=str(exc.detail),
        remedy=None,
        headers=exc.headers,
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A bug: logged with its traceback, answered without internals."""
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return http_problem(request, 500, INTERNAL_ERROR)


def install(app: FastAPI) -> None:
    app.add_exception_handler(AbonnementError, _abonnement_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
