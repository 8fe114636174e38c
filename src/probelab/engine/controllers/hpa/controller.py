"""The HorizontalPodAutoscaler loop (engine component "hpa"): every 15 s, and when an HPA
changes, read its target's replicas from the store, ask `plan.plan_hpa`, write the HPA status
and (only to bring the target inside [minReplicas, maxReplicas]) the target's `spec.replicas`,
through the API as a `scale` write would."""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from probelab.engine.controllers.base import Controller
from probelab.engine.controllers.hpa import plan as rules
from probelab.engine.core.events import EventKind
from probelab.engine.core.store import WatchEvent
from probelab.k8s.objects import Obj, meta, spec, status
from probelab.k8s.resources import for_kind

COMPONENT = "horizontal-pod-autoscaler"


class HpaController(Controller):
    """Engine component "hpa"."""

    name = "hpa"
    watched = ("horizontalpodautoscalers",)
    primary = "horizontalpodautoscalers"

    def keys_for(self, event: WatchEvent) -> Iterable[Hashable]:
        m = event.obj.get("metadata") or {}
        return [(m.get("namespace") or "", m.get("name"))]

    def sync(self, key: Hashable) -> float | None:
        namespace, name = key  # type: ignore[misc]
        hpa = self.store.find("horizontalpodautoscalers", namespace, name)
        if hpa is None or meta(hpa).get("deletionTimestamp"):
            return None
        current, error, target = self._target(hpa)
        plan = rules.plan_hpa(hpa, current, error, self.ctx.clock.now())
        if plan.scale_to is not None and target is not None:
            resource, obj = target
            replicas = plan.scale_to

            def resize(o: Obj) -> None:
                o["spec"]["replicas"] = replicas

            self.client.mutate(resource, namespace, meta(obj)["name"], resize)
        if plan.status != status(hpa):
            hpa["status"] = plan.status
            hpa = self.client.update("horizontalpodautoscalers", hpa, subresource="status")
        events = self.ctx.recorder(COMPONENT)
        for kind, reason, message in plan.events:
            events.record(hpa, reason, message, kind=EventKind(kind))
        return rules.SYNC_PERIOD_S

    def _target(self, hpa: Obj) -> tuple[int | None, str, tuple[str, Obj] | None]:
        ref = spec(hpa).get("scaleTargetRef") or {}
        kind, target_name = str(ref.get("kind") or ""), str(ref.get("name") or "")
        info = for_kind(kind)
        if info is None or "scale" not in info.subresources:
            return None, f'no matches for kind "{kind}"', None
        obj = self.store.find(info.plural, meta(hpa).get("namespace"), target_name)
        if obj is None:
            group = f".{info.group}" if info.group else ""
            return None, f'{info.plural}{group} "{target_name}" not found', None
        return int(spec(obj).get("replicas", 1)), "", (info.plural, obj)
