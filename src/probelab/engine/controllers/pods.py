"""What the controllers read from pods and owners: readiness, availability, activity, ownership.

Pure helpers shared by `replicaset` (status, victim ranking), `deployment` (Recreate waits for
old pods) and `endpoints` (conditions). They mirror `pkg/api/v1/pod/util.go` (IsPodReady,
IsPodAvailable), `pkg/controller/controller_utils.go` (IsPodActive, FilterActivePods) and
`apimachinery/pkg/apis/meta/v1/controller_ref.go` (GetControllerOf, NewControllerRef).
Objects come from the store as plain dicts and may lack defaults, so every read tolerates a
missing field.
"""

from __future__ import annotations

from typing import Any

from probelab.engine.core.clock import parse_rfc3339
from probelab.k8s.objects import Obj, meta, spec, status

DEFAULT_REPLICAS = 1  # apps/v1 SetDefaults_Deployment / SetDefaults_ReplicaSet


def replicas(obj: Obj) -> int:
    """`spec.replicas` of a Deployment or ReplicaSet (absent means 1, as defaulting would)."""
    value = spec(obj).get("replicas")
    return DEFAULT_REPLICAS if value is None else int(value)


def parse_time(text: Any) -> float | None:
    """Seconds since the epoch of a metav1.Time string; None when absent or unreadable."""
    if not text or not isinstance(text, str):
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        return None


def ready_condition(pod: Obj) -> Obj | None:
    for cond in status(pod).get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond
    return None


def is_ready(pod: Obj) -> bool:
    """The pod's `Ready` condition is True (`IsPodReady`)."""
    cond = ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def ready_since(pod: Obj) -> float | None:
    """When the pod last became Ready (`podReadyTime`); None when not ready or unknown."""
    if not is_ready(pod):
        return None
    return parse_time((ready_condition(pod) or {}).get("lastTransitionTime"))


def is_available(pod: Obj, min_ready_s: int, now: float) -> bool:
    """Ready for at least `minReadySeconds` (`IsPodAvailable`: strictly before now)."""
    if not is_ready(pod):
        return False
    if min_ready_s <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + min_ready_s < now


def available_at(pod: Obj, min_ready_s: int) -> float | None:
    """When a ready pod will count as available (None when not ready or already counted)."""
    since = ready_since(pod)
    if since is None or min_ready_s <= 0:
        return None
    return since + min_ready_s


def is_terminating(pod: Obj) -> bool:
    return bool(meta(pod).get("deletionTimestamp"))


def is_terminal(pod: Obj) -> bool:
    """Succeeded or Failed: its containers will not run again (`IsPodTerminal`)."""
    return status(pod).get("phase") in ("Succeeded", "Failed")


def is_active(pod: Obj) -> bool:
    """Not terminal and not being deleted (`IsPodActive`): what a ReplicaSet counts."""
    return not is_terminal(pod) and not is_terminating(pod)


def restarts(pod: Obj) -> int:
    """The highest restartCount of the pod's containers (`maxContainerRestarts`)."""
    counts = [int(c.get("restartCount") or 0)
              for c in status(pod).get("containerStatuses") or () if isinstance(c, dict)]
    return max(counts, default=0)


def pod_ip(pod: Obj) -> str:
    st = status(pod)
    if st.get("podIP"):
        return str(st["podIP"])
    for entry in st.get("podIPs") or ():
        if isinstance(entry, dict) and entry.get("ip"):
            return str(entry["ip"])
    return ""


def controller_of(obj: Obj) -> Obj | None:
    """The ownerReference with `controller: true` (`GetControllerOf`)."""
    for ref in meta(obj).get("ownerReferences") or ():
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def controlled_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == meta(owner).get("uid")


def controller_ref(owner: Obj, api_version: str, kind: str) -> Obj:
    """The ownerReference a controller puts on what it creates (`NewControllerRef`)."""
    m = meta(owner)
    return {"apiVersion": api_version, "kind": kind, "name": m.get("name"), "uid": m.get("uid"),
            "controller": True, "blockOwnerDeletion": True}
