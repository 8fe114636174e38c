"""Namespace controller: the purge order (table) and, with every controller and a fake kubelet on
a real store, a namespace being deleted: its workloads go first, its pods terminate gracefully
(nothing recreates them), then the namespace object itself is removed."""

from __future__ import annotations

from probelab.engine.controllers.deployment.controller import DeploymentController
from probelab.engine.controllers.endpoints import EndpointsController
from probelab.engine.controllers.namespace import (
    NamespaceController,
    PurgeStep,
    is_empty,
    is_terminating,
    namespaced_resources,
    plan_purge,
    purge_wait_s,
)
from probelab.engine.controllers.replicaset import ReplicaSetController
from probelab.engine.core.clock import rfc3339
from probelab.engine.core.store import EventType
from probelab.k8s.resources import RESOURCES
from support.controllers import NAMESPACE, controllers, deployment, pods, service
from support.fake_kubelet import FakeKubelet
from support.loops import run
from support.waiting import until


class QuickNamespaceController(NamespaceController):
    deletion_grace_s = 0.2  # 5 s in the engine


def obj(name: str, **meta) -> dict:
    return {"metadata": {"name": name, **meta}}


def test_purge_order_owners_first_pods_gracefully_events_last() -> None:
    contents = {
        "events": [obj("e1")], "pods": [obj("p1"), obj("p2", deletionTimestamp="x")],
        "endpointslices": [obj("s1")], "services": [obj("svc")],
        "replicasets": [obj("rs")], "deployments": [obj("d")], "endpoints": [obj("svc")],
    }
    assert plan_purge(contents) == [
        PurgeStep("deployments", "d"), PurgeStep("replicasets", "rs"),
        PurgeStep("services", "svc"), PurgeStep("endpointslices", "s1"),
        PurgeStep("endpoints", "svc"), PurgeStep("pods", "p1"),
        PurgeStep("events", "e1")]  # p2 is already terminating: the kubelet's now
    assert not is_empty(contents) and is_empty({"pods": [], "events": []})


def test_every_namespaced_resource_is_purged_once() -> None:
    order = namespaced_resources()
    assert sorted(order) == sorted(r.plural for r in RESOURCES if r.namespaced)
    assert order[-1] == "events"


def test_purge_waits_the_namespace_deletion_grace_period() -> None:
    assert purge_wait_s(100.0, 100.0) == 5.0
    assert purge_wait_s(100.0, 103.5) == 1.5
    assert purge_wait_s(100.0, 107.0) == 0.0
    assert purge_wait_s(100.0, 100.1, grace_s=0.0) == 0.0


def test_is_terminating() -> None:
    assert is_terminating({"metadata": {"deletionTimestamp": "t"}})
    assert is_terminating({"metadata": {}, "status": {"phase": "Terminating"}})
    assert not is_terminating({"metadata": {}, "status": {"phase": "Active"}})


def test_deleting_a_namespace_terminates_its_pods_then_removes_it() -> None:
    """Steps: a Deployment of 3 and a Service run; the namespace is marked for deletion (as
    DELETE namespace does); while the grace period runs nothing is deleted yet; then every pod
    must get a deletionTimestamp before it disappears, no new pod may appear, and the namespace
    goes once the kubelet has removed the last pod."""
    async def scenario() -> None:
        async with controllers(QuickNamespaceController, DeploymentController,
                               ReplicaSetController, EndpointsController) as (store, _), \
                FakeKubelet(store, stop_delay_s=0.05):
            store.create("deployments", deployment(replicas=3))
            store.create("services", service())
            await until(lambda: len([p for p in pods(store) if p["status"].get("conditions")
                                     and p["status"]["conditions"][0]["status"] == "True"]) == 3
                        and store.find("endpoints", NAMESPACE, "web"), what="running")
            watcher = store.watch("pods", since=store.resource_version)
            store.mutate("namespaces", None, NAMESPACE, lambda ns: ns["metadata"].update(
                deletionTimestamp=rfc3339(store.clock.now())))
            await until(lambda: store.get("namespaces", None, NAMESPACE)["status"]["phase"]
                        == "Terminating", what="seen by the controller")
            assert store.find("deployments", NAMESPACE, "web") is not None  # grace period
            assert not any(p["metadata"].get("deletionTimestamp") for p in pods(store))
            await until(lambda: store.find("namespaces", None, NAMESPACE) is None,
                        what="namespace removed")
            watcher.close()
            history = [e async for e in watcher]
            added = [e for e in history if e.type is EventType.ADDED]
            marked = {e.obj["metadata"]["name"] for e in history
                      if e.type is EventType.MODIFIED and e.obj["metadata"].get(
                          "deletionTimestamp")}
            gone = {e.obj["metadata"]["name"] for e in history if e.type is EventType.DELETED}
            assert not added
            assert len(gone) == 3 and gone == marked  # graceful: marked first, then removed
            for resource in namespaced_resources():
                assert store.list(resource, NAMESPACE)[0] == [], resource

    run(scenario())


