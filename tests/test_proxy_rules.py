"""Service proxy rules (pure): endpoint conditions, port resolution, usable endpoints, choice,
the EndpointsApplied summary, and where a Service listens."""

import random
from collections import Counter

import pytest

from probelab.engine.proxy.rules import (
    Endpoint,
    Listen,
    Mode,
    endpoint_conditions,
    endpoints_by_address,
    endpoints_for_port,
    listens_for,
    pick_endpoint,
    summarize,
    usable_endpoints,
)


def ep(address: str, ready=True, serving=None, terminating=False, pod="") -> dict:
    conditions = {"ready": ready, "terminating": terminating}
    conditions["serving"] = ready if serving is None else serving
    out = {"addresses": [address], "conditions": conditions}
    if pod:
        out["targetRef"] = {"kind": "Pod", "name": pod, "namespace": "default"}
    return out


def slice_(name: str, endpoints: list[dict], ports=(("http", 8080),), address_type="IPv4"):
    return {
        "metadata": {"name": name, "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": address_type,
        "endpoints": endpoints,
        "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports],
    }


def E(address: str, ready=True, serving=True, terminating=False, port=8080) -> Endpoint:
    return Endpoint(address, port, ready, serving, terminating)


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ({}, (True, True, False)),  # unknown reads as ready and serving
        ({"ready": False}, (False, False, False)),  # serving defaults to ready
        ({"ready": False, "serving": True, "terminating": True}, (False, True, True)),
        ({"ready": True, "serving": None, "terminating": None}, (True, True, False)),
        ({"ready": False, "serving": False, "terminating": True}, (False, False, True)),
    ],
)
def test_endpoint_conditions(conditions: dict, expected: tuple) -> None:
    assert endpoint_conditions({"addresses": ["127.244.0.1"], "conditions": conditions}) == expected


def test_ports_resolve_by_name_and_endpoints_are_sorted_and_deduplicated() -> None:
    slices = [
        slice_("web-b", [ep("127.244.0.3"), ep("127.244.0.1")], ports=[("http", 8080),
                                                                       ("admin", 8081)]),
        slice_("web-a", [ep("127.244.0.1", ready=False)], ports=[("http", 8080)]),
    ]
    http = endpoints_for_port(slices, "http", single=False)
    assert [(e.address, e.port) for e in http] == [("127.244.0.1", 8080), ("127.244.0.3", 8080)]
    assert not http[0].ready  # web-a comes first by name, its copy wins
    admin = endpoints_for_port(slices, "admin", single=False)
    assert [(e.address, e.port) for e in admin] == [("127.244.0.1", 8081), ("127.244.0.3", 8081)]
    assert endpoints_for_port(slices, "metrics", single=False) == ()


@pytest.mark.parametrize(
    ("slice_ports", "port_name", "single", "expected_port"),
    [
        ([("", 9000)], "", True, 9000),  # unnamed single port
        ([("web", 9000)], "", True, 9000),  # the Service's only port takes the slice's only one
        ([("web", 9000)], "", False, None),  # several Service ports: names must match
        ([("a", 1), ("b", 2)], "", True, None),  # ambiguous slice
        ([("a", 1), ("b", 2)], "b", True, 2),
    ],
)
def test_single_port_fallback(slice_ports, port_name, single, expected_port) -> None:
    found = endpoints_for_port([slice_("s", [ep("127.244.0.1")], ports=slice_ports)],
                               port_name, single)
    assert [e.port for e in found] == ([expected_port] if expected_port else [])


def test_non_tcp_ports_ipv6_slices_and_empty_endpoints_are_ignored() -> None:
    udp = slice_("udp", [ep("127.244.0.1")])
    udp["ports"][0]["protocol"] = "UDP"
    v6 = slice_("v6", [ep("::1")], address_type="IPv6")
    empty = slice_("empty", [{"addresses": [], "conditions": {"ready": True}}])
    assert endpoints_for_port([udp, v6, empty], "http", single=True) == ()


