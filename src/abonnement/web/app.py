"""The admin center mounted into the FastAPI app: `mount(app, engine, settings, pepper)`.

Pages live in `abonnement.web.pages`, one module per page (or group of pages), each with an
`APIRouter(route_class=WebRoute)` named `router`; add a new module to `PAGES` to mount it.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from abonnement.app import Abonnement
from abonnement.config import Settings
from abonnement.services import signin
from abonnement.web.core import HERE, PREFIX, WebState
from abonnement.web.pages import (
    billing_accounts,
    home,
    invoices,
    keys,
    licenses,
    operator_view,
    products,
    users,
)
from abonnement.web.pages import signin as signin_pages

#: The page modules, mounted in this order.
PAGES = (
    signin_pages,
    home,
    products,
    invoices,
    billing_accounts,
    keys,
    licenses,
    users,
    operator_view,
)


def mount(app: FastAPI, engine: Abonnement, settings: Settings, pepper: bytes) -> None:
    app.state.web = WebState(engine, settings, signin.Policy.of(settings), pepper)
    signin.dummy_hash()  # made now, so the first unknown address takes as long as any other
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="admin-static")
    for module in PAGES:
        app.include_router(module.router, include_in_schema=False)
