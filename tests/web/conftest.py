"""The admin center in a real browser: `abonnement serve` in a process of its own on a temporary
database (SQLite, then PostgreSQL), driven by Debian's Chromium through Playwright.

- `web`: the running server for the backend of the test (one server per backend per test
  worker, started at first use), with `web.tenant()` to make an organization with one admin
  per role (each with the password `PASSWORD`), a card on file and a test clock standing at
  `START`, so every amount on the pages is the same on every run.
- `browser`: the session's Chromium; `page_in(web, lang)` opens a fresh browser context (its
  own cookies) whose Accept-Language is `lang`.
- `sign_in(page, web, email)`, `shot(page, name)` (a full-page screenshot under `ARTIFACTS`,
  printed at the end of the run).

Setup that is not under test (catalog, organizations, people, purchases) goes straight through
the services on the same database; everything a test checks goes through the browser.

A missing Chromium fails the run (`make test` installs it when it can); set
ABONNEMENT_TEST_SKIP_BROWSER=1 to leave the browser tests out on purpose (refused when CI=true).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from abonnement.app import Abonnement
from abonnement.clock import FixedClock
from abonnement.config import Settings
from abonnement.services import catalog, clocks, organizations, signin
from abonnement.store.migrate import upgrade

pytestmark = pytest.mark.integration

ADMIN_URL = os.environ.get(
    "ABONNEMENT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SKIP_POSTGRES = os.environ.get("ABONNEMENT_TEST_SKIP_POSTGRES") == "1"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = Path(os.environ.get("ABONNEMENT_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SKIP_BROWSER = os.environ.get("ABONNEMENT_TEST_SKIP_BROWSER") == "1" and not IN_CI
ROOT = Path(__file__).resolve().parents[2]
#: Screenshots of the key pages, kept after the run (printed in the run's summary).
ARTIFACTS = Path(
    os.environ.get("ABONNEMENT_TEST_ARTIFACTS", ROOT / "var" / "test-artifacts" / "web")
)
SECRET = "test-only-web-7Hq2Lm9Xc4Vb8Nz3Rt6Wk1Pd5"
PASSWORD = "correct horse battery staple"
ROLES = ("global_admin", "billing_admin", "license_admin", "user_admin", "global_reader")
CARD = {"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
#: Seconds `abonnement serve` may take to answer /health (generous: the machine may be busy).
START_TIMEOUT = 120
#: Milliseconds a page action or an expectation waits before it fails.
BROWSER_TIMEOUT = 20_000
expect.set_options(timeout=BROWSER_TIMEOUT)
#: Every test organization's test clock starts here: a Monday, the first day of its periods.
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ARTIFACTS.exists() and any(ARTIFACTS.glob("*.png")):
        terminalreporter.write_line(f"admin center screenshots: {ARTIFACTS}")


def _backends() -> list[str]:
    if SKIP_POSTGRES and not IN_CI:
        return ["sqlite"]
    return ["sqlite", "postgresql"]


# -- the server ---------------------------------------------------------------------------------
def _psycopg_url(url: str, database: str | None = None) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """`abonnement serve` as a child process on 127.0.0.1."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.database_url = database_url
        self.port = _free_port()
        self.log = workdir / f"serve-{self.port}.log"
        env = {
            **os.environ,
            "ABONNEMENT_DATABASE_URL": database_url,
            "ABONNEMENT_SECRET_KEY": SECRET,
            "ABONNEMENT_SECRET_KEY_FILE": str(workdir / "secret_key"),
        }
        executable = Path(sys.executable).parent / "abonnement"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(executable), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=workdir,
            )
        self._wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"abonnement serve exited: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"abonnement serve did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@dataclass
class Tenant:
    id: int
    name: str
    emails: dict[str, str] = field(default_factory=dict)  # role -> email
    users: dict[str, int] = field(default_factory=dict)  # role -> user id
    people: list[int] = field(default_factory=list)


class Web:
    """The running admin center and the engine the tests set data up with."""

    def __init__(self, server: Server, engine: Abonnement, backend: str) -> None:
        self.server = server
        self.engine = engine
        self.backend = backend
        self.op = engine.operator
        self._n = itertools.count(1)

    @property
    def url(self) -> str:
        return self.server.url

    def tenant(
        self,
        name: str = "Contoso",
        *,
        currency: str = "EUR",
        country: str = "NL",
        locale: str | None = None,
        card: bool = True,
    ) -> Tenant:
        """An organization with one admin per role (password `PASSWORD`), a card on file and a
        test clock at `START`."""
        tag = uuid.uuid4().hex[:8]
        run, op = self.engine.run, self.op
        org = run(
            op,
            organizations.create_organization,
            name=name,
            country=country,
            currency=currency,
            time_zone="Europe/Oslo",
            locale=locale or "en",
        )
        run(op, clocks.attach, org.id, START)
        tenant = Tenant(org.id, name)
        for role in ROLES:
            email = f"{role.replace('_', '.')}.{tag}@{name.lower().replace(' ', '')}.example"
            user = run(
                op,
                organizations.add_user,
                org.id,
                email=email,
                display_name=role.replace("_", " ").title(),
                roles=[role],
            )
            run(op, signin.set_password, user.id, PASSWORD)
            tenant.emails[role] = email
            tenant.users[role] = user.id
        if card:
            run(op, organizations.add_payment_method, org.id, kind="card", **CARD)
        return tenant

    def people(self, tenant: Tenant, count: int) -> list[int]:
        ids = []
        tag = uuid.uuid4().hex[:6]
        for _ in range(count):
            n = next(self._n)
            user = self.engine.run(
                self.op,
                organizations.add_user,
                tenant.id,
                email=f"person{n}.{tag}@example.org",
                display_name=f"Person {n}",
            )
            ids.append(user.id)
        tenant.people.extend(ids)
        return ids

    def actor(self, tenant: Tenant, role: str = "global_admin") -> Any:
        return self.engine.actor(tenant.emails[role])


