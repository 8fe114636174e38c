"""The in-process client the engine's components write through: the registry's rules apply to
them as to kubectl (NamespaceLifecycle, validation, binding, graceful deletion, finalize,
generateName retries), and the API's errors arrive as the core error classes."""

from __future__ import annotations

import random

import pytest

from probelab.engine.core.client import NAMESPACE_TERMINATING, Rejected
from probelab.engine.core.context import EngineConfig
from probelab.engine.core.store import AlreadyExists, Conflict, NotFound, Store
from probelab.engine.engine import build_context
from probelab.engine.kubelet.pod import Termination
from probelab.engine.kubelet.termination import KillReason
from support.controllers import NAMESPACE, deployment, namespace, replica_set


def client_on(store: Store | None = None):
    ctx = build_context(EngineConfig(), store=store, rng=random.Random(3))
    ctx.client.create("namespaces", namespace())
    return ctx.client, ctx.store


def pod(name: str = "p", node: str | None = None) -> dict:
    spec = {"containers": [{"name": "app", "image": "probelab/simpleweb:1.0"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": spec, "status": {"phase": "Running"}}


def test_a_write_gets_the_apis_defaults_and_initial_status() -> None:
    client, _ = client_on()
    created = client.create("pods", pod())
    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}  # not "Running"
    assert created["spec"]["terminationGracePeriodSeconds"] == 30
    assert created["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"


def test_an_invalid_object_is_rejected_with_its_causes() -> None:
    client, store = client_on()
    bad = deployment(replicas=-1)
    with pytest.raises(Rejected) as caught:
        client.create("deployments", bad)
    assert caught.value.code == 422 and caught.value.reason == "Invalid"
    assert store.list("deployments")[0] == []


def test_no_new_content_in_a_terminating_namespace() -> None:
    client, _ = client_on()
    client.create("pods", pod("keep", node="n1"))  # keeps the namespace from going at once
    client.delete("namespaces", None, NAMESPACE)
    with pytest.raises(Rejected) as caught:
        client.create("replicasets", replica_set())
    assert caught.value.code == 403 and caught.value.has_cause(NAMESPACE_TERMINATING)
    with pytest.raises(NotFound):
        client.create("pods", {**pod("x"), "metadata": {"name": "x", "namespace": "nowhere"}})


def test_errors_arrive_as_core_classes() -> None:
    client, _ = client_on()
    client.create("pods", pod("dup"))
    with pytest.raises(AlreadyExists):
        client.create("pods", pod("dup"))
    with pytest.raises(NotFound):
        client.delete("pods", NAMESPACE, "absent")
    stale = client.create("pods", pod("stale"))
    client.mutate("pods", NAMESPACE, "stale", lambda o: o["metadata"].update(labels={"a": "b"}))
    with pytest.raises(Conflict):
        client.update("pods", stale)  # its resourceVersion is a precondition
    assert client.mutate("pods", NAMESPACE, "absent", lambda o: None) is None


def test_binding_sets_the_node_once() -> None:
    client, _ = client_on()
    client.create("pods", pod("b"))
    assert client.bind(NAMESPACE, "b", "node-1")["spec"]["nodeName"] == "node-1"
    assert client.bind(NAMESPACE, "b", "node-1")["spec"]["nodeName"] == "node-1"  # same node
    with pytest.raises(Conflict, match="already assigned"):
        client.bind(NAMESPACE, "b", "node-2")
    with pytest.raises(Rejected):  # and never through a plain update of the spec
        client.mutate("pods", NAMESPACE, "b", lambda o: o["spec"].update(nodeName="node-3"))


def test_pod_deletion_is_graceful_when_bound_and_a_uid_precondition_holds() -> None:
    client, store = client_on()
    client.create("pods", pod("g", node="node-1"))
    marked = client.delete("pods", NAMESPACE, "g", grace_s=7)
    assert marked is not None and marked["metadata"]["deletionGracePeriodSeconds"] == 7
    assert store.find("pods", NAMESPACE, "g") is not None  # the kubelet removes it
    with pytest.raises(Conflict, match="Precondition"):
        client.delete("pods", NAMESPACE, "g", grace_s=0, uid="another-pods-uid")
    client.delete("pods", NAMESPACE, "g", grace_s=0, uid=marked["metadata"]["uid"])
    assert store.find("pods", NAMESPACE, "g") is None
    client.create("pods", pod("unbound"))
    client.delete("pods", NAMESPACE, "unbound")  # never bound: goes at once
    assert store.find("pods", NAMESPACE, "unbound") is None


def test_finalize_removes_a_terminating_namespace() -> None:
    client, store = client_on()
    client.delete("namespaces", None, NAMESPACE)
    assert store.find("namespaces", None, NAMESPACE)["status"]["phase"] == "Terminating"
    client.finalize(NAMESPACE, [])
    assert store.find("namespaces", None, NAMESPACE) is None


def test_deleting_an_owner_cascades_through_the_api() -> None:
    client, store = client_on()
    rs = client.create("replicasets", replica_set())
    owned = pod("child", node="node-1")
    owned["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                             "name": "web-rs", "uid": rs["metadata"]["uid"],
                                             "controller": True}]
    client.create("pods", owned)
    client.delete("replicasets", NAMESPACE, "web-rs")
    child = store.find("pods", NAMESPACE, "child")
    assert child is not None and child["metadata"].get("deletionTimestamp")  # graceful


def test_a_generated_name_that_collides_is_tried_again(monkeypatch) -> None:
    client, _ = client_on()
    suffixes = iter(["aaaaa", "aaaaa", "bbbbb"])
    monkeypatch.setattr("probelab.engine.core.store._random_suffix", lambda: next(suffixes))
    template = {**pod(), "metadata": {"generateName": "web-", "namespace": NAMESPACE}}
    assert client.create("pods", template)["metadata"]["name"] == "web-aaaaa"
    assert client.create("pods", template)["metadata"]["name"] == "web-bbbbb"


def test_termination_moves_its_deadlines_only_forward() -> None:
    termination = Termination()
    termination.request(KillReason.SHUTDOWN)
    termination.request(KillReason.DELETED)
    assert termination.reason is KillReason.SHUTDOWN  # the first request counts
    assert termination.grace_end(began=100.0, grace_s=30) == 130.0
    termination.shorten(seen_at=105.0, grace_s=5)
    assert termination.grace_end(began=100.0, grace_s=30) == 110.0
    assert termination.grace_end(began=106.0, grace_s=30) == 136.0  # a later kill: unaffected
    assert termination.kill_at(signalled=104.0, timeout_s=20) == 110.0
    termination.shorten(seen_at=107.0, grace_s=60)  # a longer grace never extends
    assert termination.grace_end(began=100.0, grace_s=30) == 110.0
