"""DaemonSet controller rules (`controllers.daemonset.plan`), as tables: which nodes should run
the pod (nodeSelector, taints against the daemon tolerations), one pod per node, rolling update
within maxUnavailable, and the status `kubectl rollout status ds/x` reads."""

from __future__ import annotations

import pytest

from probelab.engine.controllers.daemonset.controller import daemon_pod
from probelab.engine.controllers.daemonset.plan import (
    REVISION_LABEL,
    daemon_set_status,
    daemon_tolerations,
    max_unavailable,
    plan_daemon_set,
    should_run,
)
from probelab.engine.core.clock import rfc3339

NOW = 1_700_000_000.0
OLD, NEW = "old", "new"


def ds(*, node_selector: dict | None = None, strategy: str = "RollingUpdate",
       unavailable: object = 1, tolerations: list | None = None) -> dict:
    pod_spec: dict = {"containers": [{"name": "c", "image": "i"}]}
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    if tolerations:
        pod_spec["tolerations"] = tolerations
    update: dict = {"type": strategy}
    if strategy == "RollingUpdate":
        update["rollingUpdate"] = {"maxUnavailable": unavailable, "maxSurge": 0}
    return {"metadata": {"name": "agent", "namespace": "demo", "uid": "ds", "generation": 3},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "updateStrategy": update,
                     "template": {"metadata": {"labels": {"app": "agent"}}, "spec": pod_spec}},
            "status": {}}


def node(name: str, labels: dict | None = None, taints: list | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"taints": taints} if taints else {}}


def pod(name: str, on: str, revision: str = NEW, state: str = "ready",
        age_s: float = 100.0) -> dict:
    m = {"name": name, "namespace": "demo", "labels": {"app": "agent", REVISION_LABEL: revision},
         "creationTimestamp": rfc3339(NOW - age_s)}
    if state == "terminating":
        m["deletionTimestamp"] = rfc3339(NOW + 30)
    ready = state in ("ready", "terminating")
    return {"metadata": m, "spec": {"nodeName": on},
            "status": {"phase": "Failed" if state == "failed" else "Running",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                       "lastTransitionTime": rfc3339(NOW - 50)}]}}


CORDONED = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
GPU_TAINT = {"key": "gpu", "value": "yes", "effect": "NoSchedule"}

FITS = [
    ("plain node", ds(), node("a"), True),
    ("cordoned node: the daemon toleration covers it", ds(), node("a", taints=[CORDONED]), True),
    ("not-ready NoExecute taint tolerated", ds(),
     node("a", taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]), True),
    ("foreign NoSchedule taint: no pod", ds(), node("a", taints=[GPU_TAINT]), False),
    ("foreign taint tolerated by the template", ds(tolerations=[
        {"key": "gpu", "operator": "Equal", "value": "yes", "effect": "NoSchedule"}]),
     node("a", taints=[GPU_TAINT]), True),
    ("PreferNoSchedule does not keep the pod away", ds(),
     node("a", taints=[{"key": "x", "effect": "PreferNoSchedule"}]), True),
    ("nodeSelector matches", ds(node_selector={"disk": "ssd"}),
     node("a", {"disk": "ssd"}), True),
    ("nodeSelector does not match", ds(node_selector={"disk": "ssd"}), node("a"), False),
]


@pytest.mark.parametrize(("why", "dset", "the_node", "expected"), FITS,
                         ids=[f[0] for f in FITS])
def test_should_run(why: str, dset: dict, the_node: dict, expected: bool) -> None:
    assert should_run(dset, the_node) is expected


PLANS = [
    ("one pod per node", ds(), [node("a"), node("b")], [], ["a", "b"], []),
    ("node with a pod gets none", ds(), [node("a"), node("b")], [pod("p", "a")], ["b"], []),
    ("a terminating pod is waited for", ds(), [node("a")], [pod("p", "a", state="terminating")],
     [], []),
    ("two pods on a node: the newer goes", ds(), [node("a")],
     [pod("old", "a", age_s=200), pod("young", "a", age_s=10)], [], ["young"]),
    ("a failed pod is deleted (and replaced once gone)", ds(), [node("a")],
     [pod("p", "a", state="failed")], [], ["p"]),
    ("pod on a node that no longer fits is deleted", ds(node_selector={"disk": "ssd"}),
     [node("a")], [pod("p", "a")], [], ["p"]),
    ("pod on a node that is gone is deleted", ds(), [node("a")],
     [pod("p", "a"), pod("q", "ghost")], [], ["q"]),
    ("update: one old pod at a time", ds(), [node("a"), node("b"), node("c")],
     [pod("pa", "a", OLD), pod("pb", "b", OLD), pod("pc", "c", OLD)], [], ["pa"]),
    ("update: waits while a new pod is unavailable", ds(), [node("a"), node("b")],
     [pod("pa", "a", NEW, state="running"), pod("pb", "b", OLD)], [], []),
    ("update: an unavailable old pod is replaced at once", ds(), [node("a"), node("b")],
     [pod("pa", "a", NEW, state="running"), pod("pb", "b", OLD, state="running")], [], ["pb"]),
    ("update: maxUnavailable 2", ds(unavailable=2), [node("a"), node("b"), node("c")],
     [pod("pa", "a", OLD), pod("pb", "b", OLD), pod("pc", "c", OLD)], [], ["pa", "pb"]),
    ("OnDelete: old pods stay", ds(strategy="OnDelete"), [node("a")], [pod("pa", "a", OLD)],
     [], []),
]


@pytest.mark.parametrize(("why", "dset", "nodes", "pods", "creates", "deletes"), PLANS,
                         ids=[p[0] for p in PLANS])
def test_plan(why: str, dset: dict, nodes: list, pods: list, creates: list,
              deletes: list) -> None:
    plan = plan_daemon_set(dset, nodes, pods, NEW, NOW)
    assert plan.create == creates
    assert plan.delete == deletes


def test_max_unavailable_percent_rounds_up() -> None:
    assert max_unavailable(ds(unavailable="10%"), 5) == 1
    assert max_unavailable(ds(unavailable="50%"), 3) == 2


def test_status() -> None:
    nodes = [node("a"), node("b"), node("c", {"skip": "1"})]
    dset = ds(node_selector=None)
    pods = [pod("pa", "a", NEW), pod("pb", "b", OLD, state="running")]
    st = daemon_set_status(dset, nodes, pods, NEW, NOW)
    assert st == {"desiredNumberScheduled": 3, "currentNumberScheduled": 2,
                  "numberMisscheduled": 0, "numberReady": 1, "numberAvailable": 1,
                  "updatedNumberScheduled": 1, "numberUnavailable": 2, "observedGeneration": 3}
    picky = ds(node_selector={"skip": "1"})
    st = daemon_set_status(picky, nodes, pods, NEW, NOW)
    assert (st["desiredNumberScheduled"], st["numberMisscheduled"]) == (1, 2)


def test_daemon_pod() -> None:
    made = daemon_pod(ds(), "a", NEW)
    assert made["spec"]["nodeName"] == "a"
    assert made["metadata"]["generateName"] == "agent-"
    assert made["metadata"]["labels"][REVISION_LABEL] == NEW
    assert made["metadata"]["labels"]["pod-template-generation"] == "3"
    keys = {(t["key"], t["effect"]) for t in made["spec"]["tolerations"]}
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in keys
    assert ("node.kubernetes.io/not-ready", "NoExecute") in keys
    terms = made["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                       "values": ["a"]}]}]
    host = daemon_tolerations({"hostNetwork": True})
    assert any(t["key"] == "node.kubernetes.io/network-unavailable" for t in host)
