"""One daemon pod per eligible Node, as pure functions (`pkg/controller/daemon/
daemon_controller.go` manage / podsShouldBeOnNode / updateDaemonSetStatus,
`pkg/controller/daemon/update.go` rollingUpdate, `pkg/controller/daemon/util/
daemonset_util.go` AddOrUpdateDaemonPodTolerations, `pkg/scheduler/framework/plugins/
tainttoleration` and `nodeaffinity` for which nodes fit).

A node should run the pod when the template's `nodeSelector` matches its labels and the pod
tolerates its NoSchedule and NoExecute taints (the daemon tolerations below make a cordoned or
not-ready node no obstacle). A node that should run it and has none gets one; extra pods on a
node, and pods on nodes that should not run it, are deleted. RollingUpdate with `maxSurge` 0
deletes old pods, the unavailable ones first and then available ones while fewer than
`maxUnavailable` are unavailable; the manage step then creates the new pod on the emptied node.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from probelab.engine.controllers import pods as podutil
from probelab.k8s.objects import Obj, meta, spec, status

REVISION_LABEL = "controller-revision-hash"
# AddOrUpdateDaemonPodTolerations: what every daemon pod tolerates.
DAEMON_TOLERATIONS: tuple[Obj, ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists",
     "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
NETWORK_UNAVAILABLE = {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists",
                       "effect": "NoSchedule"}  # added for hostNetwork pods


def daemon_tolerations(pod_spec: Mapping[str, Any]) -> list[Obj]:
    """The pod's tolerations plus the daemon ones it does not already have."""
    have = [t for t in pod_spec.get("tolerations") or () if isinstance(t, dict)]
    extra = list(DAEMON_TOLERATIONS)
    if pod_spec.get("hostNetwork"):
        extra.append(NETWORK_UNAVAILABLE)
    keys = {(t.get("key"), t.get("effect")) for t in have}
    return have + [dict(t) for t in extra if (t["key"], t["effect"]) not in keys]


def tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """`ToleratesTaint` for one taint."""
    for tol in tolerations:
        effect = tol.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        key = tol.get("key") or ""
        if key and key != taint.get("key"):
            continue
        if tol.get("operator", "Equal") == "Exists":
            if key or not tol.get("value"):
                return True
            continue
        if (tol.get("value") or "") == (taint.get("value") or "") and key:
            return True
    return False


def should_run(ds: Obj, node: Obj) -> bool:
    """The node matches the template's nodeSelector and its scheduling taints are tolerated
    (`NodeShouldRunDaemonPod`)."""
    pod_spec = (spec(ds).get("template") or {}).get("spec") or {}
    labels = meta(node).get("labels") or {}
    selector = pod_spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    tolerations = daemon_tolerations(pod_spec)
    return all(tolerates(tolerations, t) for t in spec(node).get("taints") or ()
               if isinstance(t, dict) and t.get("effect") in ("NoSchedule", "NoExecute"))


def _scaled(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value or 0)


def max_unavailable(ds: Obj, desired: int) -> int:
    """`maxUnavailable` as a count of the desired pods (a percentage rounds up, as
    `unavailableCount` does); 1 when both it and maxSurge come out 0."""
    rolling = (spec(ds).get("updateStrategy") or {}).get("rollingUpdate") or {}
    count = _scaled(rolling.get("maxUnavailable", 1), desired, True)
    surge = _scaled(rolling.get("maxSurge", 0), desired, True)
    return 1 if count == 0 and surge == 0 else count


@dataclass
class NodePlan:
    """One sync: nodes to give a new pod, pod names to delete."""

    create: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)


def pods_by_node(pods: Iterable[Obj]) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for pod in pods:
        out.setdefault(spec(pod).get("nodeName") or "", []).append(pod)
    return out


