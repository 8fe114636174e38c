"""A pod's quality-of-service class (`pkg/apis/core/v1/helper/qos/qos.go`, `ComputePodQOS`),
which the API server stores in `status.qosClass` when the pod is created and which never
changes afterwards.

Only `cpu` and `memory` count, and only amounts above zero. Requests are summed per resource
over the containers and init containers (ephemeral containers cannot set resources), and so
are limits. No request and no limit at all: BestEffort. Guaranteed: every container limits
both cpu and memory, and the summed requests equal the summed limits for the same resources.
Anything else: Burstable. When the pod sets pod-level `spec.resources` (the PodLevelResources
feature, on by default since 1.34), those decide instead of the containers'. The rule reads the
defaulted pod, where a container's missing requests were copied from its limits (`SetDefaults_Pod`
in `pkg/apis/core/v1/defaults.go`, `probelab.k8s.defaults`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from probelab.k8s.quantity import QuantityError, parse_quantity

GUARANTEED, BURSTABLE, BEST_EFFORT = "Guaranteed", "Burstable", "BestEffort"
QOS_RESOURCES = ("cpu", "memory")


def _positive(resources: Any) -> dict[str, Decimal]:
    """The cpu and memory amounts above zero of one ResourceList (an unparsable amount counts
    as absent: validation refuses it before the class matters)."""
    out: dict[str, Decimal] = {}
    if not isinstance(resources, Mapping):
        return out
    for name in QOS_RESOURCES:
        if name not in resources:
            continue
        try:
            amount = parse_quantity(resources[name])
        except QuantityError:
            continue
        if amount > 0:
            out[name] = amount
    return out


def _add(total: dict[str, Decimal], part: Mapping[str, Decimal]) -> None:
    for name, amount in part.items():
        total[name] = total.get(name, Decimal(0)) + amount


def qos_class(pod: Mapping[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort for a (defaulted) pod."""
    spec = pod.get("spec") if isinstance(pod.get("spec"), Mapping) else {}
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    pod_level = spec.get("resources")
    if isinstance(pod_level, Mapping) and (pod_level.get("requests") or pod_level.get("limits")):
        groups: Iterable[Any] = [pod_level]
        limits_required = bool(pod_level.get("limits"))
    else:
        groups = [c.get("resources") or {} for key in ("containers", "initContainers")
                  for c in spec.get(key) or [] if isinstance(c, Mapping)]
        limits_required = True
    for resources in groups:
        if not isinstance(resources, Mapping):
            resources = {}
        _add(requests, _positive(resources.get("requests")))
        found = _positive(resources.get("limits"))
        _add(limits, found)
        if limits_required and not all(name in found for name in QOS_RESOURCES):
            guaranteed = False
    if not requests and not limits:
        return BEST_EFFORT
    if guaranteed and all(limits.get(name) == amount for name, amount in requests.items()) \
            and len(requests) == len(limits):
        return GUARANTEED
    return BURSTABLE
