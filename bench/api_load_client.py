#!/usr/bin/env python3
"""The Python load generator of bench/api_load.py: an asyncio httpx client with many keep-alive
connections, run as its own process (or several, with ``--part K/N``).

Each connection is one coroutine that owns its own people, so its requests never race each
other: in the ``license_mix`` phase it assigns a person a license, then takes it back, then goes
on to its next person. Requests finished during the warm-up are not counted; then it measures
for ``--duration`` seconds and prints JSON: requests, errors, status counts, latencies (ms), the
CPU time this client used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def _slices(plan: dict[str, Any], connections: int, part: int, parts: int) -> list[dict[str, Any]]:
    """One work list per connection of this part: a lane (organization and key) and the people
    this connection alone assigns. Connections sharing a lane split its people."""
    lanes = plan["lanes"]
    total = max(connections, 1)
    share = -(-total // len(lanes))  # connections per lane, rounded up
    mine = []
    for index in range(total):
        if index % parts != part:
            continue
        lane = lanes[index % len(lanes)]
        users = lane["users"][(index // len(lanes)) :: share] or lane["users"][:1]
        mine.append({"org": lane["org"], "key": lane["key"], "users": users})
    return mine


#: The phases that assign and take back licenses (idempotent_mix with an Idempotency-Key each).
MIXES = ("license_mix", "idempotent_mix")


async def _worker(
    client: httpx.AsyncClient,
    work: dict[str, Any],
    phase: str,
    sku: str,
    measure_from: float,
    stop_at: float,
    record: Callable[[float, float, int], None],
) -> None:
    headers = {"Authorization": f"Bearer {work['key']}"}
    org = work["org"]
    base = f"/v1/organizations/{org}/licenses/{sku}"
    users = work["users"]
    step = 0
    while True:
        started = time.perf_counter()
        if started >= stop_at:
            return
        if phase in MIXES:
            user = users[(step // 2) % len(users)]
            action = "assign" if step % 2 == 0 else "unassign"
            sent = headers
            if phase == "idempotent_mix":  # every request a first one, with its own key
                sent = {**headers, "Idempotency-Key": f"api-load-{org}-{uuid.uuid4().hex}"}
            request = client.post(f"{base}/{action}", json={"user_ids": [user]}, headers=sent)
        elif phase == "authenticated_get":
            request = client.get(f"/v1/organizations/{org}", headers=headers)
        else:
            request = client.get("/health")
        try:
            response = await request
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        finished = time.perf_counter()
        if measure_from <= finished <= stop_at:
            record(started, finished, status)
        if status in (200, 0) or phase not in MIXES:
            step += 1
        else:  # an unexpected refusal: move on to the next person, as a fresh pair
            step += 2 - step % 2


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    plan = json.loads(Path(args.plan).read_text())
    part, parts = (int(x) for x in args.part.split("/"))
    work = _slices(plan, args.connections, part, parts)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    def record(started: float, finished: float, status: int) -> None:
        latencies.append(round((finished - started) * 1000, 3))
        statuses[status] += 1

    limits = httpx.Limits(max_connections=len(work), max_keepalive_connections=len(work))
    async with httpx.AsyncClient(base_url=args.url, limits=limits, timeout=30) as client:
        now = time.perf_counter()
        measure_from, stop_at = now + args.warmup, now + args.warmup + args.duration
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.gather(
            *(
                _worker(client, w, args.phase, plan["sku"], measure_from, stop_at, record)
                for w in work
            )
        )
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {
        "requests": len(latencies),
        "seconds": args.duration,
        "errors": sum(n for status, n in statuses.items() if not 200 <= status < 300),
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
        "latencies_ms": latencies,
        "cpu_s": cpu,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--plan", required=True)
    parser.add_argument("--phase", default="license_mix")
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--part", default="0/1")
    args = parser.parse_args()
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:
        runner = asyncio.run
    json.dump(runner(_run(args)), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
