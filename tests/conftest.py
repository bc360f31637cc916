"""Shared test fixtures: a database per backend per test run.

Integration tests run on SQLite and on PostgreSQL. PostgreSQL is found at
ABONNEMENT_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres); each run
creates its own database there and drops it afterwards, so runs never collide. A missing
PostgreSQL fails the run; set ABONNEMENT_TEST_SKIP_POSTGRES=1 to run SQLite alone on purpose
(refused when CI=true).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from abonnement.app import Abonnement
from abonnement.clock import FixedClock
from abonnement.config import Settings
from abonnement.store.db import make_engine
from abonnement.store.migrate import upgrade
from abonnement.store.models import Base

ADMIN_URL = os.environ.get(
    "ABONNEMENT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SKIP_POSTGRES = os.environ.get("ABONNEMENT_TEST_SKIP_POSTGRES") == "1"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: Test databases do not wait for PostgreSQL to flush the WAL at each commit: what a commit
#: makes visible, and when, is unchanged; only a crash of the PostgreSQL server itself could
#: lose the last commits of a database that is dropped at the end of the run anyway.
NO_COMMIT_FLUSH = 'ALTER DATABASE "{name}" SET synchronous_commit = off'

#: The slowest tests, slowest first. Under xdist they are handed out before everything else, one
#: to each worker, so that no worker starts one of them when the others are nearly done (`make
#: test` runs pytest with --maxschedchunk 1: each worker takes its next test when it needs one).
SLOW_FIRST = (
    "tests/integration/test_clocks.py::test_real_runs_killed_at_random_points",
    "tests/integration/test_money_properties.py::",
    "tests/integration/test_billing_run_safety.py::test_the_batched_run_writes_exactly",
    "tests/cli/test_demo.py::test_demo_runs_again",
    "tests/bench/",
    "tests/cli/test_demo.py::",
    "tests/api/test_schemathesis.py::",
    "tests/unit/domain/test_invoicing.py::test_r7_charged_equals",
    "tests/api/test_idempotency.py::test_r6_two_server_processes",
    "tests/api/test_rate_limits.py::test_two_server_processes",
    "tests/api/test_matrices.py::test_r1_role_matrix",
    "tests/unit/domain/test_invoicing.py::test_the_generator_gives",
    "tests/integration/test_clocks.py::test_bill_with_workers",
    "tests/web/test_signin.py::test_the_session_holds_on_another_server",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, the tests of SLOW_FIRST first (the rest keep their order). Each worker is
    first sent two tests; the slowest go first to each worker, the next ones second, the
    slowest of those to the worker whose first is the quickest."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers < 2:
        return

    def rank(item: pytest.Item) -> int:
        return next(
            (i for i, prefix in enumerate(SLOW_FIRST) if item.nodeid.startswith(prefix)),
            len(SLOW_FIRST),
        )

    ranked = sorted(items, key=rank)  # stable: the rest stay in collection order
    slow = [item for item in ranked if rank(item) < len(SLOW_FIRST)]
    firsts, seconds = slow[:workers], slow[workers : 2 * workers][::-1]
    head = [item for pair in itertools.zip_longest(firsts, seconds) for item in pair if item]
    items[:] = head + ranked[len(head) :]


def _psycopg_url(url: str, database: str | None = None) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _backends() -> list[str]:
    if SKIP_POSTGRES and not IN_CI:
        return ["sqlite"]
    return ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def worker_tag(request: pytest.FixtureRequest) -> str:
    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
    return f"{worker}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per run; each test copies it."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database(worker_tag: str) -> Iterator[str]:
    """A migrated PostgreSQL database of this run's own, dropped at the end."""
    import psycopg

    name = f"abonnement_test_{worker_tag}"
    admin = _psycopg_url(ADMIN_URL).replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
            conn.execute(NO_COMMIT_FLUSH.format(name=name))
    except psycopg.OperationalError as exc:  # pragma: no cover - depends on the machine
        pytest.fail(
            f"PostgreSQL is needed for the integration tests and is not reachable at {ADMIN_URL}: "
            f"{exc}. Start it, or set ABONNEMENT_TEST_POSTGRES_URL.",
            pytrace=False,
        )
    url = _psycopg_url(ADMIN_URL, name)
    upgrade(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate(engine: Engine) -> None:
    tables = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=_backends())
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """The URL of an empty, migrated database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "abonnement.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_database")
    engine = make_engine(url)
    _truncate(engine)
    engine.dispose()
    yield url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def app(database_url: str, clock: FixedClock) -> Iterator[Abonnement]:
    application = Abonnement(Settings(database_url=database_url), clock=clock)
    yield application
    application.close()


#: The tables `billing_batch_rows.load` reads (the cursors are checked on their own).
BILLING_INPUTS = {
    "organizations",
    "subscriptions",
    "billing_segments",
    "invoice_lines",
    "billing_accounts",
    "payment_methods",
    "dunning_cases",
    "license_graces",
    "test_clocks",
    "ledger_entries",
    "offers",
    "offer_prices",
}
#: A write to a table, anywhere in a statement (PostgreSQL writes an audit record and its event
#: in one: WITH a AS (INSERT INTO audit_log …) INSERT INTO events …).
_WRITE = re.compile(r'\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)


@pytest.fixture
def unaudited_writes() -> Iterator[list[set[str]]]:
    """The billing inputs each committed transaction wrote without an audit record or a
    cursor move beside them. SQLite's billing batches rely on there being none: they read
    apart from the write lock and take a newer audit record of their organizations (or of the
    catalog), or a moved cursor, for a change since (`billing_batch._changed`)."""
    written: dict[int, set[str]] = defaultdict(set)
    found: list[set[str]] = []

    def on_execute(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        written[id(conn)].update(table.lower() for table in _WRITE.findall(statement))

    def on_commit(conn: Any) -> None:
        tables = written.pop(id(conn), set())
        if tables & BILLING_INPUTS and not tables & {"audit_log", "billing_cursors"}:
            found.append(tables)

    def on_rollback(conn: Any) -> None:
        written.pop(id(conn), None)

    event.listen(Engine, "before_cursor_execute", on_execute)
    event.listen(Engine, "commit", on_commit)
    event.listen(Engine, "rollback", on_rollback)
    try:
        yield found
    finally:
        event.remove(Engine, "before_cursor_execute", on_execute)
        event.remove(Engine, "commit", on_commit)
        event.remove(Engine, "rollback", on_rollback)
