"""How many pods the node takes: the kubelet's `--max-pods`, and what the scheduler says about a
pod that does not fit. Pure rules; `kubelet.Kubelet` keeps the queue of waiting pods.

Why: every pod is a host process, so without a cap `replicas: 100000` forks until the machine
(and the engine's own API) stops answering. Kubernetes caps pods per node: the kubelet's
`--max-pods` (default 110, pkg/kubelet/apis/config/v1beta1/defaults.go `MaxPods`) becomes the
node's `allocatable.pods`, and kube-scheduler's NodeResourcesFit plugin
(pkg/scheduler/framework/plugins/noderesources/fit.go, `fitsRequest`: "Too many pods") keeps a
pod off a full node. The pod stays Pending with PodScheduled=False, reason Unschedulable
(pkg/scheduler/schedule_one.go `handleSchedulingFailure`), a FailedScheduling Warning Event
says why ("0/1 nodes are available: 1 Too many pods."), and the scheduling queue retries it
when a pod on the node goes away (pkg/scheduler/internal/queue: a pod deletion moves
unschedulable pods back to the active queue).

The engine is its own scheduler (`podworker.PodWorker._admit` binds), so the fit is decided
here: a pod counts from its binding until its worker is done (terminating pods count, as they
do in the scheduler's NodeInfo until the object is gone).
"""

from __future__ import annotations

from typing import Any

from probelab.engine.core.clock import rfc3339

DEFAULT_MAX_PODS = 110
TOO_MANY_PODS = "0/1 nodes are available: 1 Too many pods."
UNSCHEDULABLE = "Unschedulable"


def fits(on_node: int, max_pods: int) -> bool:
    """Whether one more pod fits a node that has `on_node` pods and takes `max_pods`."""
    return on_node + 1 <= max_pods


def unschedulable_status(previous: dict[str, Any] | None, message: str,
                         now: float) -> dict[str, Any]:
    """The status of a pod the scheduler could not place: Pending, PodScheduled=False
    (Unschedulable, `message`); the condition's lastTransitionTime moves only when it flips."""
    status = dict(previous or {})
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    prior = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"),
                 None)
    flipped = prior is None or prior.get("status") != "False"
    conditions.insert(0, {
        "type": "PodScheduled", "status": "False", "lastProbeTime": None,
        "lastTransitionTime": rfc3339(now) if flipped else prior.get("lastTransitionTime"),
        "reason": UNSCHEDULABLE, "message": message,
    })
    status["phase"] = "Pending"
    status["conditions"] = conditions
    return status
