"""The namespace controller: empties a terminating namespace, then removes it.

A namespace being deleted (deletionTimestamp set, or phase Terminating) is left alone for
`namespaceDeletionGracePeriod` (5 s, `pkg/controller/namespace/namespace_controller.go`: in a
cluster this lets every API server see the deletion; for clients it means that `kubectl delete -f`
still finds, and deletes, the objects listed after the namespace). Then its contents are
removed owners first, so no controller recreates what was just deleted: Deployments and
ReplicaSets, then Services and their endpoints, then pods, which are deleted *gracefully* so the
kubelet still runs preStop, SIGTERM and the grace period; everything else goes at once. The
namespace object itself goes when nothing is left but nothing is forced: terminating pods are
waited for (`pkg/controller/namespace/deletion/namespaced_resources_deleter.go`). Events recorded
while pods terminate are swept on the last pass.

Neighbours: the API server marks the namespace (DELETE namespace), `deletion.delete_pod`, the
kubelet (removes terminated pods, which brings the namespace back here).
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from probelab.engine.controllers.base import Controller
from probelab.engine.core.store import NotFound, WatchEvent
from probelab.k8s.objects import Obj, meta, status
from probelab.k8s.resources import RESOURCES

# Owners before what they own; pods after their controllers; events last.
PURGE_ORDER = ("horizontalpodautoscalers", "cronjobs", "deployments", "statefulsets",
               "daemonsets", "jobs", "replicasets", "services", "endpointslices", "endpoints",
               "pods")
RETRY_S = 1.0  # look again this often while pods are still terminating
DELETION_GRACE_S = 5.0  # namespaceDeletionGracePeriod


def namespaced_resources() -> tuple[str, ...]:
    """Every namespaced resource, in purge order (unknown ones before events)."""
    others = [r.plural for r in RESOURCES if r.namespaced and r.plural not in PURGE_ORDER
              and r.plural != "events"]
    return (*PURGE_ORDER, *others, "events")


def is_terminating(ns: Obj) -> bool:
    return bool(meta(ns).get("deletionTimestamp")) or status(ns).get("phase") == "Terminating"


@dataclass(frozen=True)
class PurgeStep:
    resource: str
    name: str  # a pod's DELETE is graceful by the API's pod rules, not by the step


def plan_purge(contents: Mapping[str, Sequence[Obj]]) -> list[PurgeStep]:
    """What to delete now, in order: every object, pods gracefully (pods already terminating
    are left to the kubelet)."""
    steps = []
    for resource in namespaced_resources():
        for obj in contents.get(resource, ()):
            if resource == "pods" and meta(obj).get("deletionTimestamp"):
                continue
            steps.append(PurgeStep(resource, meta(obj)["name"]))
    return steps


def is_empty(contents: Mapping[str, Sequence[Obj]]) -> bool:
    return not any(contents.values())


def purge_wait_s(first_seen_s: float, now_s: float, grace_s: float = DELETION_GRACE_S) -> float:
    """Seconds left before a namespace seen terminating at `first_seen_s` may be emptied."""
    return max(0.0, first_seen_s + grace_s - now_s)


class NamespaceController(Controller):
    """Engine component "namespace"."""

    name = "namespace"
    watched = ("namespaces", "pods")
    primary = "namespaces"
    deletion_grace_s = DELETION_GRACE_S

    def __init__(self) -> None:
        super().__init__()
        self._first_seen: dict[str, float] = {}  # loop time each terminating namespace was seen

    def keys_for(self, event: WatchEvent) -> Iterable[Hashable]:
        m = event.obj.get("metadata") or {}
        if event.resource == "namespaces":
            return [("", m.get("name"))] if is_terminating(event.obj) else []
        ns = self.store.find("namespaces", None, m.get("namespace") or "")
        return [("", meta(ns)["name"])] if ns is not None and is_terminating(ns) else []

    def sync(self, key: Hashable) -> float | None:
        _, name = key  # type: ignore[misc]
        store, client = self.store, self.client
        ns = store.find("namespaces", None, name)
        if ns is None or not is_terminating(ns):
            self._first_seen.pop(name, None)
            return None
        if status(ns).get("phase") != "Terminating":
            client.mutate("namespaces", None, name,
                         lambda o: o.setdefault("status", {}).update(phase="Terminating"),
                         subresource="status")
        now = asyncio.get_running_loop().time()
        wait = purge_wait_s(self._first_seen.setdefault(name, now), now, self.deletion_grace_s)
        if wait > 0:
            return wait
        for step in plan_purge(self._contents(name)):
            try:
                client.delete(step.resource, name, step.name)
            except NotFound:
                continue
        if not is_empty(self._contents(name)):
            return RETRY_S
        client.finalize(name, [])  # the last finalizer gone, the API removes the namespace
        self._first_seen.pop(name, None)
        return None

    def _contents(self, namespace: str) -> dict[str, list[Obj]]:
        return {r: self.store.list(r, namespace)[0] for r in namespaced_resources()}
