"""The Deployment controller component: reads a Deployment, its ReplicaSets and their pods from
the store, asks `rollout.plan_deployment` (pure) what one sync does, and writes the result.

The ReplicaSet controller (`controllers.replicaset`) then creates and deletes the pods; its
status updates bring the Deployment back here, one rollout step at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterable

from probelab.engine.controllers import pods as podutil
from probelab.engine.controllers.base import Controller
from probelab.engine.controllers.deployment.rollout import Plan, plan_deployment
from probelab.engine.core.store import AlreadyExists, EventType, NotFound, WatchEvent
from probelab.k8s.objects import Obj, meta, status

COMPONENT = "deployment-controller"


class DeploymentController(Controller):
    """Engine component "deployment"."""

    name = "deployment"
    watched = ("deployments", "replicasets", "pods")
    primary = "deployments"

    def keys_for(self, event: WatchEvent) -> Iterable[Hashable]:
        m = event.obj.get("metadata") or {}
        namespace = m.get("namespace") or ""
        if event.resource == "deployments":
            return [(namespace, m.get("name"))]
        ref = podutil.controller_of(event.obj)
        if event.resource == "replicasets":
            return [(namespace, ref["name"])] if ref and ref.get("kind") == "Deployment" else []
        # pods: a Recreate rollout waits until the old pods are gone (or terminal)
        gone = event.type is EventType.DELETED or podutil.is_terminal(event.obj)
        if not gone or ref is None or ref.get("kind") != "ReplicaSet":
            return []
        rs = self.store.find("replicasets", namespace, ref.get("name"))
        owner = podutil.controller_of(rs) if rs else None
        return [(namespace, owner["name"])] if owner and owner.get("kind") == "Deployment" else []

    def sync(self, key: Hashable) -> float | None:
        namespace, name = key  # type: ignore[misc]
        d = self.store.find("deployments", namespace, name)
        if d is None:
            return None
        uid = meta(d).get("uid")
        sets, _ = self.store.list("replicasets", namespace,
                                  where=lambda rs: (podutil.controller_of(rs) or {}).get("uid")
                                  == uid)
        if any(meta(rs).get("generation", 1) > status(rs).get("observedGeneration", 0)
               and not meta(rs).get("deletionTimestamp") for rs in sets):
            return None  # the ReplicaSet controller has not seen its latest size yet
        set_uids = {meta(rs).get("uid") for rs in sets}
        pods, _ = self.store.list("pods", namespace, where=lambda p: (
            podutil.controller_of(p) or {}).get("uid") in set_uids)
        plan = plan_deployment(d, sets, pods, self.ctx.clock.now())
        return self._apply(d, plan)

    def _apply(self, d: Obj, plan: Plan) -> float | None:
        client, namespace, name = self.client, meta(d).get("namespace"), meta(d)["name"]
        if plan.create is not None:
            try:
                client.create("replicasets", plan.create)
            except AlreadyExists:  # a set of that name with another template: rehash
                def bump(obj: Obj) -> None:
                    st = obj.setdefault("status", {})
                    st["collisionCount"] = int(st.get("collisionCount") or 0) + 1
                client.mutate("deployments", namespace, name, bump, subresource="status")
                return 0.0
        for rs in plan.updates:
            client.update("replicasets", rs)
        for rs_name in plan.deletes:
            with contextlib.suppress(NotFound):
                client.delete("replicasets", namespace, rs_name)
        if plan.annotations is not None:
            def annotate(obj: Obj) -> None:
                obj["metadata"]["annotations"] = plan.annotations
            client.mutate("deployments", namespace, name, annotate)
        if plan.status is not None:
            def set_status(obj: Obj) -> None:
                obj["status"] = plan.status
            client.mutate("deployments", namespace, name, set_status, subresource="status")
        events = self.ctx.recorder(COMPONENT)
        for reason, message, kind in plan.events:
            events.record(d, reason, message, kind=kind)
        return plan.requeue_s
