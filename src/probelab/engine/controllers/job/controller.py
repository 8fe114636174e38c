"""The Job controller loop (engine component "job"): reads a Job and its pods, asks
`plan.plan_job`, creates and deletes pods, writes the status, records Events, and deletes a
finished Job once `ttlSecondsAfterFinished` has passed (its pods go with it, by the
garbage collector's cascade).

Pods are made from the template with `generateName: <job>-` and the Job as controller; the
template already carries `batch.kubernetes.io/job-name` and `batch.kubernetes.io/controller-uid`
(the API server's Job strategy put them there, `registry/jobs.py`).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Hashable, Iterable

from probelab.engine.controllers import pods as podutil
from probelab.engine.controllers.base import Controller
from probelab.engine.controllers.job import plan as rules
from probelab.engine.core.client import NAMESPACE_TERMINATING, Rejected
from probelab.engine.core.events import EventKind
from probelab.engine.core.store import NotFound, WatchEvent
from probelab.k8s.objects import Obj, meta, spec, status

COMPONENT = "job-controller"


def job_pod(job: Obj, index: int | None = None) -> Obj:
    """A pod from the Job's template (`GetPodFromTemplate`); an Indexed Job's pod also gets
    its index as annotation and label, hostname `<job>-<index>` and the `JOB_COMPLETION_INDEX`
    variable from the annotation (`addCompletionIndexEnvVariables`)."""
    template = spec(job).get("template") or {}
    tmeta = template.get("metadata") or {}
    name = meta(job)["name"]
    m: Obj = {"generateName": f"{name}-", "namespace": meta(job).get("namespace"),
              "labels": dict(tmeta.get("labels") or {}),
              "annotations": dict(tmeta.get("annotations") or {}),
              "ownerReferences": [podutil.controller_ref(job, "batch/v1", "Job")]}
    pod_spec = copy.deepcopy(template.get("spec") or {})
    if index is not None:
        m["generateName"] = f"{name}-{index}-"
        m["annotations"][rules.INDEX_KEY] = str(index)
        m["labels"][rules.INDEX_KEY] = str(index)
        pod_spec["hostname"] = f"{name}-{index}"
        variable = {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
            "fieldPath": f"metadata.annotations['{rules.INDEX_KEY}']"}}}
        for key in ("initContainers", "containers"):
            for container in pod_spec.get(key) or ():
                if isinstance(container, dict):
                    container["env"] = [*(container.get("env") or ()), dict(variable)]
    if not m["annotations"]:
        del m["annotations"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": m, "spec": pod_spec}


class JobController(Controller):
    """Engine component "job"."""

    name = "job"
    watched = ("jobs", "pods")
    primary = "jobs"

    def keys_for(self, event: WatchEvent) -> Iterable[Hashable]:
        m = event.obj.get("metadata") or {}
        if event.resource == "jobs":
            return [(m.get("namespace") or "", m.get("name"))]
        ref = podutil.controller_of(event.obj)
        if ref is not None and ref.get("kind") == "Job":
            return [(m.get("namespace") or "", ref.get("name"))]
        return []

    def sync(self, key: Hashable) -> float | None:
        namespace, name = key  # type: ignore[misc]
        job = self.store.find("jobs", namespace, name)
        if job is None or meta(job).get("deletionTimestamp"):
            return None
        now = self.ctx.clock.now()
        expires = rules.ttl_expires_at(job)
        if expires is not None:
            if expires > now:
                return expires - now + 0.01
            with contextlib.suppress(NotFound):
                self.client.delete("jobs", namespace, name)
            return None
        pods, _ = self.store.list("pods", namespace)
        owned = [p for p in pods if podutil.controlled_by(p, job)]
        plan = rules.plan_job(job, owned, now)
        events = self.ctx.recorder(COMPONENT)
        for victim in plan.delete:
            try:
                self.client.delete("pods", namespace, victim)
            except NotFound:
                continue
            events.record(job, "SuccessfulDelete", f"Deleted pod: {victim}")
        indexes: list[int | None] = list(plan.indexes) or [None] * plan.create
        for index in indexes:
            try:
                pod = self.client.create("pods", job_pod(job, index))
            except Rejected as exc:
                if exc.has_cause(NAMESPACE_TERMINATING):
                    break
                raise
            events.record(job, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
        if plan.status != status(job):
            job["status"] = plan.status
            job = self.client.update("jobs", job, subresource="status")
        for kind, reason, message in plan.events:
            events.record(job, reason, message, kind=EventKind(kind))
        expires = rules.ttl_expires_at(job)
        if expires is not None:
            return max(0.0, expires - now) + 0.01
        return rules.next_deadline_s(job, now)
