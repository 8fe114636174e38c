"""The StatefulSet controller loop (engine component "statefulset"): reads the set, its pods
and its ControllerRevisions from the store, asks `plan.plan_stateful_set` what to do, writes the
pods, the revision and the status through the API (`pkg/controller/statefulset/
stateful_set.go` sync, `stateful_set_control.go` performUpdate / truncateHistory).

Events use Kubernetes' wording (`stateful_pod_control.go` recordPodEvent):
`create Pod web-0 in StatefulSet web successful` (SuccessfulCreate) and
`delete Pod web-2 in StatefulSet web successful` (SuccessfulDelete).
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterable

from probelab.engine.controllers import pods as podutil
from probelab.engine.controllers.base import Controller
from probelab.engine.controllers.statefulset import plan as rules
from probelab.engine.controllers.statefulset import revisions
from probelab.engine.core.client import NAMESPACE_TERMINATING, Rejected
from probelab.engine.core.events import EventKind
from probelab.engine.core.store import AlreadyExists, NotFound, WatchEvent
from probelab.k8s.objects import Obj, meta, spec, status

COMPONENT = "statefulset-controller"
NO_CLAIMS_REASON = "VolumeClaimsNotProvided"


class StatefulSetController(Controller):
    """Engine component "statefulset"."""

    name = "statefulset"
    watched = ("statefulsets", "pods")
    primary = "statefulsets"

    def keys_for(self, event: WatchEvent) -> Iterable[Hashable]:
        m = event.obj.get("metadata") or {}
        if event.resource == "statefulsets":
            return [(m.get("namespace") or "", m.get("name"))]
        ref = podutil.controller_of(event.obj)
        if ref is not None and ref.get("kind") == "StatefulSet":
            return [(m.get("namespace") or "", ref.get("name"))]
        return []

    def sync(self, key: Hashable) -> float | None:
        namespace, name = key  # type: ignore[misc]
        sts = self.store.find("statefulsets", namespace, name)
        if sts is None:
            return None
        owned = self._pods(sts)
        history = self._revisions(sts)
        update = self._ensure_update_revision(sts, history)
        current = status(sts).get("currentRevision") or ""
        if current not in history:
            current = update
        now = self.ctx.clock.now()
        plan = rules.plan_stateful_set(sts, owned, current, update, now)
        events = self.ctx.recorder(COMPONENT)
        for ordinal, revision in plan.create:
            template = (revisions.template_of(history[revision]) if revision in history
                        else spec(sts).get("template") or {})
            pod = revisions.new_pod(sts, template, ordinal, revision)
            try:
                self.client.create("pods", pod)
            except AlreadyExists:
                continue  # the old pod of this ordinal is still being removed
            except Rejected as exc:
                if exc.has_cause(NAMESPACE_TERMINATING):
                    break
                raise
            events.record(sts, "SuccessfulCreate", f"create Pod {pod['metadata']['name']} "
                          f"in StatefulSet {name} successful")
            if revisions.claim_names(sts):
                events.record(sts, NO_CLAIMS_REASON, "volumeClaimTemplates "
                              f"{', '.join(revisions.claim_names(sts))}: the local engine has "
                              "no PersistentVolumeClaims; pod "
                              f"{pod['metadata']['name']} gets emptyDir volumes instead "
                              "(their data does not outlive the pod)",
                              kind=EventKind.WARNING)
        for victim in plan.delete:
            try:
                self.client.delete("pods", namespace, victim)
            except NotFound:
                continue
            events.record(sts, "SuccessfulDelete",
                          f"delete Pod {victim} in StatefulSet {name} successful")
        if plan.create or plan.delete:
            owned = self._pods(sts)
        new_status = rules.stateful_set_status(sts, owned, current, update, now)
        if new_status != status(sts):
            sts["status"] = new_status
            self.client.update("statefulsets", sts, subresource="status")
        self._truncate_history(sts, history, owned, {current, update})
        return self._next_availability(sts, owned, now)

    def _pods(self, sts: Obj) -> list[Obj]:
        pods, _ = self.store.list("pods", meta(sts).get("namespace"))
        return [p for p in pods if podutil.controlled_by(p, sts)]

    def _revisions(self, sts: Obj) -> dict[str, Obj]:
        found, _ = self.store.list("controllerrevisions", meta(sts).get("namespace"))
        return {meta(r)["name"]: r for r in found if podutil.controlled_by(r, sts)}

    def _ensure_update_revision(self, sts: Obj, history: dict[str, Obj]) -> str:
        """The revision of the set's template, created (or renumbered as the newest, when an
        earlier template comes back) as `getStatefulSetRevisions` does."""
        name = revisions.revision_name(sts)
        newest = max((int(r.get("revision") or 0) for r in history.values()), default=0)
        existing = history.get(name)
        if existing is None:
            history[name] = self.client.create("controllerrevisions",
                                               revisions.new_revision(sts, newest + 1))
        elif int(existing.get("revision") or 0) < newest:
            existing["revision"] = newest + 1
            history[name] = self.client.update("controllerrevisions", existing)
        return name

    def _truncate_history(self, sts: Obj, history: dict[str, Obj], pods: list[Obj],
                          live: set[str]) -> None:
        """Delete the oldest revisions no pod uses beyond `revisionHistoryLimit`
        (`truncateHistory`)."""
        limit = int(spec(sts).get("revisionHistoryLimit") or 10)
        used = live | {revisions.pod_revision(p) for p in pods}
        idle = sorted((r for n, r in history.items() if n not in used),
                      key=lambda r: int(r.get("revision") or 0))
        for old in idle[:max(0, len(idle) - limit)]:
            with contextlib.suppress(NotFound):
                self.client.delete("controllerrevisions", meta(old).get("namespace"),
                                   meta(old)["name"])

    @staticmethod
    def _next_availability(sts: Obj, pods: list[Obj], now: float) -> float | None:
        """Seconds until a ready pod counts as available (minReadySeconds), or None."""
        min_ready = int(spec(sts).get("minReadySeconds") or 0)
        times = [t for p in pods if not podutil.is_available(p, min_ready, now)
                 and (t := podutil.available_at(p, min_ready)) is not None]
        return max(0.0, min(times) - now) + 0.01 if times else None
