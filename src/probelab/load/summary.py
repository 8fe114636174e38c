"""The numbers of a load run, computed from its records: pure, no I/O, no formatting.

`summarize` returns plain data (dicts, lists, numbers) that `output.py` renders as tables,
JSON or CSV, and that tests check exactly. Percentiles use the nearest-rank method (the value
at rank ceil(p/100 · n)), so every reported latency is one that really happened.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from probelab.load.outcome import OUTCOMES, Outcome
from probelab.load.records import CLASS_BITS, CLASS_MASK, RecordLog

if TYPE_CHECKING:  # the numbers need no runner: only its result's type
    from probelab.load.runner import LoadResult

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
    log: RecordLog,
    elapsed_s: float,
    *,
    retries: int = 0,
    resent: int = 0,
    connections: int = 0,
    interrupted: bool = False,
    abandoned: int = 0,
    cpu_s: float = 0.0,
    concurrency: int = 0,
    concurrency_used: int = 0,
    fd_limit: int = 0,
    client_errors: int = 0,
    client_error_example: str | None = None,
    scheduled: int = 0,
    not_sent: int = 0,
    client_bound: bool = False,
) -> dict[str, Any]:
    """Totals by class (every class present, zeros included), status codes, latency, rate,
    versions and pods seen, one example message per failure class, and the per-second series.

    Works on the log's columns with Counters over packed codes, so a few million requests take
    seconds, not minutes.
    """
    codes = Counter(log.code)
    by_class: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    for code, n in codes.items():
        by_class[OUTCOMES[code & CLASS_MASK].value] += n
        if code >> CLASS_BITS:
            statuses[code >> CLASS_BITS] += n
    versions, pods = _origins(log, Counter(log.origin))
    total = len(log)
    ok = by_class[Outcome.OK.value]
    return {
        "requests": total,
        "ok": ok,
        "failed": total - ok,
        "elapsed_s": round(elapsed_s, 3),
        "rps": round(total / elapsed_s, 1) if elapsed_s > 0 else 0.0,
        "by_class": {o.value: by_class[o.value] for o in OUTCOMES},
        "status_codes": {str(code): n for code, n in sorted(statuses.items())},
        "latency_ms": latency_ms(log.latency_s),
        "versions": dict(sorted(versions.items())),
        "pods": dict(sorted(pods.items())),
        "error_examples": _examples(log, codes),
        "retried_on_fresh_connection": retries,
        "resent_after_keepalive_race": resent,
        "connections_opened": connections,
        "interrupted": interrupted,
        "abandoned_in_flight": abandoned,
        "client_cpu_s": round(cpu_s, 3),
        "concurrency": concurrency,
        "concurrency_used": concurrency_used,
        "fd_limit": fd_limit,
        "not_sent_client_error": client_errors,
        "client_error_example": client_error_example,
        "scheduled": scheduled,
        "not_sent": not_sent,
        "client_bound": client_bound,
        "series": series(log),
    }


def summarize_run(result: LoadResult) -> dict[str, Any]:
    """`summarize` with everything a run counted besides its records."""
    return summarize(
        result.records, result.elapsed_s, retries=result.retries, resent=result.resent,
        connections=result.connections, interrupted=result.interrupted,
        abandoned=result.abandoned, cpu_s=result.cpu_s, concurrency=result.config.concurrency,
        concurrency_used=result.concurrency_used, fd_limit=result.fd_limit,
        client_errors=result.client_errors, client_error_example=result.client_error_example,
        scheduled=result.scheduled, not_sent=result.not_sent, client_bound=result.client_bound)


def _origins(log: RecordLog, counts: Counter[int]) -> tuple[Counter[str], Counter[str]]:
    versions: Counter[str] = Counter()
    pods: Counter[str] = Counter()
    for origin, n in counts.items():
        version, pod = log.origins[origin]
        if version is not None:
            versions[version] += n
        if pod is not None:
            pods[pod] += n
    return versions, pods


def _examples(log: RecordLog, codes: Counter[int]) -> dict[str, str]:
    """The message of the first request (in log order) of each failure class."""
    first: dict[int, int] = {}
    for code in codes:
        cls = code & CLASS_MASK
        if OUTCOMES[cls] is not Outcome.OK:
            at = log.code.index(code)
            first[cls] = min(first.get(cls, at), at)
    return {OUTCOMES[cls].value: log.messages[log.error[at]] or ""
            for cls, at in sorted(first.items())}


def series(log: RecordLog) -> list[dict[str, Any]]:
    """One entry per second from 0 to the last second with a request (empty seconds included),
    by the second each request *started* in."""
    seconds = [max(0, int(s)) for s in log.start_s]
    by_code = Counter(zip(seconds, log.code, strict=True))
    by_origin = Counter(zip(seconds, log.origin, strict=True))
    latencies: dict[int, list[float]] = {}
    for t, lat in zip(seconds, log.latency_s, strict=True):
        bucket = latencies.get(t)
        if bucket is None:
            bucket = latencies[t] = []
        bucket.append(lat)
    classes: dict[int, Counter[str]] = {}
    for (t, code), n in by_code.items():
        classes.setdefault(t, Counter())[OUTCOMES[code & CLASS_MASK].value] += n
    versions: dict[int, Counter[str]] = {}
    for (t, origin), n in by_origin.items():
        version = log.origins[origin][0]
        if version is not None:
            versions.setdefault(t, Counter())[version] += n
    out = []
    for t in range(max(latencies, default=-1) + 1):
        counts = classes.get(t, Counter())
        lat = latency_ms(latencies.get(t, ()))
        out.append({
            "t": t,
            "requests": sum(counts.values()),
            "by_class": {o.value: counts[o.value] for o in OUTCOMES if counts[o.value]},
            "by_version": dict(sorted(versions.get(t, Counter()).items())),
            "p50_ms": lat["p50"],
            "p99_ms": lat["p99"],
        })
    return out
