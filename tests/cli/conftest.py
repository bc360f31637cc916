"""Running the `abonnement` command in-process against a database of the test's own."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from abonnement.cli.main import app

ADMIN_URL = os.environ.get(
    "ABONNEMENT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@dataclass
class Cli:
    """`cli("sub", "show", "3")` runs `abonnement sub show 3` on this test's database."""

    database_url: str

    def __call__(
        self, *args: str, lang: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        argv = (["--lang", lang] if lang else []) + list(args)
        environment: dict[str, str | None] = {
            "ABONNEMENT_DATABASE_URL": self.database_url,
            "ABONNEMENT_LOCALE": None,
            "COLUMNS": "220",
            **(env or {}),
        }
        return CliRunner().invoke(app, argv, env=environment)

    def ok(self, *args: str, lang: str | None = None) -> Result:
        result = self(*args, lang=lang)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str) -> Any:
        """Run with --json and parse what it prints."""
        result = self.ok("--json", *args)
        return json.loads(result.stdout)


def no_traceback(result: Result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "cli.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def cli(sqlite_url: str) -> Cli:
    return Cli(sqlite_url)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own (abonnement_cli_<random>), dropped afterwards."""
    import psycopg

    name = f"abonnement_cli_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
            # as the integration tests' databases (tests/conftest.py): no WAL flush per commit
            conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    except psycopg.OperationalError as exc:  # pragma: no cover - depends on the machine
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}", pytrace=False)
    base, _, _ = ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Shop:
    """A small catalog and one organization with a global admin, a license admin and a card."""

    cli: Cli
    org: int
    admin: str
    license_admin: str
    people: list[int]

    def as_admin(self, *args: str) -> Result:
        return self.cli("--as", self.admin, *args)

    def sub(self, offer: str, *extra: str) -> dict[str, Any]:
        result: dict[str, Any] = self.cli.json(
            "--as", self.admin, "sub", "buy", str(self.org), offer, *extra
        )
        return result


@pytest.fixture
def shop(cli: Cli) -> Shop:
    cli.ok("catalog", "product-add", "STD", "Business Standard", "--plan", "EXO=Exchange Online")
    cli.ok("catalog", "product-add", "BASIC", "Business Basic")
    cli.ok(
        "catalog", "offer-add", "std-monthly", "--product", "STD", "--name",
        "Business Standard (monthly)", "--price", "EUR=1250", "--price", "NOK=14000",
        "--trial-days", "30", "--trial-licenses", "25",
    )  # fmt: skip
    cli.ok(
        "catalog", "offer-add", "basic-monthly", "--product", "BASIC", "--name",
        "Business Basic (monthly)", "--price", "EUR=600", "--price", "NOK=6700",
    )  # fmt: skip
    org = cli.json("org", "create", "Contoso", "--country", "NO", "--currency", "NOK")["id"]
    cli.ok("user", "add", str(org), "admin@contoso.example", "Ada Admin", "--role", "global_admin")
    cli.ok("user", "add", str(org), "lic@contoso.example", "Lis License", "--role", "license_admin")
    cli.ok(
        "payment",
        "add",
        str(org),
        "--kind",
        "card",
        "--card-number",
        "4242424242424242",
        "--expiry",
        "12/2030",
        "--cvc",
        "123",
    )
    people = [
        cli.json("user", "add", str(org), f"p{i}@contoso.example", f"Person {i}")["id"]
        for i in range(3)
    ]
    return Shop(cli, org, "admin@contoso.example", "lic@contoso.example", people)
