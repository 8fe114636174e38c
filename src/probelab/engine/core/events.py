"""Kubernetes Events recorded by the engine's components (`core/v1` Event objects).

Each component records what it does (kubelet: Scheduled, Pulled, Created, Started, Unhealthy,
Killing, FailedPreStopHook, BackOff; controllers: ScalingReplicaSet, SuccessfulCreate,
SuccessfulDelete; proxy: the engine-only EndpointsApplied). `eventTime` keeps microseconds so the
demo can order and plot them; `firstTimestamp` keeps Kubernetes' second precision for kubectl.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import Enum
from typing import Any

from probelab.engine.core.client import Client, Rejected
from probelab.engine.core.clock import Clock, rfc3339, rfc3339_micro
from probelab.engine.core.store import NotFound
from probelab.k8s.objects import Obj
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


@dataclass(frozen=True)
class EventRecorder:
    """One component's event recorder (client-go's `record.EventRecorder`)."""

    client: Client
    clock: Clock
    component: str

    def record(self, involved: Obj, reason: str, message: str, *,
               kind: EventKind = EventKind.NORMAL, field_path: str | None = None,
               component: str | None = None,
               annotations: dict[str, str] | None = None) -> Obj | None:
        """Create an Event about `involved` in its namespace (`default` for cluster
        objects). None when the API refuses it because the namespace is gone or being deleted
        (NamespaceLifecycle): real recorders drop such an event too ("Server rejected event
        (will not retry!)")."""
        event = new_event(involved, reason, message, self.clock.now(), kind=kind,
                          component=component or self.component, field_path=field_path)
        if annotations:
            event["metadata"]["annotations"] = dict(annotations)
        try:
            return self.client.create("events", event)
        except (NotFound, Rejected):
            return None


def new_event(involved: Obj, reason: str, message: str, now: float, *,
              kind: EventKind, component: str, field_path: str | None) -> Obj:
    m = involved.get("metadata") or {}
    namespace = m.get("namespace") or "default"
    ref = involved_reference(involved)
    if field_path:
        ref["fieldPath"] = field_path
    return {
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
