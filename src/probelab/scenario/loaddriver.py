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
                 max_s: float, resend: bool = True,
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.config = LoadConfig(
            url=url, rate_rps=rate_rps, duration_s=max_s, requests=None,
            concurrency=max(50, int(rate_rps)), timeout_s=timeout_s,
            disable_keepalive=not keepalive, resend_reused=resend, headers=headers,
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
    record.resent = result.resent
    record.not_sent = result.not_sent


# How long the Service must answer without a single failure before the measured load starts.
SERVING_WINDOW_S = 1.0
SERVING_WINDOWS = 2
SERVING_RATE_RPS = 100.0


def window_clean(result: LoadResult) -> bool:
    """A probe window counts when it sent requests and every one of them succeeded."""
    outcomes = [r.outcome.value for r in result.records]
    return bool(outcomes) and all(o == "ok" for o in outcomes)


async def wait_serving(url: str, timeout_s: float, request_timeout_s: float,
                       headers: tuple[tuple[str, str], ...] = ()) -> int:
    """Wait until the Service answers every request for `SERVING_WINDOWS` windows in a row.

    "All replicas ready" in the API does not mean every proxy already routes to them: the
    proxy's view of the endpoints lags (kube-proxy on a real cluster, `--endpoint-delay` on the
    local engine), and with an empty view every connection is refused. Starting the measured
    load only once the Service has answered cleanly keeps that start-up lag out of the result,
    so what the run counts is what the action (scale-down, rollout) caused. Each window uses
    fresh connections, so every request goes through the proxy's choice of endpoint. Returns
    the number of windows it took; raises TimeoutError after `timeout_s`.
    """
    config = LoadConfig(url=url, rate_rps=SERVING_RATE_RPS, duration_s=SERVING_WINDOW_S,
                        requests=None, concurrency=20, timeout_s=request_timeout_s,
                        disable_keepalive=True, headers=headers)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout_s
    clean = windows = 0
    while clean < SERVING_WINDOWS:
        if loop.time() > give_up:
            raise TimeoutError(f"{url} did not answer cleanly within {timeout_s:.0f} s")
        windows += 1
        clean = clean + 1 if window_clean(await run_load(config)) else 0
    return windows
