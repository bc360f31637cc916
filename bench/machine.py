"""How fast this machine is, measured the same way by every benchmark, so that figures from
machines (or moments) of different speeds can be set side by side: the same code gave twice the
rate on one day's machine as on another's."""

from __future__ import annotations

import os
import time
from typing import Any

#: What the probe times: one core's pure-Python speed, the kind of work the engine does.
PROBE = "sum(range(10**6))"


def probe(repeat: int = 7) -> dict[str, Any]:
    """The best of `repeat` timings of PROBE, in ms (lower is faster), and the machine's load."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        sum(range(10**6))
        best = min(best, time.perf_counter() - started)
    one, five, _fifteen = os.getloadavg()
    return {
        "probe": PROBE,
        "probe_ms": round(best * 1000, 1),
        "load_1m": round(one, 2),
        "load_5m": round(five, 2),
        "cpus": os.cpu_count(),
    }
