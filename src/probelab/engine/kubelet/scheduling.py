"""Whether a pod fits a node, and which node it goes to: kube-scheduler's Filter plugins that
matter here, in their default order, the first failure deciding the message, then (several
nodes, `place`) a score (pure; `kubelet.Kubelet` runs it).

- NodeUnschedulable (`pkg/scheduler/framework/plugins/nodeunschedulable/
  node_unschedulable.go`): a cordoned node (`spec.unschedulable`) takes only pods that tolerate
  the `node.kubernetes.io/unschedulable:NoSchedule` taint.
- TaintToleration (`pkg/scheduler/framework/plugins/tainttoleration/taint_toleration.go`):
  the first NoSchedule or NoExecute taint no toleration matches keeps the pod off
  (`v1helper.FindMatchingUntoleratedTaint`); PreferNoSchedule only scores, so it never does.
- NodeResourcesFit's pod count (`kubelet.capacity`): "Too many pods".

Toleration matching is `probelab.k8s.taints` (shared with the taint eviction controller).

Messages are `FitError.Error()` (`pkg/scheduler/framework/types.go`) for one node: `0/1 nodes
are available: 1 <reason>.`, then, for reasons preemption cannot help with (both plugins above
return UnschedulableAndUnresolvable), the post-filter message `preemption: 0/1 nodes are
available: 1 Preemption is not helpful for scheduling.` with the separator's own full stop, as
real clusters print it (`scheduling..`). The capacity message keeps its earlier form (capacity.py).

The `node.kubernetes.io/unschedulable` taint itself is not added to a cordoned node: the node
lifecycle controller that adds it upstream (TaintNodesByCondition) is not part of the engine;
`spec.unschedulable` alone decides, exactly as the NodeUnschedulable plugin reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from probelab.engine.kubelet import capacity
from probelab.k8s.taints import tolerated, untolerated_taint

UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
NOT_HELPFUL = "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
WERE_UNSCHEDULABLE = "node(s) were unschedulable"
TOO_MANY = "Too many pods"


def fit_error(reason: str) -> str:
    """The FailedScheduling message for one node failing with an unresolvable `reason`."""
    return f"0/1 nodes are available: 1 {reason}. {NOT_HELPFUL}."


def unfit_reason(pod: Mapping[str, Any], node: Mapping[str, Any] | None, on_node: int,
                 max_pods: int) -> str | None:
    """Why `pod` cannot go on `node` now (the FailedScheduling message), or None if it fits.
    `node` None (not registered yet) only counts pods."""
    why = filter_reason(pod, node, on_node, max_pods)
    if why is None:
        return None
    return capacity.TOO_MANY_PODS if why == TOO_MANY else fit_error(why)


def filter_reason(pod: Mapping[str, Any], node: Mapping[str, Any] | None, on_node: int,
                  max_pods: int) -> str | None:
    """The Filter plugins' short reason `node` refuses `pod` (FitError's per-node text), or
    None when it fits."""
    tolerations = (pod.get("spec") or {}).get("tolerations")
    node_spec = (node or {}).get("spec") or {}
    if node_spec.get("unschedulable") and not tolerated(tolerations, UNSCHEDULABLE_TAINT):
        return WERE_UNSCHEDULABLE
    taint = untolerated_taint(tolerations, node_spec.get("taints"))
    if taint is not None:
        return (f"node(s) had untolerated taint {{{taint.get('key', '')}: "
                f"{taint.get('value') or ''}}}")
    if not capacity.fits(on_node, max_pods):
        return TOO_MANY
    return None


# ---- several nodes ------------------------------------------------------------------------
# The engine can register N logical nodes on this one machine (`probelab cluster up --nodes N`).
# Placing a pod then is kube-scheduler's two steps (pkg/scheduler/schedule_one.go
# `findNodesThatFitPod`, then `prioritizeNodes`): the Filter plugins above keep the nodes it
# may go to; of those, the one the default Score plugins would rank first wins, approximated:
# - PodTopologySpread's system default constraints (pkg/scheduler/framework/plugins/
#   podtopologyspread/plugin.go `systemDefaultConstraints`: `kubernetes.io/hostname`,
#   maxSkew 3, ScheduleAnyway) prefer the node with the fewest pods of the same owner;
# - NodeResourcesFit's LeastAllocated strategy (pkg/scheduler/framework/plugins/noderesources/
#   least_allocated.go) prefers the emptier node: here, fewest pods (every node has the same
#   capacity);
# ties go to the first node in name order (upstream picks among ties at random,
# `selectHost`; a fixed order keeps runs repeatable).

FIRST_NODE = "probelab"
MAX_NODES = 16  # logical nodes are bookkeeping, but each doubles nothing: keep it sane


def node_names(count: int) -> list[str]:
    """The names of `count` logical nodes: `probelab`, then `probelab-2`, `probelab-3`, ..."""
    return [FIRST_NODE] + [f"{FIRST_NODE}-{i}" for i in range(2, count + 1)]


def owner_uid(pod: Mapping[str, Any]) -> str:
    """The uid of the pod's controller (its ReplicaSet, StatefulSet...), "" if none."""
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid") or "")
    return ""


def fit_error_many(reasons: Mapping[str, int], total: int) -> str:
    """`FitError.Error()` for several nodes: "COUNT reason" strings, sorted as strings
    (pkg/scheduler/framework/types.go `sortReasonsHistogram`)."""
    parts = ", ".join(sorted(f"{n} {reason}" for reason, n in reasons.items()))
    return (f"0/{total} nodes are available: {parts}. preemption: 0/{total} nodes are "
            f"available: {total} Preemption is not helpful for scheduling..")


def place(pod: Mapping[str, Any], nodes: Sequence[tuple[str, Mapping[str, Any] | None]],
          pods_on: Mapping[str, Sequence[Mapping[str, Any]]],
          max_pods: int) -> tuple[str | None, str | None]:
    """(node, None) for the node `pod` goes to, or (None, the FailedScheduling message).
    `nodes` are (name, Node object or None if not registered yet); `pods_on` the pods each
    node runs now (terminating ones included, as the scheduler's NodeInfo counts them)."""
    if len(nodes) == 1:
        name, node = nodes[0]
        why = unfit_reason(pod, node, len(pods_on.get(name, ())), max_pods)
        return (None, why) if why else (name, None)
    reasons: dict[str, int] = {}
    feasible: list[tuple[int, int, int, str]] = []
    owner = owner_uid(pod)
    for index, (name, node) in enumerate(nodes):
        here = pods_on.get(name, ())
        why = filter_reason(pod, node, len(here), max_pods)
        if why is not None:
            reasons[why] = reasons.get(why, 0) + 1
            continue
        same = sum(1 for p in here if owner and owner_uid(p) == owner)
        feasible.append((same, len(here), index, name))
    if not feasible:
        return None, fit_error_many(reasons, len(nodes))
    return min(feasible)[3], None
