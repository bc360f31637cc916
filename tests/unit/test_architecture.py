"""The domain stays pure: no database, web, clock or I/O imports."""

from __future__ import annotations

import ast
from pathlib import Path

import abonnement.domain

DOMAIN = Path(abonnement.domain.__file__).parent
FORBIDDEN_MODULES = (
    "sqlalchemy",
    "fastapi",
    "starlette",
    "alembic",
    "psycopg",
    "typer",
    "rich",
    "os",
    "time",
    "socket",
    "abonnement.store",
    "abonnement.services",
    "abonnement.clock",
    "abonnement.config",
    "abonnement.cli",
)
FORBIDDEN_CALLS = ("now", "today", "utcnow", "open")


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_domain_imports_no_database_web_clock_or_io() -> None:
    offenders = []
    for path in sorted(DOMAIN.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name in _imports(tree):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_MODULES):
                offenders.append(f"{path.name} imports {name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called in FORBIDDEN_CALLS:
                    offenders.append(f"{path.name}:{node.lineno} calls {called}()")
    assert offenders == []
