"""Errors as application/problem+json (RFC 9457): a stable code, a detail and remedy in the
language of Accept-Language (R16), the facts in `context`, fields named on invalid input, and
nothing of the server's insides on a crash."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from abonnement import i18n
from abonnement.api.app import create_app
from abonnement.domain.errors import Code
from abonnement.services import licensing, subscriptions

from .conftest import Harness, ServerThread, Tenant, problem, settings_for


@pytest.fixture
def tenant(shop: Harness) -> Tenant:
    t = shop.tenant("Contoso", currency="NOK", country="NO")
    sub = shop.engine.run(shop.op, subscriptions.buy, t.id, "std-monthly", quantity=5)
    shop.engine.run(shop.op, licensing.assign, t.id, "STD", shop.people(t, 5))
    t.users["sub"] = sub.id
    return t


@pytest.mark.parametrize("lang", ["en", "nb", "nl", "da"])
def test_r4_refusal_in_the_language_of_accept_language(
    shop: Harness, tenant: Tenant, lang: str
) -> None:
    api = shop.client(tenant.keys["billing_admin"], lang=f"fr;q=0.5, {lang}-XX;q=0.9")
    before = api.ok("GET", f"/v1/subscriptions/{tenant.users['sub']}")
    response = api.patch(f"/v1/subscriptions/{tenant.users['sub']}", {"quantity": 3})
    body = problem(response, 409, "quantity_below_assigned")
    context = {"requested": 3, "assigned": 5}
    message, remedy = i18n.localize_error(Code.QUANTITY_BELOW_ASSIGNED, context, lang)
    assert body["detail"] == message
    assert body["remedy"] == remedy
    assert body["context"] == context  # R4: the refusal names the counts
    assert body["title"] == "Quantity below assigned"
    assert body["instance"] == f"/v1/subscriptions/{tenant.users['sub']}"
    assert response.headers["content-language"] == lang
    if lang != "en":
        english, _ = i18n.localize_error(Code.QUANTITY_BELOW_ASSIGNED, context, "en")
        assert body["detail"] != english
    # nothing changed
    assert api.ok("GET", f"/v1/subscriptions/{tenant.users['sub']}") == before


def test_refusal_context_keeps_facts_named_like_problem_members(
    shop: Harness, tenant: Tenant
) -> None:
    """A fact called `status` must not overwrite the HTTP status: facts live in `context`."""
    api = shop.client(tenant.keys["global_admin"], lang="nb")
    sub = tenant.users["sub"]
    response = api.post(f"/v1/subscriptions/{sub}/reactivate")
    body = problem(response, 409, "cannot_reactivate")
    assert body["status"] == 409
    assert body["context"] == {"status": "active"}
    assert "aktiv" in body["detail"]  # the status in Norwegian words


INVALID = (
        ("PATCH", "/v1/subscriptions/{sub}", {"quantity": "many"}, "quantity"),
        ("PATCH", "/v1/subscriptions/{sub}", {"quantity": -1}, "quantity"),
        ("PATCH", "/v1/subscriptions/{sub}", {}, "quantity"),
        ("PATCH", "/v1/subscriptions/{sub}", {"quantity": 5, "delta": 1}, "delta"),
        ("PUT", "/v1/subscriptions/{sub}/recurring-billing", {"on": "perhaps"}, "on"),
        (
            "POST",
            "/v1/organizations/{org}/licenses/STD/assign",
            {"user_ids": list(range(1, 22))},
            "user_ids",
        ),
        ("POST", "/v1/organizations/{org}/licenses/STD/assign", {"user_ids": [0]}, "user_ids[0]"),
        ("POST", "/v1/organizations/{org}/users", {"email": "a@b.example"}, "display_name"),
        ("POST", "/v1/subscriptions/{sub}/preview", {}, "body"),
        ("POST", "/v1/subscriptions/{sub}/preview", {"quantity": 5, "cancel": True}, "body"),
        ("GET", "/v1/organizations/{org}/invoices?limit=0", None, "limit"),
        ("GET", "/v1/organizations/{org}/subscriptions?status=gone", None, "status"),
        ("GET", "/v1/organizations/abc", None, "organization_id"),
        ("POST", "/v1/organizations/{org}/users", {"email": "\x00@x.example", "display_name": "N"},
         "email"),
)  # fmt: skip


def test_invalid_input_names_the_field(shop: Harness, tenant: Tenant) -> None:
    api = shop.client(tenant.keys["global_admin"], lang="da")
    before = api.ok("GET", f"/v1/organizations/{tenant.id}/audit")
    for method, path, payload, field in INVALID:
        url = path.format(sub=tenant.users["sub"], org=tenant.id)
        response = api.request(method, url, json=payload) if payload is not None else api.get(url)
        body = problem(response, 422, "invalid_input")
        assert body["errors"][0]["field"] == field, body
        assert body["context"]["field"] == field
        assert body["detail"].startswith(f"Værdien af {field} er ikke gyldig"), body["detail"]
    assert api.ok("GET", f"/v1/organizations/{tenant.id}/audit") == before  # nothing changed


def test_service_refusal_of_input_names_the_field_too(shop: Harness, tenant: Tenant) -> None:
    api = shop.client(tenant.keys["global_admin"])
    response = api.post(
        f"/v1/organizations/{tenant.id}/users", {"email": "not-an-address", "display_name": "X"}
    )
    body = problem(response, 422, "invalid_input")
    assert body["errors"] == [{"field": "email", "problem": "it is not an e-mail address"}]


def test_malformed_json_is_invalid_input(shop: Harness, tenant: Tenant) -> None:
    api = shop.client(tenant.keys["global_admin"])
    response = api.request(
        "PATCH",
        f"/v1/subscriptions/{tenant.users['sub']}",
        content=b'{"quantity": ',
        headers={"Content-Type": "application/json"},
    )
    body = problem(response, 422, "invalid_input")
    assert body["errors"] == [
        {"field": "body", "problem": "it is not valid JSON (at character 13)"}
    ]


@pytest.mark.parametrize(
    ("lang", "detail"),
    [
        ("nb", "Det finnes ingenting på /v1/nothing."),
        ("nl", "Er is niets op /v1/nothing."),
        ("da", "Der er intet på /v1/nothing."),
    ],
)
def test_unknown_route_is_a_problem_too(harness: Harness, lang: str, detail: str) -> None:
    response = harness.client(lang=lang).get("/v1/nothing")
    body = problem(response, 404, "not_found")
    assert body["detail"] == detail


def test_wrong_method_is_a_problem(harness: Harness) -> None:
    response = harness.operator().delete("/v1/products")
    body = problem(response, 405, "method_not_allowed")
    assert "DELETE" in body["detail"]
    assert response.headers["allow"]


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer abo_op_short", "Bearer ghp_notours"],
)
def test_missing_or_foreign_credentials_are_401(
    harness: Harness, authorization: str | None
) -> None:
    headers = {"Accept-Language": "nl"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = harness.client().get("/v1/products", headers=headers)
    body = problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"
    message, remedy = i18n.localize_error(Code.UNAUTHENTICATED, {}, "nl")
    assert (body["detail"], body["remedy"]) == (message, remedy)


def test_a_crash_is_a_500_problem_without_internals(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings_for(database_url))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    server = ServerThread(app)
    server.start()
    try:
        import httpx

        with caplog.at_level("ERROR", logger="abonnement.api"):
            response = httpx.get(server.url + "/boom", headers={"Accept-Language": "nb"})
    finally:
        server.stop()
    body = problem(response, 500, "internal_error")
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert body["detail"] == i18n.render(
        "Something went wrong on the server, and nothing was changed.", "nb"
    )
    assert any("GET /boom failed" in r.getMessage() for r in caplog.records)  # logged


def test_a_body_over_the_size_limit_is_413(harness: Harness) -> None:
    api = harness.operator(lang="nb")
    big = {"name": "x" * 2_000_000, "country": "NO", "currency": "NOK"}
    body = problem(api.post("/v1/organizations", big), 413, "request_too_large")
    assert body["detail"] != "The request body is larger than the server accepts."
    assert api.ok("GET", "/v1/organizations")["data"] == []


def test_a_streamed_body_over_the_size_limit_is_413(harness: Harness) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(40):
            yield b"x" * 50_000
        yield b'", "country": "NO", "currency": "NOK"}'

    api = harness.operator(lang="da")
    response = api.request(
        "POST", "/v1/organizations", content=chunks(), headers={"Content-Type": "application/json"}
    )
    problem(response, 413, "request_too_large")
