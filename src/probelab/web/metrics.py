"""Prometheus metrics of simpleweb, served at `/metrics` on the admin port.

Counters are plain integers on this object, bumped once per public request; the text is written
only when Prometheus scrapes (exposition.py). Labels are bounded: the route is one of a fixed
few and the status is a number, so no client can grow the series by inventing paths.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable

from probelab.web.exposition import CONTENT_TYPE, ProcessStats, family, gauge, go_float

KNOWN_ROUTES = frozenset({"/", "/slow"})
# Latency buckets around what the demo produces: sub-millisecond pages up to multi-second /slow.
BUCKETS_S = (0.001, 0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DURATION = "simpleweb_request_duration_seconds"


class Metrics:
    content_type = CONTENT_TYPE

    def __init__(self, app_version: str, pod_name: str, ready: Callable[[], bool],
                 in_flight: Callable[[], int]) -> None:
        self._build = {"version": app_version, "pod": pod_name}
        self._ready = ready
        self._in_flight = in_flight  # read from the service state at scrape time
        self._process = ProcessStats()
        self.requests: dict[tuple[str, int], int] = {}  # (route, code) -> count, first seen first
        self.buckets = [0] * (len(BUCKETS_S) + 1)  # per bucket, not cumulative; last is +Inf
        self.duration_sum_s = 0.0

    def observe(self, path: str, status: int, seconds: float) -> None:
        key = (path if path in KNOWN_ROUTES else "other", status)
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        self.buckets[bisect_left(BUCKETS_S, seconds)] += 1  # `le` is inclusive
        self.duration_sum_s += seconds

    def render(self) -> bytes:
        cumulative, samples = 0, []
        for bound, count in zip((*BUCKETS_S, float("inf")), self.buckets, strict=True):
            cumulative += count
            le = go_float(bound)
            samples.append((f"{DURATION}_bucket", {"le": le}, cumulative))
        samples += [(f"{DURATION}_count", {}, cumulative),
                    (f"{DURATION}_sum", {}, self.duration_sum_s)]
        return "".join((
            self._process.render(),
            gauge("simpleweb_build_info", "Version and pod of this process (always 1).", 1,
                  self._build),
            family("simpleweb_requests_total",
                   "Public requests answered, by route and status code.", "counter",
                   [("simpleweb_requests_total", {"route": route, "code": str(code)}, count)
                    for (route, code), count in self.requests.items()]),
            gauge("simpleweb_requests_in_flight", "Public requests being handled now.",
                  self._in_flight()),
            family(DURATION, "Time to handle a public request.", "histogram", samples),
            gauge("simpleweb_ready", "1 while /healthz answers 200.", 1 if self._ready() else 0),
        )).encode()
