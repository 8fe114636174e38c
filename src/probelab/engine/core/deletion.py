"""Graceful pod deletion, shared by the API server (DELETE pod) and the controllers.

`pkg/registry/core/pod/strategy.go` CheckGracefulDelete and `staging/.../registry/rest/delete.go`
BeforeDelete: a pod bound to a node is not removed at once; the API server sets
`deletionTimestamp` (now + grace) and `deletionGracePeriodSeconds`, and the kubelet removes the
object once its containers are gone. A pod never bound to a node, or a delete with grace 0, goes at
once. A second delete may only shorten the grace period.
"""

from __future__ import annotations

from probelab.engine.core.clock import rfc3339
from probelab.engine.core.store import Obj, Store

DEFAULT_GRACE_S = 30


def pod_grace_period(pod: Obj, requested_s: int | None) -> int:
    """The grace period a DELETE applies: the request's, else the pod spec's, else 30 s."""
    if requested_s is not None:
        return max(0, int(requested_s))
    spec_value = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return DEFAULT_GRACE_S if spec_value is None else max(0, int(spec_value))


def delete_pod(store: Store, namespace: str, name: str, grace_s: int | None = None) -> Obj:
    """Start a graceful deletion (or delete now); returns the pod as the API returns it."""
    pod = store.get("pods", namespace, name)
    grace = pod_grace_period(pod, grace_s)
    m = pod["metadata"]
    bound = bool((pod.get("spec") or {}).get("nodeName"))
    if not bound or grace == 0:
        return store.delete("pods", namespace, name)
    current = m.get("deletionGracePeriodSeconds")
    if current is not None and current <= grace:
        return pod  # already terminating with a grace period at least as short
    now = store.clock.now()
    m["deletionTimestamp"] = rfc3339(now + grace)
    m["deletionGracePeriodSeconds"] = grace
    m.pop("resourceVersion", None)
    return store.update("pods", pod)
