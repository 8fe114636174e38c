"""What the HPA controller decides when no metrics API is served, as pure functions
(`pkg/controller/podautoscaler/horizontal.go` reconcileAutoscaler, setCondition,
setCurrentReplicasAndMetricsInStatus).

The engine serves no `metrics.k8s.io` (nor custom or external metrics), so, as on a cluster
without metrics-server: the target's replicas are still held inside [minReplicas,
maxReplicas] (that needs no metrics), a target scaled to 0 disables autoscaling, and
otherwise the HPA reports `AbleToScale=True` and `ScalingActive=False` with the reason and
message a real controller writes when its metric query fails. It never scales on load.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from probelab.engine.core.clock import rfc3339
from probelab.k8s.objects import Obj, spec, status

SYNC_PERIOD_S = 15.0  # --horizontal-pod-autoscaler-sync-period
NO_RESOURCE_METRICS = ("unable to fetch metrics from resource metrics API: the server could "
                       "not find the requested resource (get pods.metrics.k8s.io)")
_METRIC_REASONS = {"Resource": "FailedGetResourceMetric",
                   "ContainerResource": "FailedGetContainerResourceMetric",
                   "Pods": "FailedGetPodsMetric", "Object": "FailedGetObjectMetric",
                   "External": "FailedGetExternalMetric"}


@dataclass
class HpaPlan:
    """The new status, the replicas to set on the target (None: leave it), Events."""

    status: Obj
    scale_to: int | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)


def set_condition(st: Obj, kind: str, value: bool, reason: str, message: str,
                  now: float) -> None:
    """Replace one condition; its transition time moves only when its status changes."""
    text = "True" if value else "False"
    conds = [c for c in st.get("conditions") or () if isinstance(c, dict)]
    old = next((c for c in conds if c.get("type") == kind), None)
    at = old.get("lastTransitionTime") if old and old.get("status") == text else rfc3339(now)
    new = {"type": kind, "status": text, "lastTransitionTime": at, "reason": reason,
           "message": message}
    st["conditions"] = ([new if c is old else c for c in conds] if old is not None
                        else [*conds, new])


def metric_failure(hpa: Obj) -> tuple[str, str]:
    """(reason, error) of the first metric, as its query fails without a metrics API."""
    metrics = spec(hpa).get("metrics") or [{"type": "Resource", "resource": {"name": "cpu"}}]
    metric = metrics[0] if isinstance(metrics[0], dict) else {}
    kind = str(metric.get("type") or "Resource")
    reason = _METRIC_REASONS.get(kind, "FailedGetResourceMetric")
    if kind in ("Resource", "ContainerResource"):
        source = metric.get("resource") or metric.get("containerResource") or {}
        name = source.get("name") or "cpu"
        target = (source.get("target") or {}).get("type")
        what = "utilization" if target == "Utilization" else "usage"
        return reason, (f"failed to get {name} {what}: unable to get metrics for resource "
                        f"{name}: {NO_RESOURCE_METRICS}")
    return reason, (f"unable to get {kind.lower()} metric: the server could not find the "
                    "requested resource")


def plan_hpa(hpa: Obj, current: int | None, scale_error: str, now: float) -> HpaPlan:
    """One reconcile: `current` is the target's `spec.replicas`, None when it could not be read
    (`scale_error` says why)."""
    st = dict(status(hpa))
    st.setdefault("desiredReplicas", 0)
    plan = HpaPlan(st)
    if current is None:
        message = f"the HPA controller was unable to get the target's current scale: {scale_error}"
        set_condition(st, "AbleToScale", False, "FailedGetScale", message, now)
        plan.events.append(("Warning", "FailedGetScale", scale_error))
        return plan
    st["currentReplicas"] = current
    set_condition(st, "AbleToScale", True, "SucceededGetScale",
                  "the HPA controller was able to get the target's current scale", now)
    low = int(spec(hpa).get("minReplicas", 1))
    high = int(spec(hpa).get("maxReplicas", 1))
    if current == 0 and low != 0:
        st["desiredReplicas"] = 0
        set_condition(st, "ScalingActive", False, "ScalingDisabled",
                      "scaling is disabled since the replica count of the target is zero", now)
        return plan
    if current > high or current < low:
        desired = high if current > high else low
        why = ("Current number of replicas above Spec.MaxReplicas" if current > high
               else "Current number of replicas below Spec.MinReplicas")
        st["desiredReplicas"] = desired
        st["lastScaleTime"] = rfc3339(now)
        plan.scale_to = desired
        plan.events.append(("Normal", "SuccessfulRescale", f"New size: {desired}; reason: {why}"))
        return plan
    reason, error = metric_failure(hpa)
    set_condition(st, "ScalingActive", False, reason,
                  f"the HPA was unable to compute the replica count: {error}", now)
    if status(hpa).get("conditions") != st.get("conditions"):
        plan.events.append(("Warning", reason, error))
    return plan
