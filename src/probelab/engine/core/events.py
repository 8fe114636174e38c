"""Kubernetes Events recorded by the engine's components (`core/v1` Event objects).

Each component records what it does (kubelet: Scheduled, Pulled, Created, Started, Unhealthy,
Killing, FailedPreStopHook, BackOff; controllers: ScalingReplicaSet, SuccessfulCreate,
SuccessfulDelete; proxy: the engine-only EndpointsApplied). `eventTime` keeps microseconds so the
demo can order and plot them; `firstTimestamp` keeps Kubernetes' second precision for kubectl.
"""

from __future__ import annotations

import secrets
from enum import Enum
from typing import Any

from probelab.engine.core.clock import rfc3339, rfc3339_micro
from probelab.engine.core.store import Obj, Store
from probelab.k8s.resources import BY_KIND


class EventKind(Enum):
    NORMAL = "Normal"  # something expected happened
    WARNING = "Warning"  # something failed or may need attention


def involved_reference(obj: Obj) -> dict[str, Any]:
    m = obj.get("metadata") or {}
    kind = obj.get("kind") or ""
    info = BY_KIND.get(kind)
    ref = {
        "kind": kind,
        "namespace": m.get("namespace"),
        "name": m.get("name"),
        "uid": m.get("uid"),
        "apiVersion": obj.get("apiVersion") or (info.api_version if info else "v1"),
        "resourceVersion": m.get("resourceVersion"),
    }
    return {k: v for k, v in ref.items() if v is not None}


def record_event(
    store: Store,
    involved: Obj,
    reason: str,
    message: str,
    *,
    kind: EventKind = EventKind.NORMAL,
    component: str = "kubelet",
    field_path: str | None = None,
) -> Obj | None:
    """Create an Event about `involved` in its namespace (or `default` for cluster objects).

    Returns None when the namespace is already gone (events of a deleted namespace are dropped,
    as the real API server refuses them).
    """
    m = involved.get("metadata") or {}
    namespace = m.get("namespace") or "default"
    if store.find("namespaces", None, namespace) is None:
        return None
    now = store.clock.now()
    ref = involved_reference(involved)
    if field_path:
        ref["fieldPath"] = field_path
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{m.get('name', 'unknown')}.{secrets.token_hex(8)}",
                     "namespace": namespace},
        "involvedObject": ref,
        "reason": reason,
        "message": message,
        "type": kind.value,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": "probelab",
        "firstTimestamp": rfc3339(now),
        "lastTimestamp": rfc3339(now),
        "eventTime": rfc3339_micro(now),
        "count": 1,
    }
    return store.create("events", event)
