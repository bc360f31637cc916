"""The admin center: server-rendered pages under /admin, served by `abonnement serve` beside the
REST API (mounted by `abonnement.web.app.mount` from `abonnement.api.app.create_app`).

Organization admins sign in with a password (argon2, `abonnement.services.signin`) and act with
the roles they hold at each request: the services authorize (R1) and keep tenancy, the pages
only call them and put their answers into words. Forms work without JavaScript; HTMX (vendored
in `static/htmx.min.js`, 2.0.11, BSD-0) adds live previews.

Adding a page (one router module, one template, one test file)
--------------------------------------------------------------

1. `pages/invoices.py`::

       from fastapi import APIRouter, Response
       from abonnement.domain.errors import AbonnementError
       from abonnement.services import invoices
       from abonnement.web.core import PREFIX, PageDep, WebRoute, describe

       router = APIRouter(route_class=WebRoute)

       @router.get(f"{PREFIX}/billing/invoices")
       def invoice_list(page: PageDep) -> Response:
           rows = page.read(invoices.list_invoices, page.organization_id)
           return page.render("invoices.html", title=page._("Invoices"), invoices=rows)

       @router.post(f"{PREFIX}/billing/invoices/{{number}}/something")
       async def change(page: PageDep, number: str) -> Response:
           note = await page.field("note")        # checks the CSRF token first (403 if not)
           try:
               page.run(some_service.change, number, note)
           except AbonnementError as exc:       # show the refusal beside the form
               message, remedy = describe(exc, page.locale)
               return page.render("invoices.html", status_code=exc.status, error=message,
                                  remedy=remedy, ...)
           return page.redirect(f"{PREFIX}/billing/invoices", "some_done_key")

   and add the module to `PAGES` in `web/app.py`. Its entry in the left navigation is already
   declared in `core.NAV` (Home, Billing > Your products, Invoices, Billing accounts, Licenses,
   Users): it shows up once a route with that path is mounted, and only for roles whose
   `action` allows it.

2. `templates/invoices.html` extends `base.html` (top bar, navigation, the one-time `done`
   message) and fills `{% block content %}`. Every word goes through `_("...")` with `{name}`
   placeholders (`_("Due on {date}", date=inv.due_date)`: dates and money are formatted for
   the reader); `money(minor, currency)` and `date(day)` format figures; `label("status",
   value)` shows a code value in words. `macros.html` has `csrf()` (put it in every POST
   form), `problem(message, remedy)`, `reasons(...)` for availability reasons, and
   `invoice_lines(...)`. Then run `scripts/update_catalogs.sh` and translate the new entries
   in nb, nl and da (`tests/unit/test_i18n.py` fails until they are).

3. `tests/web/test_invoices.py` uses the fixtures of `tests/web/conftest.py`: `web` (a real
   `abonnement serve` on a temporary database, SQLite and PostgreSQL), `web.tenant()` to make
   an organization with an admin per role, `browser_page(lang)`, `sign_in(page, email)` and
   `shot(page, name)` for a screenshot under the folder the run prints.

What `core` gives a page
------------------------

- `Page` (signed in; `PageDep`) and `AnonymousPage` (`AnonymousPageDep`): `run`/`read` a use
  case as the signed-in actor, `can(action)` to decide what to offer (R1: what a role may not
  do is not shown; the services refuse it anyway), `form()`/`field()`/`number()` to read a
  posted form after its CSRF token matched, `render()` and `redirect(path, done, **facts)`.
- `WebRoute`: a refusal no handler caught becomes an error page with its message, remedy and
  HTTP status; a missing or expired session goes to the sign-in page and back afterwards;
  every answer carries the security headers (CSP, no framing, no caching).
- `describe(exc, locale)` and `reason_text(reason, locale)`: the words for a refusal or an
  availability reason, from the same catalogs as the API's problem details.
- Sessions: a random token in an http-only, SameSite cookie (`Secure` in production), only its
  SHA-256 in the `web_sessions` table, so several server processes share them. The CSRF token
  is the session's; the sign-in form uses a double-submit cookie.
- Language: the user's own setting, else the switcher's cookie, else Accept-Language.
"""
