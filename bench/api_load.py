#!/usr/bin/env python3
"""The REST API under load: license assignments per second, and their latency.

    .venv/bin/python bench/api_load.py                  # 20 s measured after 5 s of warm-up
    .venv/bin/python bench/api_load.py --duration 60 --workers 2 --connections 64
    make bench-api

What it does, from nothing:

1. creates a PostgreSQL database of its own (``--postgres``, default the local server, user
   postgres) and migrates it;
2. seeds it through the services: a product and its offer, ``--orgs`` organizations, each with a
   card on file, a global admin and a license admin (each with a real API key, HMAC'd with the
   server secret) and ``--people`` people, and a subscription with a license for each of them;
3. starts ``abonnement serve`` as production runs it: ``ABONNEMENT_ENVIRONMENT=production`` with
   a freshly generated secret, ``--workers N``, access log off, on that database;
4. drives it from a separate load-generator process on this machine (``wrk`` with
   ``bench/api_load.lua`` when it is installed, otherwise ``bench/api_load_client.py``, an
   asyncio httpx client; ``--client`` chooses), every phase for ``--warmup`` seconds that are
   thrown away and then ``--duration`` seconds that are measured:

   - ``license_mix``: ``POST /v1/organizations/{id}/licenses/{sku}/assign`` and ``/unassign``,
     half each, one user per call, every admin key of every organization at once;
   - ``idempotent_mix``: the same, with an ``Idempotency-Key`` of its own on every request, as a
     careful client sends them (each is a first request, whose answer is kept for replays);
   - ``authenticated_get``: ``GET /v1/organizations/{id}`` with the same keys (authentication
     and one read: the cheapest use case);
   - ``health``: ``GET /health`` (no key, no database: the HTTP stack alone);
5. prints one JSON document (requests/s, p50/p99 latency in ms, errors per phase, the server's
   and the client's settings, and ``uptime`` before and after: the machine may be shared), then
   stops the server and drops the database.

Progress goes to stderr; stdout is the JSON alone.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import psycopg
from machine import probe
from psycopg import sql

from abonnement.app import Abonnement
from abonnement.config import Settings
from abonnement.services import apikeys, catalog, organizations, subscriptions
from abonnement.services.context import Context
from abonnement.store.db import POOL_SIZE

BENCH = Path(__file__).resolve().parent
CLIENT_SCRIPT = BENCH / "api_load_client.py"
LUA_SCRIPT = BENCH / "api_load.lua"
SKU = "BENCH-STD"
OFFER = "bench-monthly"
CARD: dict[str, Any] = {
    "card_number": "4242424242424242",
    "exp_month": 12,
    "exp_year": 2030,
    "cvc": "123",
}
#: wrk: a lane unassigns the user it assigned this many of its own steps earlier, long after that
#: request was answered (each wrk thread interleaves all its lanes and has few connections each).
WRK_LAG = 16
PHASES = ("license_mix", "idempotent_mix", "authenticated_get", "health")


def log(message: str) -> None:
    sys.stderr.write(f"[api_load] {message}\n")
    sys.stderr.flush()


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return Path("/proc/loadavg").read_text().strip()


# -- the database ---------------------------------------------------------------------------------
def _admin_url(postgres: str) -> str:
    """psycopg's own URL form (no SQLAlchemy driver suffix)."""
    return postgres.replace("postgresql+psycopg://", "postgresql://", 1)


