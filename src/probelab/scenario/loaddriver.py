"""The demo's use of the load generator: a fixed-rate open-model load until told to stop.

It runs `probelab.load` in-process on the demo's event loop, keeps live counters for the
progress display, and turns the per-request results into the report's per-second buckets and
failure times.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from probelab.load.config import LoadConfig
from probelab.load.records import Record
from probelab.load.runner import LoadResult, run_load
from probelab.load.summary import latency_ms, series
from probelab.report.model import FAILURE_CLASSES, RunRecord, SecondBucket


class LoadRun:
    def __init__(self, url: str, rate_rps: float, keepalive: bool, timeout_s: float,
                 max_s: float) -> None:
        self.config = LoadConfig(
            url=url, rate_rps=rate_rps, duration_s=max_s, requests=None,
            concurrency=max(50, int(rate_rps)), timeout_s=timeout_s,
            disable_keepalive=not keepalive,
        )
        self.live: Counter[str] = Counter()
        self.result: LoadResult | None = None

    def _on_result(self, record: Record) -> None:
        self.live[record.outcome.value] += 1

    async def run(self, stop: asyncio.Event) -> None:
        self.result = await run_load(self.config, on_result=self._on_result, stop_event=stop)

    def counters(self) -> dict[str, int]:
        failed = sum(n for cls, n in self.live.items() if cls != "ok")
        return {"requests": sum(self.live.values()), "failed": failed}


def fill_record(record: RunRecord, result: LoadResult) -> None:
    """Copy totals, per-second buckets (with p50/p99 latency), failure times, examples and the
    overall latency percentiles into the run record."""
    buckets: dict[int, SecondBucket] = {}
    totals: Counter[str] = Counter()
    failure_times: dict[str, list[float]] = {}
    for r in result.records:
        cls = r.outcome.value
        totals[cls] += 1
        t = int(r.start_s)
        bucket = buckets.setdefault(t, SecondBucket(t))
        bucket.by_class[cls] = bucket.by_class.get(cls, 0) + 1
        if cls == "ok" and r.version:
            bucket.by_version[r.version] = bucket.by_version.get(r.version, 0) + 1
        if cls in FAILURE_CLASSES:
            failure_times.setdefault(cls, []).append(round(r.start_s, 3))
            record.error_examples.setdefault(cls, r.error or "")
    last = max(buckets, default=-1)
    record.seconds = [buckets.get(t, SecondBucket(t)) for t in range(last + 1)]
    for bucket, second in zip(record.seconds, series(result.records), strict=False):
        bucket.p50_ms, bucket.p99_ms = second["p50_ms"], second["p99_ms"]
    record.latency_ms = {k: v for k, v in latency_ms(result.records.latency_s).items()
                         if v is not None}
    record.totals = dict(totals)
    record.failure_times = failure_times
