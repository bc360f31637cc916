#!/usr/bin/env python3
"""bench/bill_run: the billing run at scale.

Builds N subscriptions that are all due on one day, through the real schema (the migrations of
`abonnement db upgrade`) and with the history real use leaves behind (purchase invoices, their
lines, payments and ledger entries; mid-period changes charged at once or left for the next
statement), then runs `abonnement bill` over them (the command itself, in its own process, with
`--workers`) and prints one JSON object:

    subscriptions_per_s, ledger_rows_per_s, peak_rss_mib (the run and its worker processes),
    rows_written_per_s (every row the run inserts, by table too), raw_insert_rows_per_s (a
    plain bulk insert of as many rows into the same database, in the same run, with the values
    in the driver's form beforehand so only the inserting is timed: the physical bound), the
    load of the machine, and what the run did.

    bench/bill_run.py                               # N = 1,000,000 on a fresh SQLite file
    bench/bill_run.py --n 100000 --workers 2
    bench/bill_run.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
        # a fresh database of its own on that server, created and dropped
    bench/bill_run.py --n 20000 --profile var/bill.txt   # py-spy: where the run's time goes

The data is built by bench/bill_world.py with bulk inserts (executemany on SQLite, COPY on
PostgreSQL), not through the use cases: a million purchases one by one would take hours. The
amounts still come from the engine's own domain code (proration, invoice totals, tax), so the run
sees consistent books.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if sys.prefix == sys.base_prefix and (ROOT / ".venv" / "bin" / "python").exists():
    # Run with the project's environment when started as `bench/bill_run.py`.
    os.execv(ROOT / ".venv" / "bin" / "python", [str(ROOT / ".venv" / "bin" / "python"), *sys.argv])

from bill_world import (  # noqa: E402
    COLUMNS,
    Database,
    Writer,
    _midnight,
    build,
    fresh_database,
)
from machine import probe  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from abonnement.store.migrate import upgrade  # noqa: E402


# -- measuring ------------------------------------------------------------------------------------
def _tree_rss_kib(root: int) -> int:
    """Resident memory of a process and all its descendants (Linux /proc), in KiB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/status") as f:
                kib = next((int(x.split()[1]) for x in f if x.startswith("VmRSS:")), 0)
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
        rss[int(entry)] = kib
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


# `abonnement bill` as the console script runs it, timed from after its imports (which take a
# few seconds on a loaded machine and say nothing about the run).
TIMED_BILL = """
import sys, time
from abonnement.cli.main import app
start = time.perf_counter()
try:
    app(prog_name="abonnement")
finally:
    sys.stderr.write(f"\\nbench-run-seconds {time.perf_counter() - start}\\n")
"""


