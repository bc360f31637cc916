"""bench/api_load.py end to end, for a few seconds: it builds its own PostgreSQL database, serves
the API in production mode, drives it with a real load generator, prints its figures as JSON,
and leaves nothing behind. (The figures themselves are not checked: the benchmark measures.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "api_load.py"
ADMIN_URL = os.environ.get(
    "ABONNEMENT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PHASE_KEYS = {"requests", "requests_per_s", "p50_ms", "p99_ms", "errors"}
pytestmark = pytest.mark.integration

# the Python client always; wrk too where it is installed (`apt-get install wrk`)
CLIENTS = ["httpx", *(["wrk"] if shutil.which("wrk") else [])]


def _databases() -> set[str]:
    admin = ADMIN_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        return {row[0] for row in conn.execute("SELECT datname FROM pg_database")}


@pytest.mark.parametrize("client", CLIENTS)
def test_a_short_run_prints_every_figure_without_errors_and_drops_its_database(
    client: str,
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--duration",
            "2",
            "--warmup",
            "1",
            "--orgs",
            "2",
            "--people",
            "40",
            "--workers",
            "2",  # as production runs it: a supervisor and its worker processes
            # one connection per wrk thread: a lane's requests answered in the order sent (with a
            # few lanes, more connections let a take-back overtake its own assignment on a busy
            # machine, a refusal that says nothing about the server)
            "--connections",
            "2",
            "--client",
            client,
            "--postgres",
            ADMIN_URL,
            # 4 keys at full speed would each send several times the 100 requests/s a key may
            # (the benchmark's own 32 keys stay far below it): no rate limit here
            "--server-env",
            "ABONNEMENT_RATE_LIMIT_PER_SECOND=0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)  # stdout is the JSON alone
    for phase in ("license_mix", "idempotent_mix", "authenticated_get", "health"):
        figures = report[phase]
        assert figures.keys() >= PHASE_KEYS, figures
        assert figures["errors"] == 0, figures
        assert figures["requests"] > 0, figures
        assert figures["p50_ms"] <= figures["p99_ms"], figures
    assert report["license_mix"]["assignments_per_s"] > 0
    assert report["idempotent_mix"]["assignments_per_s"] > 0
    # only the idempotent phase sends keys: each of its requests left one answer for replays
    assert report["license_mix"]["idempotency_keys_stored"] == 0
    idempotent = report["idempotent_mix"]
    assert idempotent["idempotency_keys_stored"] >= idempotent["requests"]
    assert report["server"]["workers"] == 2
    assert report["server"]["environment"] == "production"
    assert report["server"]["database"].startswith("postgresql")
    assert report["client"]["kind"] == client
    assert report["uptime_before"] and report["uptime_after"]
    assert report["machine_before"]["probe_ms"] > 0 < report["machine_after"]["probe_ms"]
    assert report["server"]["database_name"] not in _databases()
