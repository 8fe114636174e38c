"""The arithmetic of PodDisruptionBudgets, shared by the eviction subresource (the API server)
and the disruption controller (pure functions, table-tested).

Sources: `pkg/controller/disruption/disruption.go` (getExpectedPodCount, getExpectedScale,
countHealthyPods, buildDisruptedPodMap, updatePdbStatus, failSafe),
`pkg/apis/policy/helper` UpdateDisruptionAllowedCondition, `pkg/registry/core/pod/storage/
eviction.go` (which budgets cover a pod, which pods need no budget), and
`staging/src/k8s.io/apimachinery/pkg/util/intstr` GetScaledValueFromIntOrPercent (percentages
of a budget round up).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from probelab.k8s.intstr import scaled_value
from probelab.k8s.labels import SelectorError, from_label_selector

DELETION_TIMEOUT_S = 120.0  # disruption.go DeletionTimeout: an eviction not seen by then expires
CONDITION = "DisruptionAllowed"
SUFFICIENT_PODS = "SufficientPods"
INSUFFICIENT_PODS = "InsufficientPods"
SYNC_FAILED = "SyncFailed"

Obj = dict[str, Any]


def rfc3339(ts: float) -> str:
    """A `metav1.Time` (seconds, UTC)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def selects(pdb: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """Whether the budget covers the pod: same namespace and selector; in policy/v1 an empty
    selector matches every pod, a missing one none (`LabelSelectorAsSelector(nil)`)."""
    pm, om = pdb.get("metadata") or {}, pod.get("metadata") or {}
    if pm.get("namespace") != om.get("namespace"):
        return False
    selector = (pdb.get("spec") or {}).get("selector")
    if selector is None:
        return False
    try:
        return from_label_selector(selector).matches(om.get("labels") or {})
    except SelectorError:
        return False


def is_ready(pod: Mapping[str, Any]) -> bool:
    """`podutil.IsPodReady`: the Ready condition is True."""
    return any(isinstance(c, Mapping) and c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def needs_no_budget(pod: Mapping[str, Any]) -> bool:
    """eviction.go `canIgnorePDB`: a terminal, pending or terminating pod is deleted without
    asking any budget (it is not available anyway)."""
    phase = (pod.get("status") or {}).get("phase")
    return (phase in ("Succeeded", "Failed", "Pending")
            or bool((pod.get("metadata") or {}).get("deletionTimestamp")))


def allowed_condition(disruptions_allowed: int, previous: list[Any] | None, now: float,
                      observed_generation: int | None = None, failure: str = "") -> list[Obj]:
    """The conditions with DisruptionAllowed set (`UpdateDisruptionAllowedCondition`, or
    SyncFailed with the error when `failure`); lastTransitionTime moves only on a flip."""
    if failure:
        status, reason, message = "False", SYNC_FAILED, failure
    elif disruptions_allowed > 0:
        status, reason, message = "True", SUFFICIENT_PODS, ""
    else:
        status, reason, message = "False", INSUFFICIENT_PODS, ""
    others = [c for c in previous or [] if isinstance(c, Mapping) and c.get("type") != CONDITION]
    old = next((c for c in previous or [] if isinstance(c, Mapping)
                and c.get("type") == CONDITION), None)
    since = old.get("lastTransitionTime") if old and old.get("status") == status else None
    cond: Obj = {"type": CONDITION, "status": status, "reason": reason, "message": message,
                 "lastTransitionTime": since or rfc3339(now)}
    if observed_generation is not None:
        cond["observedGeneration"] = observed_generation
    return [*others, cond]


@dataclass(frozen=True)
class Budget:
    """What the controller computes for one budget (`updatePdbStatus`'s inputs)."""

    expected_pods: int
    desired_healthy: int
    current_healthy: int
    disruptions_allowed: int
    disrupted_pods: dict[str, str] = field(default_factory=dict)
    recheck_at: float | None = None  # when the oldest kept eviction expires
    unmanaged: tuple[str, ...] = ()  # pods without a controller (an Event says so)


class ScaleError(Exception):
    """A pod's controller could not be found (`found no controllers for pod`): SyncFailed."""


def expected_scale(pods: list[Mapping[str, Any]], scale_of: Any) -> tuple[int, tuple[str, ...]]:
    """`getExpectedScale`: the sum of the scales of the pods' distinct controllers, and the
    names of pods without a controller. `scale_of(owner_ref)` returns (uid, replicas) of the
    controller that decides the scale (a Deployment through its ReplicaSet) or None."""
    total, seen, unmanaged = 0, set(), []
    for pod in pods:
        ref = next((r for r in (pod.get("metadata") or {}).get("ownerReferences") or []
                    if isinstance(r, Mapping) and r.get("controller")), None)
        if ref is None:
            unmanaged.append(str((pod.get("metadata") or {}).get("name")))
            continue
        found = scale_of(ref)
        if found is None:
            raise ScaleError(f'found no controllers for pod "{pod["metadata"].get("name")}"')
        uid, replicas = found
        if uid not in seen:
            seen.add(uid)
            total += int(replicas)
    return total, tuple(unmanaged)


def disrupted_map(recorded: Mapping[str, str] | None, pods: list[Mapping[str, Any]],
                  now: float) -> tuple[dict[str, str], float | None]:
    """`buildDisruptedPodMap`: the evictions still expected (the pod exists, is not yet
    terminating, and was evicted less than 2 min ago), and when the next one expires."""
    by_name = {str((p.get("metadata") or {}).get("name")): p for p in pods}
    kept: dict[str, str] = {}
    recheck: float | None = None
    for name, stamp in (recorded or {}).items():
        pod = by_name.get(name)
        if pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        try:
            expires = parse_rfc3339(str(stamp)) + DELETION_TIMEOUT_S
        except ValueError:
            continue
        if expires < now:
            continue
        kept[name] = str(stamp)
        recheck = expires if recheck is None else min(recheck, expires)
    return kept, recheck


def healthy_count(pods: list[Mapping[str, Any]], disrupted: Mapping[str, str]) -> int:
    """`countHealthyPods`: ready pods that are neither terminating nor being evicted."""
    return sum(1 for p in pods
               if not (p.get("metadata") or {}).get("deletionTimestamp")
               and str((p.get("metadata") or {}).get("name")) not in disrupted
               and is_ready(p))


def budget(spec: Mapping[str, Any], pods: list[Mapping[str, Any]],
           recorded: Mapping[str, str] | None, now: float, scale_of: Any) -> Budget:
    """One budget's numbers (`trySync`): expected and desired healthy pods from
    maxUnavailable (scaled from the controllers) or minAvailable (an integer: counted pods;
    a percentage: scaled), current healthy pods, and disruptions allowed (never negative,
    zero without expected pods). Raises ScaleError when a controller is missing."""
    expected, desired, unmanaged = 0, 0, ()
    max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
    if max_unavailable is not None:
        expected, unmanaged = expected_scale(pods, scale_of)
        desired = max(0, expected - scaled_value(max_unavailable, expected, True))
    elif min_available is not None:
        if isinstance(min_available, int):
            desired, expected = min_available, len(pods)
        else:
            expected, unmanaged = expected_scale(pods, scale_of)
            desired = scaled_value(min_available, expected, True)
    disrupted, recheck = disrupted_map(recorded, pods, now)
    healthy = healthy_count(pods, disrupted)
    allowed = healthy - desired
    if expected <= 0 or allowed <= 0:
        allowed = 0
    return Budget(expected, desired, healthy, allowed, disrupted, recheck, unmanaged)