@contextmanager
def scratch_database(postgres: str) -> Iterator[str]:
    """A database of our own on the PostgreSQL server, dropped at the end whatever happens."""
    name = f"abonnement_bench_api_{os.getpid()}_{secrets.token_hex(3)}"
    admin = _admin_url(postgres)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base, _, _ = admin.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def postgres_version(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def count_rows(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        found = row.fetchone()
    return int(found[0]) if found else 0


def clear_assignments(url: str) -> None:
    """Between runs: every lane starts again from nobody assigned (the load generators keep no
    state across runs). First the server finishes what the last run left queued: requests that
    wrk gave up on still run to their commit."""
    with psycopg.connect(url, autocommit=True) as conn:
        deadline, quiet = time.monotonic() + 60, 0
        while quiet < 3 and time.monotonic() < deadline:
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state <> 'idle'"
            ).fetchone()
            quiet = quiet + 1 if busy and busy[0] == 0 else 0
            time.sleep(0.2)
        conn.execute("DELETE FROM license_assignments")


# -- the tenants ----------------------------------------------------------------------------------
@dataclass
class Lane:
    """One admin's stream of requests: their organization, key, and the people they assign."""

    org: int
    key: str
    users: list[int] = field(default_factory=list)

    def plan(self) -> dict[str, Any]:
        return {"org": self.org, "key": self.key, "users": self.users}


def seed(engine: Abonnement, pepper: bytes, orgs: int, people: int) -> list[Lane]:
    """Organizations with two admins each (global admin, license admin), each with an API key,
    people, and one subscription with a license for every person. Two lanes per organization,
    each admin assigning half of its people."""
    op = engine.operator
    engine.run(op, catalog.create_product, SKU, "Business Standard", [("EXO", "Exchange Online")])
    engine.run(
        op,
        catalog.create_offer,
        code=OFFER,
        product_sku=SKU,
        name="Business Standard (monthly)",
        prices={"EUR": 1250, "NOK": 14000},
    )
    lanes: list[Lane] = []
    for n in range(1, orgs + 1):
        org = engine.run(
            op,
            organizations.create_organization,
            name=f"Tenant {n}",
            country="NL",
            currency="EUR",
            time_zone="Europe/Amsterdam",
        )
        engine.run(op, organizations.add_payment_method, org.id, kind="card", **CARD)
        admins = {}
        for role in ("global_admin", "license_admin"):
            user = engine.run(
                op,
                organizations.add_user,
                org.id,
                email=f"{role}@tenant{n}.example",
                display_name=role.replace("_", " ").title(),
                roles=[role],
            )
            admins[role] = user.id

        def add_people(ctx: Context, org_id: int = org.id, n: int = n) -> list[int]:
            return [
                organizations.add_user(
                    ctx,
                    org_id,
                    email=f"person{i}@tenant{n}.example",
                    display_name=f"Person {i}",
                ).id
                for i in range(people)
            ]

        person_ids = engine.run(op, add_people)
        buyer = engine.actor(f"global_admin@tenant{n}.example")
        engine.run(buyer, subscriptions.buy, org.id, OFFER, quantity=max(people, 1))
        for i, user_id in enumerate(admins.values()):
            key = engine.run(
                op, apikeys.create_user_key, user_id, label="api_load", pepper=pepper
            ).key
            lanes.append(Lane(org.id, key, person_ids[i::2]))
    return lanes


# -- the server -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def abonnement_command() -> list[str]:
    script = Path(sys.executable).parent / "abonnement"
    if script.exists():
        return [str(script)]
    found = shutil.which("abonnement")
    if found is None:
        raise SystemExit("the abonnement command is not installed (make setup)")
    return [found]


@contextmanager
def server(
    database_url: str, secret: str, workers: int, port: int, extra_env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "ABONNEMENT_ENVIRONMENT": "production",
        "ABONNEMENT_SECRET_KEY": secret,
        "ABONNEMENT_DATABASE_URL": database_url,
        **extra_env,
    }
    command = [
        *abonnement_command(),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
    ]
    log(f"starting: {' '.join(command)}")
    with tempfile.TemporaryFile() as server_log:
        process = subprocess.Popen(
            command, env=env, stdout=server_log, stderr=server_log, start_new_session=True
        )
        try:
            wait_until_up(process, f"http://127.0.0.1:{port}", workers, server_log)
            log(f"server up: pid {process.pid}, port {port}")
            yield process
        finally:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            if os.environ.get("API_LOAD_DEBUG"):  # the server's own log, after the figures
                server_log.seek(0)
                sys.stderr.write(server_log.read().decode(errors="replace"))


def wait_until_up(
    process: subprocess.Popen[bytes], url: str, workers: int, server_log: IO[bytes]
) -> None:
    deadline = time.monotonic() + 120  # a loaded machine imports slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server_log.seek(0)
            output = server_log.read().decode(errors="replace")
            raise SystemExit(f"the server exited with {process.returncode}:\n{output}")
        with suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                # every worker must have started, not just the first one to answer
                time.sleep(1.0 if workers > 1 else 0.2)
                return
        time.sleep(0.1)
    server_log.seek(0)
    output = server_log.read().decode(errors="replace")[-4000:]
    raise SystemExit(f"the server did not answer /health within 120 s:\n{output}")


# -- the load generators --------------------------------------------------------------------------
def run_wrk(
    url: str, plan_path: Path, phase: str, seconds: float, connections: int, threads: int
) -> dict[str, Any]:
    command = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(plan_path),
        phase,
        str(threads),
        secrets.token_hex(4),  # this run's own Idempotency-Keys (idempotent_mix)
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}")
    marker = "API_LOAD_RESULT "
    for line in done.stdout.splitlines():
        if line.startswith(marker):
            result: dict[str, Any] = json.loads(line[len(marker) :])
            result["client_cpu_s"] = round(cpu, 2)
            return result
    raise SystemExit(f"wrk printed no result:\n{done.stdout}")


