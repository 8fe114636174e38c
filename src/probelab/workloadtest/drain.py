"""The `drain` scenario's decisions, as `kubectl drain` makes them (pure).

`kubectl drain NODE` cordons the node (`spec.unschedulable: true`), then evicts each pod
through the Eviction API (`POST pods/NAME/eviction`, policy/v1), which refuses with 429
TooManyRequests while a PodDisruptionBudget allows no disruption; kubectl then waits 5 s and
tries that pod again, until its `--timeout` (staging/src/k8s.io/kubectl/pkg/drain/drain.go,
`evictPods`; the API side: pkg/registry/core/pod/storage/eviction.go). A 404 means the pod is
already gone. `probelab test --scenario drain` does the same for each node that runs the
workload's pods, one node at a time as a node upgrade goes (drain, replacements Ready on the
other nodes, uncordon, next node), bounded by `--rollout-timeout`; a node it cordoned is
uncordoned whatever happens.

What it measures depends on where the replacements can go: a drain is only a rollout when
another schedulable node exists. On a one-node cluster a cordoned node takes no replacement, so
`kubectl drain` of the only node is an outage by design, PDB or not; the scenario then measures
nothing and says why instead (see `unmeasurable`). The local engine has two logical nodes when
a drain is to run (`probelab test` without `--nodes`), so there it measures.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

Obj = dict[str, Any]

RETRY_S = 5.0  # kubectl drain's wait before evicting a pod again after a 429


class Eviction(Enum):
    EVICTED = "evicted"  # 200/201: the pod is being deleted gracefully
    BLOCKED = "blocked"  # 429: a PodDisruptionBudget allows no disruption now; retry
    GONE = "gone"  # 404: nothing left to evict
    FAILED = "failed"  # anything else: the drain stops, as kubectl's does


def outcome(status: int) -> Eviction:
    """What an Eviction API answer means for the drain."""
    if status in (200, 201):
        return Eviction.EVICTED
    if status == 429:
        return Eviction.BLOCKED
    if status == 404:
        return Eviction.GONE
    return Eviction.FAILED


def eviction_body(namespace: str, name: str) -> Obj:
    """The policy/v1 Eviction that `kubectl drain` posts (the pod's own grace period)."""
    return {"apiVersion": "policy/v1", "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace}}


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def nodes_of(pods: list[Obj]) -> list[str]:
    """The nodes that run the workload's (not terminating) pods: those the drain cordons."""
    return sorted({str((p.get("spec") or {}).get("nodeName")) for p in pods
                   if (p.get("spec") or {}).get("nodeName")
                   and not _meta(p).get("deletionTimestamp")})


def pods_on(pods: list[Obj], node: str) -> list[str]:
    """The names of the (not terminating) pods bound to `node`: those its drain evicts."""
    return sorted(str(_meta(p).get("name")) for p in pods
                  if (p.get("spec") or {}).get("nodeName") == node
                  and not _meta(p).get("deletionTimestamp"))


def _ready(node: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def schedulable_others(nodes: list[Obj], drained: list[str]) -> list[str]:
    """Nodes a replacement can go to while `drained` are cordoned: Ready, not unschedulable."""
    return sorted(str(_meta(n).get("name")) for n in nodes
                  if _meta(n).get("name") not in drained
                  and not (n.get("spec") or {}).get("unschedulable") and _ready(n))


def unmeasurable(serves_nodes: bool, nodes: list[Obj], pods: list[Obj]) -> str:
    """Why a drain cannot be measured on this cluster, or "" when it can."""
    if not serves_nodes:
        return ("drain needs Node objects and the Eviction API; this cluster serves no nodes "
                "resource")
    drained = nodes_of(pods)
    if not drained:
        return "drain: no pod of the workload is bound to a node"
    stuck = [name for name in drained if not schedulable_others(nodes, [name])]
    if stuck:
        names = ", ".join(stuck)
        return (f"drain: no schedulable node besides {names}: cordoned, it takes no "
                "replacement, so draining it is an outage by design (kubectl drain of the only "
                "node), not a rollout to measure")
    return ""


def pending(pods: list[str], answers: dict[str, int]) -> tuple[list[str], str]:
    """After one round of evictions (pod → HTTP status): the pods to try again after
    `RETRY_S` (blocked by a PDB), and the first failure that stops the drain ("" if none)."""
    retry, failure = [], ""
    for pod in pods:
        result = outcome(answers[pod])
        if result is Eviction.BLOCKED:
            retry.append(pod)
        elif result is Eviction.FAILED and not failure:
            failure = f"eviction of pod {pod} failed: HTTP {answers[pod]}"
    return retry, failure
