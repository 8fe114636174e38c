"""Prometheus metrics of simpleweb, served at `/metrics` on the admin port.

A private registry (not prometheus-client's global one) so that tests and benchmarks can build
several services in one process. Labels are bounded: the route is one of a fixed few and the
status is a number, so no client can grow the registry by inventing paths.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

# `*_created` series double the output and no dashboard of this demo reads them.
disable_created_metrics()

KNOWN_ROUTES = frozenset({"/", "/slow"})
# Latency buckets around what the demo produces: sub-millisecond pages up to multi-second /slow.
BUCKETS_S = (0.001, 0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, app_version: str, pod_name: str, ready: Callable[[], bool],
                 in_flight: Callable[[], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)  # RSS, CPU, open fds: what a limit would hit
        Gauge("simpleweb_build_info", "Version and pod of this process (always 1).",
              ["version", "pod"], registry=self.registry).labels(app_version, pod_name).set(1)
        self.requests = Counter(
            "simpleweb_requests", "Public requests answered, by route and status code.",
            ["route", "code"], registry=self.registry,
        )
        # Read from the service state at scrape time: no per-request cost.
        Gauge(
            "simpleweb_requests_in_flight", "Public requests being handled now.",
            registry=self.registry,
        ).set_function(lambda: float(in_flight()))
        self.duration = Histogram(
            "simpleweb_request_duration_seconds", "Time to handle a public request.",
            buckets=BUCKETS_S, registry=self.registry,
        )
        ready_gauge = Gauge(
            "simpleweb_ready", "1 while /healthz answers 200.", registry=self.registry
        )
        ready_gauge.set_function(lambda: 1.0 if ready() else 0.0)

        self._children: dict[tuple[str, int], Counter] = {}

    def observe(self, path: str, status: int, seconds: float) -> None:
        route = path if path in KNOWN_ROUTES else "other"
        child = self._children.get((route, status))
        if child is None:  # a few routes x a few codes: the lookup is cached per pair
            child = self._children[(route, status)] = self.requests.labels(route, str(status))
        child.inc()
        self.duration.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
