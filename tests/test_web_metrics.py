"""simpleweb's /metrics, written by hand from plain integers: the same text prometheus-client wrote.

prometheus-client is the reference here (a test dependency only): the same observations go
into its Counter/Gauge/Histogram and into `Metrics`, and the two expositions must be equal byte
for byte; ours must also parse with prometheus-client's own text parser. Then the real process:
its /metrics parses, and its counters follow the requests it was sent.
"""

from __future__ import annotations

import os

import pytest
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.parser import text_string_to_metric_families

from probelab.web.exposition import ProcessStats, go_float, process_families
from probelab.web.metrics import BUCKETS_S, Metrics
from test_web import serving, web

OBSERVED = [("/", 200, 0.0004), ("/", 200, 0.002), ("/slow", 200, 1.0), ("/slow", 400, 0.0001),
            ("/nope", 404, 0.00002), ("/", 405, 0.001), ("/slow", 200, 31.5),
            ("/x\"y", 404, 0.3)]


def reference(in_flight: int, ready: bool) -> bytes:
    """What the aiohttp service's prometheus-client registry wrote, for the same values."""
    disable_created_metrics()  # as the aiohttp service did (no `*_created` series)
    registry = CollectorRegistry(auto_describe=True)
    Gauge("simpleweb_build_info", "Version and pod of this process (always 1).",
          ["version", "pod"], registry=registry).labels("2.0", 'pod-"1"\\').set(1)
    requests = Counter("simpleweb_requests", "Public requests answered, by route and status code.",
                       ["route", "code"], registry=registry)
    Gauge("simpleweb_requests_in_flight", "Public requests being handled now.",
          registry=registry).set_function(lambda: float(in_flight))
    duration = Histogram("simpleweb_request_duration_seconds", "Time to handle a public request.",
                         buckets=BUCKETS_S, registry=registry)
    Gauge("simpleweb_ready", "1 while /healthz answers 200.",
          registry=registry).set_function(lambda: 1.0 if ready else 0.0)
    for path, status, seconds in OBSERVED:
        route = path if path in ("/", "/slow") else "other"
        requests.labels(route, str(status)).inc()
        duration.observe(seconds)
    return generate_latest(registry)


@pytest.mark.parametrize(("in_flight", "ready"), [(0, True), (3, False)])
def test_exposition_is_what_prometheus_client_wrote(in_flight: int, ready: bool) -> None:
    metrics = Metrics("2.0", 'pod-"1"\\', ready=lambda: ready, in_flight=lambda: in_flight)
    for path, status, seconds in OBSERVED:
        metrics.observe(path, status, seconds)
    ours = metrics.render()
    process_part = ours[:ours.index(b"# HELP simpleweb_build_info")]
    assert ours[len(process_part):] == reference(in_flight, ready)
    families = {f.name: f for f in text_string_to_metric_families(ours.decode())}
    assert families["simpleweb_requests"].type == "counter"
    assert families["simpleweb_request_duration_seconds"].type == "histogram"
    assert {s.labels["pod"] for s in families["simpleweb_build_info"].samples} == {'pod-"1"\\'}


def test_process_families_read_proc_like_prometheus_client() -> None:
    stat = (b"4242 (simple web) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 "
            b"12345 104857600 2560 18446744073709551615")
    limits = b"Max cpu time  unlimited  unlimited  seconds\nMax open files  1024  4096  files\n"
    text = process_families(stat, limits, open_fds=7, ticks=100.0, pagesize=4096,
                            boot_time_s=1_700_000_000.0)
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert values == {
        "process_virtual_memory_bytes": 104857600.0,
        "process_resident_memory_bytes": 2560 * 4096.0,
        "process_start_time_seconds": 1_700_000_000.0 + 123.45,
        "process_cpu_seconds_total": 3.0,
        "process_open_fds": 7.0,
        "process_max_fds": 1024.0,
    }


def test_this_process_has_its_process_families() -> None:
    text = ProcessStats().render()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"process_resident_memory_bytes", "process_cpu_seconds",  # a counter's family
            "process_open_fds"} <= names                              # drops `_total`


@pytest.mark.parametrize(("value", "text"), [
    (1.0, "1.0"), (0.0, "0.0"), (12345678.0, "1.2345678e+07"), (47517696.0, "4.7517696e+07"),
    (1796224471.9, "1.7962244719e+09"), (float("inf"), "+Inf"), (0.001, "0.001"),
])
def test_go_float(value: float, text: str) -> None:
    assert go_float(value) == text


def test_metrics_of_the_real_process_follow_its_requests() -> None:
    with web(env={"POD_NAME": "metrics-pod"}) as w:
        serving(w)
        for path in ("/", "/", "/slow?ms=1", "/slow?ms=x", "/nope"):
            w.get(path)
        page = w.get("/metrics", admin=True)
    assert page.headers["content-type"] == "text/plain; version=1.0.0; charset=utf-8"
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(page.body) for s in f.samples}
    assert samples[("simpleweb_requests_total", (("code", "200"), ("route", "/")))] == 2
    assert samples[("simpleweb_requests_total", (("code", "200"), ("route", "/slow")))] == 1
    assert samples[("simpleweb_requests_total", (("code", "400"), ("route", "/slow")))] == 1
    assert samples[("simpleweb_requests_total", (("code", "404"), ("route", "other")))] == 1
    assert samples[("simpleweb_request_duration_seconds_count", ())] == 5
    assert samples[("simpleweb_ready", ())] == 1
    assert samples[("simpleweb_requests_in_flight", ())] == 0
    assert samples[("simpleweb_build_info", (("pod", "metrics-pod"), ("version", "1.0")))] == 1
    assert samples[("process_resident_memory_bytes", ())] > 0
    assert samples[("process_open_fds", ())] >= 4
    assert os.sysconf("SC_CLK_TCK") > 0
