"""The DaemonSet controller loop (engine component "daemonset"): for each DaemonSet, read the
Nodes and its pods, ask `plan.plan_daemon_set`, create and delete pods and write the status
through the API (`pkg/controller/daemon/daemon_controller.go` syncDaemonSet).

A daemon pod is made from the template with `generateName: <ds>-`, the
`controller-revision-hash` and `pod-template-generation` labels, the daemon tolerations, the
node affinity upstream uses (`metadata.name In [node]`) and, since the engine has no separate
scheduler, `spec.nodeName` already set: the kubelet of that node runs it.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable

from probelab.engine.controllers import pods as podutil
from probelab.engine.controllers.base import Controller
from probelab.engine.controllers.daemonset import plan as rules
from probelab.engine.controllers.deployment.util import template_hash
from probelab.engine.core.client import NAMESPACE_TERMINATING, Rejected
from probelab.engine.core.store import NotFound, WatchEvent
from probelab.k8s.objects import Obj, meta, spec, status

COMPONENT = "daemonset-controller"
GENERATION_LABEL = "pod-template-generation"


def revision_hash(ds: Obj) -> str:
    count = int(status(ds).get("collisionCount") or 0)
    return template_hash(spec(ds).get("template") or {}, count)


def daemon_pod(ds: Obj, node: str, revision: str) -> Obj:
    """The pod for `node` (`CreatePodTemplate` + `ReplaceDaemonSetPodNodeNameNodeAffinity`)."""
    template = spec(ds).get("template") or {}
    tmeta = template.get("metadata") or {}
    labels = dict(tmeta.get("labels") or {})
    labels[rules.REVISION_LABEL] = revision
    labels[GENERATION_LABEL] = str(meta(ds).get("generation", 1))
    m: Obj = {"generateName": f"{meta(ds)['name']}-", "namespace": meta(ds).get("namespace"),
              "labels": labels,
              "ownerReferences": [podutil.controller_ref(ds, "apps/v1", "DaemonSet")]}
    if tmeta.get("annotations"):
        m["annotations"] = dict(tmeta["annotations"])
    pod_spec = copy.deepcopy(template.get("spec") or {})
    pod_spec["tolerations"] = rules.daemon_tolerations(pod_spec)
    affinity = pod_spec.setdefault("affinity", {})
    affinity["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [node]}]}]}}
    pod_spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": m, "spec": pod_spec}


class DaemonSetController(Controller):
    """Engine component "daemonset"."""

    name = "daemonset"
    watched = ("daemonsets", "pods", "nodes")
    primary = "daemonsets"

    def keys_for(self, event: WatchEvent) -> Iterable[Hashable]:
        m = event.obj.get("metadata") or {}
        if event.resource == "daemonsets":
            return [(m.get("namespace") or "", m.get("name"))]
        if event.resource == "nodes":
            sets, _ = self.store.list("daemonsets")
            return [(meta(s).get("namespace") or "", meta(s)["name"]) for s in sets]
        ref = podutil.controller_of(event.obj)
        if ref is not None and ref.get("kind") == "DaemonSet":
            return [(m.get("namespace") or "", ref.get("name"))]
        return []

    def sync(self, key: Hashable) -> float | None:
        namespace, name = key  # type: ignore[misc]
        ds = self.store.find("daemonsets", namespace, name)
        if ds is None:
            return None
        nodes, _ = self.store.list("nodes")
        owned = self._pods(ds)
        revision = revision_hash(ds)
        now = self.ctx.clock.now()
        plan = rules.plan_daemon_set(ds, nodes, owned, revision, now)
        events = self.ctx.recorder(COMPONENT)
        for node in plan.create:
            try:
                pod = self.client.create("pods", daemon_pod(ds, node, revision))
            except Rejected as exc:
                if exc.has_cause(NAMESPACE_TERMINATING):
                    break
                raise
            events.record(ds, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
        for victim in plan.delete:
            try:
                self.client.delete("pods", namespace, victim)
            except NotFound:
                continue
            events.record(ds, "SuccessfulDelete", f"Deleted pod: {victim}")
        if plan.create or plan.delete:
            owned = self._pods(ds)
        new_status = rules.daemon_set_status(ds, nodes, owned, revision, now)
        if new_status != status(ds):
            ds["status"] = new_status
            self.client.update("daemonsets", ds, subresource="status")
        min_ready = int(spec(ds).get("minReadySeconds") or 0)
        times = [t for p in owned if not podutil.is_available(p, min_ready, now)
                 and (t := podutil.available_at(p, min_ready)) is not None]
        return max(0.0, min(times) - now) + 0.01 if times else None

    def _pods(self, ds: Obj) -> list[Obj]:
        pods, _ = self.store.list("pods", meta(ds).get("namespace"))
        return [p for p in pods if podutil.controlled_by(p, ds)]
