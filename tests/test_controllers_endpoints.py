"""Endpoints controller: ready / serving / terminating conditions and membership (tables), port
resolution by number or name, slice grouping and reconciliation, the legacy Endpoints object;
then on a real store with a fake kubelet, slices and Endpoints following readiness and
termination, and the service proxy routing from the slices the controller wrote."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from probelab.engine.controllers.endpoints import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    Conditions,
    EndpointsController,
    desired_endpoints,
    desired_slices,
    endpoint_conditions,
    in_endpoints,
    in_slices,
    plan_slices,
    resolve_port,
)
from probelab.engine.core.clock import rfc3339
from probelab.engine.core.context import EngineConfig
from probelab.engine.core.store import Store
from probelab.engine.proxy.component import ServiceProxy
from probelab.engine.proxy.rules import endpoints_for_port, usable_endpoints
from support.controllers import NAMESPACE, controllers, service
from support.fake_kubelet import FakeKubelet
from support.loops import run
from support.sockets import free_port
from support.waiting import until

NOW = 1_700_000_000.0


def pod(name: str, ip: str = "127.244.0.1", *, ready: bool = True, terminating: bool = False,
        phase: str = "Running", port: int = 8080, port_name: str = "http") -> dict:
    meta = {"name": name, "namespace": NAMESPACE, "uid": f"uid-{name}",
            "labels": {"app": "web"}}
    if terminating:
        meta["deletionTimestamp"] = rfc3339(NOW + 30)
    status = {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
    return {"metadata": meta, "spec": {"nodeName": "node-1", "containers": [
        {"name": "web", "ports": [{"name": port_name, "containerPort": port,
                                   "protocol": "TCP"}]}]}, "status": status}


def svc(**kw) -> dict:
    s = service(**kw)
    s["metadata"]["uid"] = "svc-uid"
    return s


# ---- conditions and membership ------------------------------------------------------------------
@pytest.mark.parametrize(("ready", "terminating", "publish", "expected"), [
    (True, False, False, Conditions(True, True, False)),
    (False, False, False, Conditions(False, False, False)),
    (True, True, False, Conditions(False, True, True)),  # terminating, still serving
    (False, True, False, Conditions(False, False, True)),
    (False, False, True, Conditions(True, True, False)),  # publishNotReadyAddresses
    (False, True, True, Conditions(True, True, True)),
    (True, True, True, Conditions(True, True, True)),
])
def test_endpoint_conditions(ready: bool, terminating: bool, publish: bool,
                             expected: Conditions) -> None:
    assert endpoint_conditions(pod("p", ready=ready, terminating=terminating), publish) == \
        expected


@pytest.mark.parametrize(("kw", "slices", "endpoints", "endpoints_published"), [
    (dict(), True, True, True),
    (dict(ready=False), True, True, True),
    (dict(terminating=True), True, False, True),
    (dict(ip=""), False, False, False),
    (dict(phase="Succeeded"), False, False, False),
    (dict(phase="Failed", terminating=True), False, False, False),
])
def test_membership(kw: dict, slices: bool, endpoints: bool, endpoints_published: bool) -> None:
    p = pod("p", **kw)
    assert in_slices(p) is slices
    assert in_endpoints(p, publish_not_ready=False) is endpoints
    assert in_endpoints(p, publish_not_ready=True) is endpoints_published


SIDECAR = {"name": "side", "restartPolicy": "Always",
           "ports": [{"name": "metrics", "containerPort": 9100}]}
PLAIN_INIT = {"name": "init", "ports": [{"name": "setup", "containerPort": 9200}]}


@pytest.mark.parametrize(("service_port", "expected"), [
    ({"port": 80, "targetPort": 8080}, 8080),
    ({"port": 80, "targetPort": 9999}, 9999),  # numbers are taken as given
    ({"port": 80, "targetPort": "http"}, 8080),
    ({"port": 80, "targetPort": "http", "protocol": "UDP"}, None),
    ({"port": 80, "targetPort": "nope"}, None),
    ({"port": 80, "targetPort": "9090"}, 9090),
    ({"port": 80}, 80),
    ({"port": 80, "targetPort": "metrics"}, 9100),  # a restartable init container (sidecar)
    ({"port": 80, "targetPort": "setup"}, None),  # an ordinary init container
])
def test_resolve_port(service_port: dict, expected: int | None) -> None:
    p = pod("p")
    p["spec"]["initContainers"] = [SIDECAR, PLAIN_INIT]
    assert resolve_port(p, service_port) == expected


# ---- slices --------------------------------------------------------------------------------
def test_slices_group_pods_by_resolved_ports_and_keep_terminating_ones() -> None:
    pods_ = [pod("b", "127.244.0.2", port=9090), pod("a", "127.244.0.1"),
             pod("c", "127.244.0.3", terminating=True), pod("d", "", ready=True),
             pod("e", "127.244.0.5", port_name="other")]
    groups = desired_slices(svc(), pods_)
    assert [(ports, [e["targetRef"]["name"] for e in eps]) for ports, eps in groups] == [
        ([], ["e"]),
        ([{"name": "http", "port": 8080, "protocol": "TCP"}], ["a", "c"]),
        ([{"name": "http", "port": 9090, "protocol": "TCP"}], ["b"]),
    ]
    c = groups[1][1][1]
    assert c["conditions"] == {"ready": False, "serving": True, "terminating": True}
    assert c["addresses"] == ["127.244.0.3"] and c["nodeName"] == "node-1"
    assert c["targetRef"] == {"kind": "Pod", "namespace": NAMESPACE, "name": "c",
                              "uid": "uid-c"}


def test_a_service_without_pods_keeps_one_empty_slice() -> None:
    assert desired_slices(svc(), []) == [([], [])]


def test_plan_slices_creates_updates_only_changes_and_deletes_extras() -> None:
    s = svc()
    plan = plan_slices(s, [], [pod("a")])
    (created,) = plan.create
    assert not plan.update and not plan.delete
    assert created["metadata"]["generateName"] == "web-"
    assert created["metadata"]["labels"] == {"tier": "front", SERVICE_NAME_LABEL: "web",
                                             MANAGED_BY_LABEL: MANAGED_BY}
    assert created["metadata"]["ownerReferences"][0]["uid"] == "svc-uid"
    assert created["addressType"] == "IPv4"
    stored = copy.deepcopy(created)
    stored["metadata"].update(name="web-abcde", uid="x", resourceVersion="7")
    assert plan_slices(s, [stored], [pod("a")]).update == []  # nothing changed: no write
    unready = plan_slices(s, [stored], [pod("a", ready=False)])
    assert unready.update[0]["metadata"]["name"] == "web-abcde"
    assert unready.update[0]["endpoints"][0]["conditions"]["ready"] is False
    extra = copy.deepcopy(stored)
    extra["metadata"]["name"] = "web-zzzzz"
    extra["ports"] = [{"name": "http", "port": 1, "protocol": "TCP"}]
    assert plan_slices(s, [extra, stored], [pod("a")]).delete == ["web-zzzzz"]


# ---- legacy Endpoints --------------------------------------------------------------------------
def test_desired_endpoints_split_ready_and_not_ready_and_drop_terminating() -> None:
    pods_ = [pod("b", "127.244.0.2", ready=False), pod("a", "127.244.0.9"),
             pod("z", "127.244.0.3"), pod("t", "127.244.0.4", terminating=True)]
    ep = desired_endpoints(svc(), pods_)
    assert ep["metadata"] == {"name": "web", "namespace": NAMESPACE, "labels": {"tier": "front"}}
    (subset,) = ep["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["127.244.0.3", "127.244.0.9"]
    assert [a["targetRef"]["name"] for a in subset["notReadyAddresses"]] == ["b"]
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    published = desired_endpoints(svc(publish=True), pods_)["subsets"][0]
    assert len(published["addresses"]) == 4 and "notReadyAddresses" not in published
    assert "subsets" not in desired_endpoints(svc(), [])


def test_the_proxy_reads_these_slices() -> None:
    pods_ = [pod("a", "127.244.0.1"), pod("b", "127.244.0.2", ready=False),
             pod("t", "127.244.0.3", terminating=True)]
    slices = [{"ports": ports, "endpoints": eps, "addressType": "IPv4",
               "metadata": {"name": "web-x"}} for ports, eps in desired_slices(svc(), pods_)]
    eps = endpoints_for_port(slices, "http", single=True)
    assert [(e.address, e.port, e.ready, e.serving, e.terminating) for e in eps] == [
        ("127.244.0.1", 8080, True, True, False), ("127.244.0.2", 8080, False, False, False),
        ("127.244.0.3", 8080, False, True, True)]
    assert [e.address for e in usable_endpoints(eps)] == ["127.244.0.1"]


# ---- on a store ----------------------------------------------------------------------------------
def slice_of(store: Store, name: str = "web") -> list[dict]:
    found, _ = store.list("endpointslices", NAMESPACE,
                          where=lambda s: s["metadata"]["labels"].get(SERVICE_NAME_LABEL) == name)
    return found


def conditions_by_pod(store: Store) -> dict[str, tuple[bool, bool, bool]]:
    out = {}
    for s in slice_of(store):
        for e in s["endpoints"]:
            c = e["conditions"]
            out[e["targetRef"]["name"]] = (c["ready"], c["serving"], c["terminating"])
    return out


def endpoints_names(store: Store) -> tuple[list[str], list[str]]:
    ep = store.find("endpoints", NAMESPACE, "web") or {}
    subsets = ep.get("subsets") or [{}]
    return ([a["targetRef"]["name"] for a in subsets[0].get("addresses", [])],
            [a["targetRef"]["name"] for a in subsets[0].get("notReadyAddresses", [])])


def bare_pod(name: str) -> dict:
    p = pod(name)
    for key in ("uid",):
        p["metadata"].pop(key)
    p["spec"].pop("nodeName")
    p["spec"]["terminationGracePeriodSeconds"] = 30
    p["status"] = {"phase": "Pending"}
    return p


def test_slices_follow_readiness_and_termination() -> None:
    """Steps: a Service and two pods that become ready; one turns unready; the other is
    deleted gracefully and stays terminating (serving while still ready), then the kubelet
    removes it; finally the Service is deleted and its Endpoints and slices go with it."""
    async def scenario() -> None:
        async with controllers(EndpointsController) as (store, started):
            client = started[0].client  # deletes go through the API's rules, like kubectl's
            kubelet = FakeKubelet(store, remove_terminating=False)
            async with kubelet:
                store.create("services", service())
                await until(lambda: slice_of(store) and store.find("endpoints", NAMESPACE,
                                                                   "web"), what="placeholder")
                assert slice_of(store)[0]["endpoints"] == []
                store.create("pods", bare_pod("a"))
                store.create("pods", bare_pod("b"))
                await until(lambda: conditions_by_pod(store) == {
                    "a": (True, True, False), "b": (True, True, False)}, what="both ready")
                assert endpoints_names(store) == (["a", "b"], [])
                (only,) = slice_of(store)
                assert only["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
                assert only["metadata"]["name"].startswith("web-")

                kubelet.set_ready(NAMESPACE, "a", False)
                await until(lambda: conditions_by_pod(store)["a"] == (False, False, False),
                            what="a unready")
                assert endpoints_names(store) == (["b"], ["a"])

                client.delete("pods", NAMESPACE, "b")
                await until(lambda: conditions_by_pod(store)["b"] == (False, True, True),
                            what="b terminating, still serving")
                assert endpoints_names(store) == ([], ["a"])
                kubelet.set_ready(NAMESPACE, "b", False)  # readiness still probed
                await until(lambda: conditions_by_pod(store)["b"] == (False, False, True),
                            what="b terminating, no longer serving")
                store.delete("pods", NAMESPACE, "b")
                await until(lambda: set(conditions_by_pod(store)) == {"a"}, what="b gone")
                assert len(slice_of(store)) == 1  # updated in place

                store.delete("services", NAMESPACE, "web")
                await until(lambda: not slice_of(store) and store.find(
                    "endpoints", NAMESPACE, "web") is None, what="cleanup")

    run(scenario())


def test_publish_not_ready_addresses_and_selectorless_services() -> None:
    async def scenario() -> None:
        async with controllers(EndpointsController) as (store, _), \
                FakeKubelet(store, ready_when=lambda p: False):
            store.create("services", service(publish=True))
            manual = service("manual")
            del manual["spec"]["selector"]
            store.create("services", manual)
            store.create("pods", bare_pod("a"))
            await until(lambda: conditions_by_pod(store) == {"a": (True, True, False)},
                        what="unready pod published")
            assert endpoints_names(store) == (["a"], [])
            assert slice_of(store, "manual") == []
            assert store.find("endpoints", NAMESPACE, "manual") is None

    run(scenario())


def test_the_service_proxy_routes_to_what_the_controller_wrote() -> None:
    async def scenario() -> None:
        async with controllers(EndpointsController) as (store, started):
            s = service()
            s["spec"]["clusterIP"] = "127.96.0.77"
            s["spec"]["ports"][0]["port"] = free_port("127.96.0.77")
            store.create("services", s)
            proxy = ServiceProxy()
            await proxy.start(replace(started[0].ctx,
                                      config=EngineConfig(endpoint_delay_s=0.05)))
            try:
                async with FakeKubelet(store, remove_terminating=False):
                    for name in ("a", "b"):
                        store.create("pods", bare_pod(name))
                    await until(lambda: len(proxy.usable(NAMESPACE, "web", "http")) == 2,
                                what="proxy sees two endpoints")
                    assert {e.port for e in proxy.usable(NAMESPACE, "web", "http")} == {8080}
                    started[0].client.delete("pods", NAMESPACE, "a")
                    await until(lambda: [e.pod for e in proxy.usable(NAMESPACE, "web", "http")]
                                == ["b"], what="terminating pod no longer used")
            finally:
                await proxy.stop()

    run(scenario())


def test_a_pod_relabelled_out_of_the_selector_leaves_the_slice() -> None:
    """The pod exists before the controller starts, so only the labels remembered at start
    tell which Service it just left."""
    async def scenario() -> None:
        store = Store()
        store.create("namespaces", {"metadata": {"name": NAMESPACE}})
        store.create("services", service())
        p = bare_pod("a")
        p["spec"]["nodeName"] = "node-1"
        p["status"] = {"phase": "Running", "podIP": "127.244.0.8",
                       "conditions": [{"type": "Ready", "status": "True"}]}
        store.create("pods", p)
        async with controllers(EndpointsController, store=store):
            await until(lambda: conditions_by_pod(store) == {"a": (True, True, False)},
                        what="listed")
            store.mutate("pods", NAMESPACE, "a",
                         lambda o: o["metadata"]["labels"].update(app="other"))
            await until(lambda: conditions_by_pod(store) == {}, what="gone from the slice")
            assert endpoints_names(store) == ([], [])

    run(scenario())
