"""The eviction subresource's decisions against the real registry, in-process (the same
`registry.eviction.evict` the HTTP handler calls; `test_nodes.py` drives it over HTTPS with the
official client and kubectl drain): which pods skip the budget, unready pods under each
`unhealthyPodEvictionPolicy`, a budget the controller has not observed yet, the decrement and
`disruptedPods` record, and the Eviction's delete options."""

from __future__ import annotations

import random
from typing import Any

import pytest

from probelab.engine.apiserver.registry import eviction
from probelab.engine.apiserver.status import ApiError
from probelab.engine.core.context import EngineConfig
from probelab.engine.engine import build_context
from support.controllers import NAMESPACE, namespace

EVICTION = {"apiVersion": "policy/v1", "kind": "Eviction"}


class Cluster:
    def __init__(self) -> None:
        ctx = build_context(EngineConfig(), rng=random.Random(3))
        self.client, self.store = ctx.client, ctx.store
        self.registry = ctx.client.registry  # type: ignore[attr-defined]
        self.client.create("namespaces", namespace())

    def pod(self, name: str, phase: str = "Running", ready: bool = True) -> None:
        self.client.create("pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "probelab/simpleweb:1.0"}]}})
        self.client.bind(NAMESPACE, name, "probelab")
        self.client.mutate("pods", NAMESPACE, name, lambda p: p.update(status={
            "phase": phase, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}),
            subresource="status")

    def budget(self, allowed: int, *, observed: bool = True, healthy: int = 2, desired: int = 2,
               policy: str | None = None) -> None:
        spec: dict[str, Any] = {"minAvailable": desired,
                                "selector": {"matchLabels": {"app": "web"}}}
        if policy:
            spec["unhealthyPodEvictionPolicy"] = policy
        created = self.client.create("poddisruptionbudgets", {
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": NAMESPACE}, "spec": spec})
        self.client.mutate("poddisruptionbudgets", NAMESPACE, "web", lambda b: b.update(status={
            "disruptionsAllowed": allowed, "currentHealthy": healthy, "desiredHealthy": desired,
            "expectedPods": healthy,
            "observedGeneration": created["metadata"]["generation"] if observed else 0}),
            subresource="status")

    def evict(self, name: str, **options: Any) -> dict:
        body = {**EVICTION, "metadata": {"name": name}}
        if options:
            body["deleteOptions"] = options
        return eviction.evict(self.registry, NAMESPACE, name, body)

    def pdb_status(self) -> dict:
        return self.store.find("poddisruptionbudgets", NAMESPACE, "web")["status"]

    def terminating(self, name: str) -> bool:
        pod = self.store.find("pods", NAMESPACE, name)
        return pod is None or bool(pod["metadata"].get("deletionTimestamp"))


SUCCESS = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}


def test_an_allowed_eviction_spends_the_budget_and_records_the_pod() -> None:
    cluster = Cluster()
    cluster.pod("a")
    cluster.budget(allowed=1)
    assert cluster.evict("a", gracePeriodSeconds=7) == SUCCESS
    status = cluster.pdb_status()
    assert status["disruptionsAllowed"] == 0 and set(status["disruptedPods"]) == {"a"}
    assert status["conditions"][-1]["reason"] == "InsufficientPods"
    pod = cluster.store.find("pods", NAMESPACE, "a")
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 7  # the Eviction's deleteOptions


@pytest.mark.parametrize(("allowed", "observed", "cause"), [
    (0, True, "The disruption budget web needs 2 healthy pods and has 2 currently"),
    (3, False, "The disruption budget web is still being processed by the server."),
])
def test_a_budget_that_allows_nothing_or_is_unobserved_is_429(allowed: int, observed: bool,
                                                              cause: str) -> None:
    cluster = Cluster()
    cluster.pod("a")
    cluster.budget(allowed=allowed, observed=observed)
    with pytest.raises(ApiError) as caught:
        cluster.evict("a")
    assert (caught.value.code, caught.value.reason, caught.value.message) == (
        429, "TooManyRequests", eviction.VIOLATES)
    assert caught.value.details == {"causes": [{"reason": "DisruptionBudget", "message": cause}]}
    assert not cluster.terminating("a") and cluster.pdb_status()["disruptionsAllowed"] == allowed


@pytest.mark.parametrize("phase", ["Pending", "Succeeded", "Failed"])
def test_pods_that_are_not_running_skip_the_budget(phase: str) -> None:
    cluster = Cluster()
    cluster.pod("a", phase=phase)
    cluster.budget(allowed=0)
    assert cluster.evict("a") == SUCCESS
    assert cluster.terminating("a") and cluster.pdb_status()["disruptionsAllowed"] == 0


@pytest.mark.parametrize(("policy", "healthy", "desired", "evicted"), [
    ("AlwaysAllow", 1, 2, True),
    ("IfHealthyBudget", 2, 2, True),  # the budget is met without this pod
    (None, 2, 2, True),  # IfHealthyBudget is the default
    ("IfHealthyBudget", 1, 2, False),
    (None, 0, 0, False),  # desiredHealthy 0 does not count as met
])
def test_unready_pods(policy: str | None, healthy: int, desired: int, evicted: bool) -> None:
    cluster = Cluster()
    cluster.pod("sick", ready=False)
    cluster.budget(allowed=0, healthy=healthy, desired=desired, policy=policy)
    if evicted:
        assert cluster.evict("sick") == SUCCESS
    else:
        with pytest.raises(ApiError) as caught:
            cluster.evict("sick")
        assert caught.value.code == 429
    assert cluster.terminating("sick") is evicted
    assert cluster.pdb_status()["disruptionsAllowed"] == 0
    assert "disruptedPods" not in cluster.pdb_status()  # the budget was not spent


def test_no_budget_deletes_and_a_missing_pod_is_404() -> None:
    cluster = Cluster()
    cluster.pod("a")
    assert cluster.evict("a") == SUCCESS and cluster.terminating("a")
    with pytest.raises(ApiError) as caught:
        cluster.evict("nope")
    assert (caught.value.code, caught.value.message) == (404, 'pods "nope" not found')
