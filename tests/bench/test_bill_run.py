"""bench/bill_run.py end to end at a tiny N, on SQLite and on PostgreSQL: it builds its own
database through the migrations, runs `abonnement bill` over it, prints every figure as JSON
and leaves nothing behind. The figures themselves are not checked (the benchmark measures);
what the run did is: every subscription renewed, every organization got its statement."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "bill_run.py"
ADMIN_URL = os.environ.get(
    "ABONNEMENT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
FIGURES = {
    "subscriptions_per_s",
    "ledger_rows_per_s",
    "peak_rss_mib",
    "raw_insert_rows_per_s",
    "rows_written_per_s",
    "run_seconds",
    "load_before",
    "load_after_run",
}


def _databases() -> set[str]:
    """The benchmark's databases on the server (other runs' come and go beside them)."""
    admin = ADMIN_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        names = [row[0] for row in conn.execute("SELECT datname FROM pg_database")]
    return {name for name in names if re.fullmatch(r"abonnement_bench_[0-9a-f]{8}", name)}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_tiny_run_prints_every_figure_and_bills_every_subscription(backend: str) -> None:
    before = _databases() if backend == "postgresql" else set()
    command = [sys.executable, str(BENCH), "--n", "200", "--workers", "2"]
    if backend == "postgresql":
        command += ["--database-url", ADMIN_URL]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert set(figures) >= FIGURES
    assert figures["database"] == backend
    assert figures["n"] == 200
    assert figures["load_before"]["probe_ms"] > 0  # the machine's speed, beside its figures
    assert figures["failed"] == 0
    data = figures["data"]
    # Every subscription came to the end of its term: renewed, or expired with recurring off.
    assert figures["renewed"] + data["expiring"] == 200
    # A statement for every organization but those whose every subscription expired.
    assert figures["organizations"] - data["expiring"] <= figures["events"]["invoice.issued"]
    assert figures["events"]["invoice.issued"] <= figures["organizations"]
    assert figures["events"].get("invoice.payment_failed", 0) == data["declining_organizations"]
    assert figures["ledger_rows"] > 0 and figures["peak_rss_mib"] > 0
    if backend == "postgresql":
        assert _databases() <= before  # its database was dropped