def _catalog(engine: Abonnement) -> None:
    run, op = engine.run, engine.operator
    run(op, catalog.create_product, "STD", "Business Standard", [("EXO", "Exchange Online")])
    run(op, catalog.create_product, "BASIC", "Business Basic", [])
    run(
        op,
        catalog.create_offer,
        code="std-monthly",
        product_sku="STD",
        name="Business Standard",
        prices={"EUR": 1250, "NOK": 14000, "DKK": 9300},
        trial_days=30,
        trial_licenses=25,
        channels=["online", "prepaid", "reseller", "volume"],
    )
    run(
        op,
        catalog.create_offer,
        code="basic-monthly",
        product_sku="BASIC",
        name="Business Basic",
        prices={"EUR": 600, "NOK": 6700, "DKK": 4500},
    )
    run(
        op,
        catalog.create_offer,
        code="std-annual-windowed",
        product_sku="STD",
        name="Business Standard (annual)",
        prices={"EUR": 15000, "NOK": 168000, "DKK": 111600},
        term="annual",
        billing_frequency="monthly",
        cancellation_model="windowed",
        cancellation_window_days=7,
    )


@pytest.fixture(scope="session")
def _web_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("web")


def _start(backend: str, workdir: Path, worker_tag: str) -> Iterator[Web]:
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'admin-center.db'}"
    else:
        import psycopg

        name = f"abonnement_web_{worker_tag}"
        admin = _psycopg_url(ADMIN_URL).replace("postgresql+psycopg://", "postgresql://", 1)
        try:
            with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
                # as the integration tests' databases (tests/conftest.py): no WAL flush per commit
                conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        except psycopg.OperationalError as exc:  # pragma: no cover - depends on the machine
            pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}", pytrace=False)
        url = _psycopg_url(ADMIN_URL, name)
    upgrade(url)
    # The tests' own engine stands at START too, so organizations begin there.
    engine = Abonnement(Settings(database_url=url, secret_key=SECRET), clock=FixedClock(START))
    _catalog(engine)
    server = Server(url, workdir)
    try:
        yield Web(server, engine, backend)
    finally:
        server.stop()
        engine.close()
        if backend == "postgresql":
            import psycopg

            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def web_sqlite(_web_workdir: Path, worker_tag: str) -> Iterator[Web]:
    yield from _start("sqlite", _web_workdir, worker_tag)


@pytest.fixture(scope="session")
def web_postgresql(_web_workdir: Path, worker_tag: str) -> Iterator[Web]:
    yield from _start("postgresql", _web_workdir, worker_tag)


@pytest.fixture(params=_backends())
def web(request: pytest.FixtureRequest) -> Web:
    """The admin center served on SQLite, then on PostgreSQL."""
    server: Web = request.getfixturevalue(f"web_{request.param}")
    return server


@pytest.fixture
def web_sqlite_only(web_sqlite: Web) -> Web:
    """For browser tests whose subject has nothing to do with the database."""
    return web_sqlite


# -- the browser ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if SKIP_BROWSER:
        pytest.skip("ABONNEMENT_TEST_SKIP_BROWSER=1: browser tests left out on purpose")
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is needed for the admin center's browser tests and is not at {CHROMIUM}. "
            "Install it with 'apt-get install -y chromium' (make test does when run as root), "
            "or point ABONNEMENT_TEST_CHROMIUM at it.",
            pytrace=False,
        )
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    yield chromium
    chromium.close()


@pytest.fixture
def page_in(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Any]:
    """`page_in(web, lang="en")`: a new page in a browser context of its own."""
    contexts = []

    def open_page(web: Web, lang: str = "en") -> Page:
        context = browser.new_context(
            base_url=web.url,
            locale=lang,
            extra_http_headers={"Accept-Language": lang},
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(BROWSER_TIMEOUT)
        contexts.append(context)
        page = context.new_page()
        page.shot_prefix = f"{request.node.name}"  # type: ignore[attr-defined]
        return page

    yield open_page
    for context in contexts:
        context.close()


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot under ARTIFACTS, named after the test and `name`."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "-", getattr(page, "shot_prefix", "page")).strip("-")
    path = ARTIFACTS / f"{prefix}-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the sign-in form, and land on Home."""
    page.goto("/admin/sign-in")
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    page.locator("form[action='/admin/sign-in'] button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/admin$"))


def reset_artifacts() -> None:  # pragma: no cover - a helper for running by hand
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