def run_bill(
    db: Database, until: datetime, workers: int, profile: Path | None
) -> tuple[float, float, float, int, dict[str, Any]]:
    """`abonnement bill` in its own process: the run's time (from after the imports), the
    process's wall and CPU time, its peak RSS (KiB; workers included) and its JSON summary."""
    command = [
        str(ROOT / ".venv" / "bin" / "python"),
        "-c",
        TIMED_BILL,
        "--json",
        "bill",
        "--until",
        until.isoformat(),
        "--workers",
        str(workers),
    ]
    if profile is not None:
        spy = shutil.which("py-spy") or str(ROOT / ".venv" / "bin" / "py-spy")
        record = [spy, "record", "--format", "raw", "-o", str(profile), "--subprocesses"]
        command = [*record, "--rate", "200", "--", *command]
    env = {**os.environ, "ABONNEMENT_DATABASE_URL": db.url}
    peak = 0
    started = time.perf_counter()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kib(process.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    done.set()
    sampler.join()
    if process.returncode not in (0, 1):
        sys.stderr.write(err.decode())
        raise SystemExit(f"abonnement bill failed with exit code {process.returncode}")
    text_out = out.decode()
    summary, _end = json.JSONDecoder().raw_decode(text_out[text_out.index("{") :])
    marks = [line for line in err.decode().splitlines() if line.startswith("bench-run-seconds")]
    run_seconds = float(marks[-1].split()[1]) if marks else seconds
    return run_seconds, seconds, cpu, peak, summary


def raw_insert(db: Database, rows: int) -> float:
    """Rows per second of a plain bulk insert of `rows` ledger-shaped rows into a scratch table
    of the same database (executemany in one transaction / COPY): what the disk and driver
    allow, with no engine around it."""
    w = Writer(db)
    w.execute(
        "CREATE TABLE bench_raw_insert (id BIGINT PRIMARY KEY, billing_account_id BIGINT, "
        '"transaction" VARCHAR(36), kind VARCHAR(16), account VARCHAR(16), amount_minor BIGINT, '
        "currency VARCHAR(3), invoice_id BIGINT, payment_id BIGINT, at TIMESTAMP)"
    )
    w.commit()
    at = datetime.now(UTC).replace(tzinfo=None)
    seconds = 0.0
    for chunk in range(0, rows, 50_000):
        data = [
            (i, i % 1000 + 1, str(uuid.uuid4()), "invoice", "revenue", -i, "NOK", i, None, at)
            for i in range(chunk + 1, min(rows, chunk + 50_000) + 1)
        ]
        ready = w.ready(data)  # in the driver's form already: the inserts alone are timed
        started = time.perf_counter()
        w.rows("bench_raw_insert", COLUMNS["ledger_entries"], ready, converted=True)
        seconds += time.perf_counter() - started
    started = time.perf_counter()
    w.commit()
    seconds += time.perf_counter() - started
    w.execute("DROP TABLE bench_raw_insert")
    w.commit()
    w.close()
    return rows / seconds if seconds else 0.0


#: The tables the run inserts into (it also updates subscriptions, segments and cursors).
WRITTEN = (
    "audit_log",
    "events",
    "invoices",
    "invoice_lines",
    "ledger_entries",
    "payments",
    "dunning_cases",
    "billing_cursors",
)


def _count(db: Database, sql: str) -> int:
    engine = create_engine(db.url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="subscriptions due on the day")
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: a fresh SQLite file; postgresql://… names a server, where a fresh "
        "database is created and dropped",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="abonnement bill --workers (default: one per core)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--profile", type=Path, default=None, help="record the run with py-spy (raw stacks)"
    )
    args = parser.parse_args(argv)
    due = datetime.now(UTC).date() - timedelta(days=1)
    until = _midnight(due) + timedelta(hours=23)
    with fresh_database(args.database_url, args.keep) as db:
        load_before = probe()
        started = time.perf_counter()
        upgrade(db.url)
        world = build(db, args.n, due)
        build_seconds = time.perf_counter() - started
        before = {table: _count(db, f"SELECT count(*) FROM {table}") for table in WRITTEN}
        seconds, process_seconds, cpu_seconds, peak_kib, summary = run_bill(
            db, until, args.workers, args.profile
        )
        load_run = probe()
        written = {t: _count(db, f"SELECT count(*) FROM {t}") - before[t] for t in WRITTEN}
        ledger_rows = written["ledger_entries"]
        rows_written = sum(written.values())
        renewed = _count(db, "SELECT count(*) FROM events WHERE type = 'subscription.renewed'")
        raw_rate = raw_insert(db, max(rows_written, 1))
        result = {
            "database": db.kind,
            "n": args.n,
            "workers": args.workers,
            "organizations": world.organizations,
            "build_seconds": round(build_seconds, 1),
            "run_seconds": round(seconds, 2),
            "process_seconds": round(process_seconds, 2),
            "process_cpu_seconds": round(cpu_seconds, 2),
            "subscriptions_per_s": round(world.subscriptions / seconds),
            "subscriptions_per_cpu_s": round(world.subscriptions / cpu_seconds),
            "ledger_rows": ledger_rows,
            "ledger_rows_per_s": round(ledger_rows / seconds),
            "peak_rss_mib": round(peak_kib / 1024, 1),
            "rows_written": rows_written,
            "rows_written_per_s": round(rows_written / seconds),
            "rows_written_by_table": written,
            "raw_insert_rows": rows_written,
            "raw_insert_rows_per_s": round(raw_rate),
            "renewed": renewed,
            "invoices": summary["invoices"],
            "events": summary["events"],
            "failed": len(summary["failed"]),
            "data": {
                "changed_mid_period": world.changed,
                "expiring": world.expiring,
                "declining_organizations": world.declining,
            },
            "load_before": load_before,
            "load_after_run": load_run,
        }
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