def test_a_namespace_marked_only_by_its_timestamp_gets_phase_terminating() -> None:
    async def scenario() -> None:
        async with controllers(QuickNamespaceController) as (store, _):
            store.create("namespaces", {"metadata": {"name": "busy"}, "spec": {},
                                        "status": {"phase": "Active"}})
            store.create("pods", {"metadata": {"name": "p", "namespace": "busy"},
                                  "spec": {"nodeName": "node-1"}, "status": {}})
            watcher = store.watch("namespaces", since=store.resource_version)
            store.mutate("namespaces", None, "busy", lambda ns: ns["metadata"].update(
                deletionTimestamp=rfc3339(store.clock.now())))
            await until(lambda: store.get("pods", "busy", "p")["metadata"].get(
                "deletionTimestamp"), what="pod terminating")
            assert store.get("namespaces", None, "busy")["status"]["phase"] == "Terminating"
            store.delete("pods", "busy", "p")  # what the kubelet does at the end
            await until(lambda: store.find("namespaces", None, "busy") is None, what="gone")
            watcher.close()
            phases = [e.obj["status"]["phase"] async for e in watcher]
            assert phases[-2:] == ["Terminating", "Terminating"]

    run(scenario())


class SlowNamespaceController(NamespaceController):
    deletion_grace_s = 30.0  # the content stays while the test looks


def test_a_replica_set_in_a_terminating_namespace_does_not_replace_its_pods() -> None:
    """The API server refuses new content in a namespace being deleted (NamespaceLifecycle), so
    a pod force-deleted there is not replaced; in an active namespace it is."""
    async def scenario() -> None:
        async with controllers(SlowNamespaceController, DeploymentController,
                               ReplicaSetController) as (store, _), \
                FakeKubelet(store, stop_delay_s=0.05):
            store.create("deployments", deployment(replicas=3))
            await until(lambda: len(pods(store)) == 3, what="3 pods")
            store.delete("pods", NAMESPACE, pods(store)[0]["metadata"]["name"])
            await until(lambda: len(pods(store)) == 3, what="the lost pod replaced")
            store.mutate("namespaces", None, NAMESPACE, lambda ns: ns["metadata"].update(
                deletionTimestamp=rfc3339(store.clock.now())))
            await until(lambda: store.get("namespaces", None, NAMESPACE)["status"]["phase"]
                        == "Terminating", what="seen by the controller")
            watcher = store.watch("pods", since=store.resource_version)
            store.delete("pods", NAMESPACE, pods(store)[0]["metadata"]["name"])
            [rs] = store.list("replicasets", NAMESPACE)[0]
            await until(lambda: store.get("replicasets", NAMESPACE, rs["metadata"]["name"])
                        ["status"].get("replicas") == 2, what="the set counting 2 pods")
            watcher.close()
            assert not [e async for e in watcher if e.type is EventType.ADDED]
            assert len(pods(store)) == 2

    run(scenario())