def plan_daemon_set(ds: Obj, nodes: Sequence[Obj], pods: Sequence[Obj], revision: str,
                    now: float) -> NodePlan:
    """Creates and deletes of one sync (`podsShouldBeOnNode`, then `rollingUpdate`).

    A node gets a new pod only once it has no pod at all: a terminating old pod is waited
    for, so a node never runs two daemon pods of the same set.
    """
    plan = NodePlan()
    if meta(ds).get("deletionTimestamp"):
        return plan
    min_ready = int(spec(ds).get("minReadySeconds") or 0)
    every = pods_by_node(pods)
    for node in nodes:
        name = meta(node)["name"]
        mine = every.pop(name, [])
        active = sorted((p for p in mine if not podutil.is_terminating(p)),
                        key=lambda p: meta(p).get("creationTimestamp") or "")
        if not should_run(ds, node):
            plan.delete += [meta(p)["name"] for p in active]
            continue
        if not mine:
            plan.create.append(name)
            continue
        failed = [p for p in active if status(p).get("phase") == "Failed"]
        running = [p for p in active if p not in failed]
        plan.delete += [meta(p)["name"] for p in failed]
        plan.delete += [meta(p)["name"] for p in running[1:]]  # keep the oldest
    plan.delete += [meta(p)["name"] for ps in every.values() for p in ps
                    if not podutil.is_terminating(p)]  # on nodes that are gone
    strategy = (spec(ds).get("updateStrategy") or {}).get("type", "RollingUpdate")
    if strategy != "RollingUpdate":
        return plan
    budget = max_unavailable(ds, sum(1 for n in nodes if should_run(ds, n)))
    unavailable, candidates = 0, []
    for _node_name, mine in sorted(pods_by_node(pods).items()):
        active = [p for p in mine if not podutil.is_terminating(p)]
        new = [p for p in active if _revision(p) == revision]
        old = [p for p in active if _revision(p) != revision]
        if len(new) > 1 or len(old) > 1 or bool(new) == bool(old):
            unavailable += 1  # left to the manage step above
        elif new:
            unavailable += not podutil.is_available(new[0], min_ready, now)
        elif not podutil.is_available(old[0], min_ready, now):
            plan.delete.append(meta(old[0])["name"])  # not available: replace at once
        elif unavailable < budget:
            candidates.append(meta(old[0])["name"])
    plan.delete += candidates[:max(0, budget - unavailable)]
    return plan


def _revision(pod: Obj) -> str:
    return (meta(pod).get("labels") or {}).get(REVISION_LABEL, "")


def daemon_set_status(ds: Obj, nodes: Sequence[Obj], pods: Sequence[Obj], revision: str,
                      now: float) -> Obj:
    """`updateDaemonSetStatus`: per node, whether it should run the pod and what runs there."""
    min_ready = int(spec(ds).get("minReadySeconds") or 0)
    on = pods_by_node(p for p in pods if not podutil.is_terminating(p))
    desired = current = misscheduled = ready = available = updated = 0
    for node in nodes:
        mine = on.get(meta(node)["name"], [])
        if should_run(ds, node):
            desired += 1
            if mine:
                current += 1
                pod = sorted(mine, key=lambda p: meta(p).get("creationTimestamp") or "")[0]
                if podutil.is_ready(pod):
                    ready += 1
                    if podutil.is_available(pod, min_ready, now):
                        available += 1
                if (meta(pod).get("labels") or {}).get(REVISION_LABEL) == revision:
                    updated += 1
        elif mine:
            misscheduled += 1
    new = dict(status(ds))
    new.update({"desiredNumberScheduled": desired, "currentNumberScheduled": current,
                "numberMisscheduled": misscheduled, "numberReady": ready,
                "numberAvailable": available, "updatedNumberScheduled": updated,
                "observedGeneration": meta(ds).get("generation", 1)})
    if desired - available > 0:
        new["numberUnavailable"] = desired - available
    else:
        new.pop("numberUnavailable", None)
    return new
