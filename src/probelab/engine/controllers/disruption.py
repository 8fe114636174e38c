"""The disruption controller (component "disruption", `pkg/controller/disruption/
disruption.go`): keeps each PodDisruptionBudget's status, which the eviction subresource reads.

For a budget it lists the pods its selector matches in its namespace, asks the pure
`probelab.k8s.disruption.budget` for expectedPods (the scale of the pods' controllers: a
Deployment through its ReplicaSet, a ReplicaSet, or any served kind with `spec.replicas`, such
as a StatefulSet), desiredHealthy, currentHealthy and disruptionsAllowed, drops evictions the
pods never followed within 2 min (`disruptedPods`), and writes the status (with
observedGeneration and the DisruptionAllowed condition) through the status subresource when it
changed. A pod whose controller is missing makes the sync fail safe: disruptionsAllowed 0 and
the condition's reason SyncFailed. Events: `NoPods` when the selector matches nothing,
`UnmanagedPods` (Warning) when a percentage or maxUnavailable budget covers pods without a
controller. It syncs again when a kept eviction expires.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from probelab.engine.controllers import pods as podutil
from probelab.engine.controllers.base import Controller
from probelab.engine.core.events import EventKind
from probelab.engine.core.store import WatchEvent
from probelab.k8s import disruption
from probelab.k8s.objects import Obj
from probelab.k8s.resources import for_kind

COMPONENT = "controllermanager"  # the source of disruption controller Events upstream


class DisruptionController(Controller):
    """Engine component "disruption"."""

    name = "disruption"
    watched = ("poddisruptionbudgets", "pods", "replicasets", "deployments")
    primary = "poddisruptionbudgets"

    def keys_for(self, event: WatchEvent) -> Iterable[Hashable]:
        m = event.obj.get("metadata") or {}
        namespace = m.get("namespace") or ""
        if event.resource == "poddisruptionbudgets":
            return [(namespace, m.get("name"))]
        budgets, _ = self.store.list("poddisruptionbudgets", namespace)
        if event.resource == "pods":
            budgets = [b for b in budgets if disruption.selects(b, event.obj)]
        return [(namespace, b["metadata"]["name"]) for b in budgets]

    def _scale_of(self, namespace: str, ref: Mapping[str, Any]) -> tuple[str, int] | None:
        """(uid, replicas) of the controller that sets the scale of pods owned by `ref`: a
        ReplicaSet owned by a Deployment stands for the Deployment (`getPodReplicaSet` then
        `getPodDeployment` in disruption.go's finders)."""
        info = for_kind(str(ref.get("kind")))
        if info is None or not info.namespaced:
            return None
        owner = self.store.find(info.plural, namespace, str(ref.get("name")))
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            return None
        if info.plural == "replicasets":
            parent = podutil.controller_of(owner)
            if parent is not None and parent.get("kind") == "Deployment":
                return self._scale_of(namespace, parent)
        replicas = (owner.get("spec") or {}).get("replicas")
        if replicas is None:
            return None
        return str(owner["metadata"]["uid"]), int(replicas)

    def sync(self, key: Hashable) -> float | None:
        namespace, name = key  # type: ignore[misc]
        pdb = self.store.find("poddisruptionbudgets", namespace, name)
        if pdb is None or pdb["metadata"].get("deletionTimestamp"):
            return None
        all_pods, _ = self.store.list("pods", namespace)
        pods = [p for p in all_pods if disruption.selects(pdb, p)]
        now = self.ctx.clock.now()
        status = dict(pdb.get("status") or {})
        generation = pdb["metadata"].get("generation")
        recheck = None
        try:
            numbers = disruption.budget(pdb.get("spec") or {}, pods,
                                        status.get("disruptedPods"), now,
                                        lambda ref: self._scale_of(namespace, ref))
        except disruption.ScaleError as exc:  # failSafe
            status["disruptionsAllowed"] = 0
            status["conditions"] = disruption.allowed_condition(
                0, status.get("conditions"), now, status.get("observedGeneration"), str(exc))
        else:
            status.update(expectedPods=numbers.expected_pods,
                          desiredHealthy=numbers.desired_healthy,
                          currentHealthy=numbers.current_healthy,
                          disruptionsAllowed=numbers.disruptions_allowed,
                          observedGeneration=generation)
            if numbers.disrupted_pods:
                status["disruptedPods"] = numbers.disrupted_pods
            else:
                status.pop("disruptedPods", None)
            status["conditions"] = disruption.allowed_condition(
                numbers.disruptions_allowed, status.get("conditions"), now, generation)
            recheck = numbers.recheck_at
        if status != (pdb.get("status") or {}):
            self._events(pdb, pods, status)
            changed = copy.deepcopy(pdb)
            changed["status"] = status
            self.client.update("poddisruptionbudgets", changed, subresource="status")
        return None if recheck is None else max(0.0, recheck - now)

    def _events(self, pdb: Obj, pods: list[Obj], status: Obj) -> None:
        """NoPods / UnmanagedPods, once per status change rather than on every sync."""
        events = self.ctx.recorder(COMPONENT)
        if not pods:
            events.record(pdb, "NoPods", "No matching pods found")
        spec = pdb.get("spec") or {}
        scaled = spec.get("maxUnavailable") is not None or isinstance(
            spec.get("minAvailable"), str)
        if scaled and any(podutil.controller_of(p) is None for p in pods):
            events.record(pdb, "UnmanagedPods", "Pods selected by this PodDisruptionBudget "
                          f"(selector: {spec.get('selector')}) were found to be unmanaged. As "
                          "a result, the status of the PDB cannot be calculated correctly, "
                          "which may result in undefined behavior. To account for these pods "
                          'please set ".spec.minAvailable" field of the PDB to an integer '
                          "value.", kind=EventKind.WARNING)
