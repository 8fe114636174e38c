"""Whether a pod fits the one node: kube-scheduler's Filter plugins that matter here, in their
default order, the first failure deciding the message (pure; `kubelet.Kubelet` runs it).

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

from collections.abc import Mapping
from typing import Any

from probelab.engine.kubelet import capacity
from probelab.k8s.taints import tolerated, untolerated_taint

UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
NOT_HELPFUL = "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
WERE_UNSCHEDULABLE = "node(s) were unschedulable"


def fit_error(reason: str) -> str:
    """The FailedScheduling message for one node failing with an unresolvable `reason`."""
    return f"0/1 nodes are available: 1 {reason}. {NOT_HELPFUL}."


def unfit_reason(pod: Mapping[str, Any], node: Mapping[str, Any] | None, on_node: int,
                 max_pods: int) -> str | None:
    """Why `pod` cannot go on `node` now (the FailedScheduling message), or None if it fits.
    `node` None (not registered yet) only counts pods."""
    tolerations = (pod.get("spec") or {}).get("tolerations")
    node_spec = (node or {}).get("spec") or {}
    if node_spec.get("unschedulable") and not tolerated(tolerations, UNSCHEDULABLE_TAINT):
        return fit_error(WERE_UNSCHEDULABLE)
    taint = untolerated_taint(tolerations, node_spec.get("taints"))
    if taint is not None:
        return fit_error(f"node(s) had untolerated taint {{{taint.get('key', '')}: "
                         f"{taint.get('value') or ''}}}")
    if not capacity.fits(on_node, max_pods):
        return capacity.TOO_MANY_PODS
    return None
