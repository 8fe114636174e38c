"""The numbers of a load run, computed from its records: pure, no I/O, no formatting.

`summarize` returns plain data (dicts, lists, numbers) that `output.py` renders as tables,
JSON or CSV, and that tests check exactly. Percentiles use the nearest-rank method (the value
at rank ceil(p/100 · n)), so every reported latency is one that really happened.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from probelab.load.outcome import OUTCOMES, Outcome
from probelab.load.records import Record

PERCENTILES = (50, 90, 99)


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values; None when there are none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_ms(latencies_s: Iterable[float]) -> dict[str, float | None]:
    values = sorted(latencies_s)
    out: dict[str, float | None] = {}
    for p in PERCENTILES:
        v = percentile(values, p)
        out[f"p{p}"] = None if v is None else round(v * 1000, 3)
    out["max"] = round(values[-1] * 1000, 3) if values else None
    return out


def summarize(
    records: Iterable[Record],
    elapsed_s: float,
    *,
    retries: int = 0,
    connections: int = 0,
    interrupted: bool = False,
    abandoned: int = 0,
) -> dict[str, Any]:
    """Totals by class (every class present, zeros included), status codes, latency, rate,
    versions and pods seen, one example message per failure class, and the per-second series.
    """
    by_class: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    versions: Counter[str] = Counter()
    pods: Counter[str] = Counter()
    examples: dict[str, str] = {}
    latencies: list[float] = []
    seconds: dict[int, _Second] = {}
    for r in records:
        cls = r.outcome.value
        by_class[cls] += 1
        latencies.append(r.latency_s)
        if r.status is not None:
            statuses[r.status] += 1
        if r.version is not None:
            versions[r.version] += 1
        if r.pod is not None:
            pods[r.pod] += 1
        if r.outcome is not Outcome.OK and cls not in examples:
            examples[cls] = r.error or ""
        t = max(0, int(r.start_s))
        second = seconds.get(t)
        if second is None:
            second = seconds[t] = _Second()
        second.add(r)
    total = sum(by_class.values())
    return {
        "requests": total,
        "ok": by_class[Outcome.OK.value],
        "failed": total - by_class[Outcome.OK.value],
        "elapsed_s": round(elapsed_s, 3),
        "rps": round(total / elapsed_s, 1) if elapsed_s > 0 else 0.0,
        "by_class": {o.value: by_class[o.value] for o in OUTCOMES},
        "status_codes": {str(code): n for code, n in sorted(statuses.items())},
        "latency_ms": latency_ms(latencies),
        "versions": dict(sorted(versions.items())),
        "pods": dict(sorted(pods.items())),
        "error_examples": {o.value: examples[o.value] for o in OUTCOMES if o.value in examples},
        "retried_on_fresh_connection": retries,
        "connections_opened": connections,
        "interrupted": interrupted,
        "abandoned_in_flight": abandoned,
        "series": series(seconds),
    }


class _Second:
    """Requests that *started* in one second of the run."""

    __slots__ = ("by_class", "by_version", "latencies")

    def __init__(self) -> None:
        self.by_class: Counter[str] = Counter()
        self.by_version: Counter[str] = Counter()
        self.latencies: list[float] = []

    def add(self, r: Record) -> None:
        self.by_class[r.outcome.value] += 1
        if r.version is not None:
            self.by_version[r.version] += 1
        self.latencies.append(r.latency_s)


def series(seconds: dict[int, _Second]) -> list[dict[str, Any]]:
    """One entry per second from 0 to the last second with a request (empty seconds included)."""
    out = []
    for t in range(max(seconds, default=-1) + 1):
        second = seconds.get(t) or _Second()
        lat = latency_ms(second.latencies)
        out.append({
            "t": t,
            "requests": sum(second.by_class.values()),
            "by_class": {o.value: second.by_class[o.value] for o in OUTCOMES
                         if second.by_class[o.value]},
            "by_version": dict(sorted(second.by_version.items())),
            "p50_ms": lat["p50"],
            "p99_ms": lat["p99"],
        })
    return out