@pytest.mark.parametrize(
    ("endpoints", "usable"),
    [
        ([], []),
        ([E("a"), E("b", ready=False, serving=False)], ["a"]),
        # ready ones win over serving-terminating ones
        ([E("a"), E("b", ready=False, serving=True, terminating=True)], ["a"]),
        # none ready: ProxyTerminatingEndpoints uses serving AND terminating ones
        ([E("a", ready=False, serving=True, terminating=True),
          E("b", ready=False, serving=False, terminating=True),
          E("c", ready=False, serving=True, terminating=False)], ["a"]),
        # terminating but no longer serving: nothing is usable → reject
        ([E("a", ready=False, serving=False, terminating=True)], []),
        # not ready, not terminating (starting up): never used
        ([E("a", ready=False, serving=False)], []),
    ],
)
def test_usable_endpoints(endpoints: list[Endpoint], usable: list[str]) -> None:
    assert [e.address for e in usable_endpoints(endpoints)] == usable


def test_pick_endpoint_is_uniform_and_reproducible() -> None:
    usable = (E("a"), E("b"), E("c"))
    assert pick_endpoint((), random.Random(1)) is None
    assert pick_endpoint(usable[:1], random.Random(1)) == usable[0]
    rng = random.Random(7)
    counts = Counter(pick_endpoint(usable, rng).address for _ in range(3000))
    assert set(counts) == {"a", "b", "c"}
    assert all(800 < n < 1200 for n in counts.values()), counts
    again = random.Random(7)
    first = [pick_endpoint(usable, again).address for _ in range(20)]
    rng = random.Random(7)
    assert first == [pick_endpoint(usable, rng).address for _ in range(20)]


@pytest.mark.parametrize(
    ("endpoints", "counts", "mode"),
    [
        ([ep("1"), ep("2"), ep("3", ready=False, serving=True, terminating=True)],
         (2, 1, 0), Mode.READY),
        ([ep("1", ready=False, serving=True, terminating=True),
          ep("2", ready=False, serving=False, terminating=True)], (0, 2, 1), Mode.TERMINATING),
        ([ep("1", ready=False)], (0, 0, 0), Mode.REJECT),
        ([], (0, 0, 0), Mode.REJECT),
    ],
)
def test_summary_counts_and_message(endpoints: list[dict], counts: tuple, mode: Mode) -> None:
    summary = summarize(endpoints_by_address([slice_("s", endpoints)]))
    assert (summary.ready, summary.terminating, summary.terminating_used) == counts
    assert summary.mode is mode
    assert summary.message() == (
        f"proxy now routes to {counts[0]} ready endpoints ({counts[1]} terminating, "
        f"{counts[2]} serving-terminating used)"
    )


def test_endpoints_by_address_ignores_ports_and_keeps_pod_names() -> None:
    slices = [slice_("a", [ep("127.244.0.2", pod="web-2")], ports=[("http", 1)]),
              slice_("b", [ep("127.244.0.2"), ep("127.244.0.1", pod="web-1")],
                     ports=[("admin", 2)])]
    found = endpoints_by_address(slices)
    assert [(e.address, e.port, e.pod) for e in found] == [
        ("127.244.0.1", 0, "web-1"), ("127.244.0.2", 0, "web-2")]


def service(kind: str | None, cluster_ip="127.96.0.10", ports=None) -> dict:
    spec = {"clusterIP": cluster_ip,
            "ports": ports or [{"name": "http", "port": 80, "nodePort": 30080,
                                "protocol": "TCP"}]}
    if kind:
        spec["type"] = kind
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": spec}


@pytest.mark.parametrize(
    ("svc", "expected"),
    [
        (service(None), [Listen("127.96.0.10", 80, "http", True, False)]),
        (service("ClusterIP"), [Listen("127.96.0.10", 80, "http", True, False)]),
        (service("NodePort"), [Listen("127.96.0.10", 80, "http", True, False),
                               Listen("127.0.0.1", 30080, "http", True, True)]),
        (service("LoadBalancer"), [Listen("127.96.0.10", 80, "http", True, False),
                                   Listen("127.0.0.1", 30080, "http", True, True)]),
        (service("NodePort", cluster_ip="None"), [Listen("127.0.0.1", 30080, "http", True,
                                                         True)]),
        (service("ClusterIP", cluster_ip="None"), []),  # headless
        (service("ExternalName"), []),
        (service("ClusterIP", ports=[{"port": 53, "protocol": "UDP"},
                                     {"name": "t", "port": 54}]),
         [Listen("127.96.0.10", 54, "t", False, False)]),
    ],
)
def test_listens_for(svc: dict, expected: list[Listen]) -> None:
    assert list(listens_for(svc)) == expected