def run_httpx(
    url: str,
    plan_path: Path,
    phase: str,
    warmup: float,
    seconds: float,
    connections: int,
    processes: int,
) -> dict[str, Any]:
    """`processes` client processes sharing `connections`; their latencies merged."""
    runs = []
    for index in range(processes):
        command = [
            sys.executable,
            str(CLIENT_SCRIPT),
            "--url",
            url,
            "--plan",
            str(plan_path),
            "--phase",
            phase,
            "--warmup",
            str(warmup),
            "--duration",
            str(seconds),
            "--connections",
            str(connections),
            "--part",
            f"{index}/{processes}",
        ]
        runs.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    parts = []
    for process in runs:
        out, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"the load client failed:\n{err.decode(errors='replace')}")
        parts.append(json.loads(out))
    latencies = sorted(ms for part in parts for ms in part["latencies_ms"])
    requests = sum(part["requests"] for part in parts)
    statuses: dict[str, int] = {}
    for part in parts:
        for status, count in part["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    elapsed = max(part["seconds"] for part in parts)
    return {
        "requests": requests,
        "seconds": elapsed,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "errors": sum(part["errors"] for part in parts),
        "statuses": statuses,
        "client_cpu_s": round(sum(part["cpu_s"] for part in parts), 2),
    }


def percentile(sorted_values: list[float], pct: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return round(sorted_values[index], 2)


def phase_figures(raw: dict[str, Any]) -> dict[str, Any]:
    seconds = raw["seconds"] or 1
    figures = {
        "requests": raw["requests"],
        "requests_per_s": round(raw["requests"] / seconds, 1),
        "p50_ms": raw["p50_ms"],
        "p99_ms": raw["p99_ms"],
        "errors": raw["errors"],
    }
    figures.update({k: v for k, v in raw.items() if k not in figures and k != "seconds"})
    figures["seconds"] = round(seconds, 2)
    return figures


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU of the server and its worker processes so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    with suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    for p in pids:
        with suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


# -- main -----------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=5, help="warm-up seconds per phase")
    parser.add_argument("--workers", type=int, default=2, help="abonnement serve --workers")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections")
    parser.add_argument("--orgs", type=int, default=16, help="organizations (two admins each)")
    parser.add_argument("--people", type=int, default=96, help="people per organization")
    parser.add_argument("--client", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--client-processes", type=int, default=1, help="httpx client processes")
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated phases")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "ABONNEMENT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL database to create the benchmark's own database from",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra setting for the server (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.client == "auto":
        args.client = "wrk" if shutil.which("wrk") else "httpx"
    if args.client == "wrk":
        if args.people // 2 < WRK_LAG + 2:
            parser.error(f"wrk needs --people {2 * (WRK_LAG + 2)} or more per organization")
        if 2 * args.orgs < args.threads:
            parser.error("wrk needs at least one admin key per thread: raise --orgs")
    args.phases = [p for p in args.phases.split(",") if p]
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    secret = secrets.token_urlsafe(48)
    extra_env = dict(item.split("=", 1) for item in args.server_env)
    report: dict[str, Any] = {
        "benchmark": "api_load",
        "uptime_before": uptime(),
        "machine_before": probe(),
    }
    with scratch_database(args.postgres) as url, tempfile.TemporaryDirectory() as tmp:
        log(f"database {url.rpartition('/')[2]}: migrating and seeding")
        settings = Settings(database_url=url, environment="production", secret_key=secret)
        engine = Abonnement(settings)
        try:
            engine.migrate()
            started = time.monotonic()
            lanes = seed(engine, apikeys.server_secret(settings), args.orgs, args.people)
            seeded = time.monotonic() - started
        finally:
            engine.close()
        plan_path = Path(tmp) / ("plan.lua" if args.client == "wrk" else "plan.json")
        write_plan(plan_path, lanes, args)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        report["server"] = {
            "command": f"abonnement serve --workers {args.workers} --no-access-log",
            "workers": args.workers,
            "environment": "production",
            "access_log": False,
            "event_loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
            "http_parser": "httptools" if importlib.util.find_spec("httptools") else "h11",
            "pool_size_per_worker": POOL_SIZE,
            "database": f"postgresql {postgres_version(url)}",
            "database_name": url.rpartition("/")[2],
            **({"settings": extra_env} if extra_env else {}),
        }
        report["client"] = {
            "kind": args.client,
            "connections": args.connections,
            **({"threads": args.threads} if args.client == "wrk" else {}),
            **({"processes": args.client_processes} if args.client == "httpx" else {}),
            "warmup_s": args.warmup,
            "duration_s": args.duration,
        }
        report["data"] = {
            "organizations": args.orgs,
            "api_keys": len(lanes),
            "people": args.orgs * args.people,
            "seed_s": round(seeded, 1),
        }
        report["cores"] = os.cpu_count()
        with server(url, secret, args.workers, port, extra_env) as process:
            for phase in args.phases:
                log(f"{phase}: {args.warmup:g} s warm-up, {args.duration:g} s measured")
                clear_assignments(url)
                cpu_before = server_cpu_seconds(process.pid)
                if args.client == "wrk":
                    if args.warmup > 0:
                        run_wrk(base, plan_path, phase, args.warmup, args.connections, args.threads)
                        clear_assignments(url)
                    cpu_before = server_cpu_seconds(process.pid)
                    raw = run_wrk(
                        base, plan_path, phase, args.duration, args.connections, args.threads
                    )
                else:
                    raw = run_httpx(
                        base,
                        plan_path,
                        phase,
                        args.warmup,
                        args.duration,
                        args.connections,
                        args.client_processes,
                    )
                figures = phase_figures(raw)
                cpu = server_cpu_seconds(process.pid) - cpu_before
                figures["server_cpu_s"] = round(cpu, 1)
                if phase in ("license_mix", "idempotent_mix"):
                    # one user per call: each request is one license assigned or taken back
                    figures["assignments_per_s"] = figures["requests_per_s"]
                # answers kept for replays so far (idempotent_mix adds one per request)
                figures["idempotency_keys_stored"] = count_rows(url, "idempotency_keys")
                report[phase] = figures
                log(
                    f"{phase}: {figures['requests_per_s']} requests/s, p50 {figures['p50_ms']} ms, "
                    f"p99 {figures['p99_ms']} ms, {figures['errors']} errors "
                    f"{figures.get('error_kinds') or figures.get('statuses') or ''}"
                )
    report["uptime_after"] = uptime()
    report["machine_after"] = probe()
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    failed = any(report[p]["errors"] for p in args.phases)
    return 1 if failed else 0


def write_plan(path: Path, lanes: list[Lane], args: argparse.Namespace) -> None:
    """The lanes, for the load generator: JSON for the httpx client, a Lua table for wrk."""
    if args.client == "wrk":
        rows = ",\n".join(
            f'  {{org = {lane.org}, key = "{lane.key}", users = {{'
            + ", ".join(str(u) for u in lane.users)
            + "}}"
            for lane in lanes
        )
        path.write_text(
            f'return {{\n lag = {WRK_LAG},\n sku = "{SKU}",\n lanes = {{\n{rows}\n }}\n}}\n'
        )
    else:
        path.write_text(json.dumps({"sku": SKU, "lanes": [lane.plan() for lane in lanes]}))


if __name__ == "__main__":
    sys.exit(main())
