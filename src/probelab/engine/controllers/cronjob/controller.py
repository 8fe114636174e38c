"""The CronJob controller loop (engine component "cronjob"): at each CronJob's next
scheduled time, and when it or one of its Jobs changes, ask `plan.plan_cron_job`, then create
or delete Jobs and write the status through the API. Events use Kubernetes' wording
(`Created job nightly-29000000`, `Saw completed job: …`, `Deleted job …`)."""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterable

from probelab.engine.controllers import pods as podutil
from probelab.engine.controllers.base import Controller
from probelab.engine.controllers.cronjob import plan as rules
from probelab.engine.core.client import NAMESPACE_TERMINATING, Rejected
from probelab.engine.core.events import EventKind
from probelab.engine.core.store import AlreadyExists, NotFound, WatchEvent
from probelab.k8s.objects import meta, status

COMPONENT = "cronjob-controller"


class CronJobController(Controller):
    """Engine component "cronjob"."""

    name = "cronjob"
    watched = ("cronjobs", "jobs")
    primary = "cronjobs"

    def keys_for(self, event: WatchEvent) -> Iterable[Hashable]:
        m = event.obj.get("metadata") or {}
        if event.resource == "cronjobs":
            return [(m.get("namespace") or "", m.get("name"))]
        ref = podutil.controller_of(event.obj)
        if ref is not None and ref.get("kind") == "CronJob":
            return [(m.get("namespace") or "", ref.get("name"))]
        return []

    def sync(self, key: Hashable) -> float | None:
        namespace, name = key  # type: ignore[misc]
        cj = self.store.find("cronjobs", namespace, name)
        if cj is None:
            return None
        jobs, _ = self.store.list("jobs", namespace)
        owned = [j for j in jobs if podutil.controlled_by(j, cj)]
        now = self.ctx.clock.now()
        plan = rules.plan_cron_job(cj, owned, now)
        events = self.ctx.recorder(COMPONENT)
        for victim in plan.delete:
            with contextlib.suppress(NotFound):
                self.client.delete("jobs", namespace, victim)
                events.record(cj, "SuccessfulDelete", f"Deleted job {victim}")
        if plan.create is not None:
            try:
                job = self.client.create("jobs", plan.create)
            except AlreadyExists:
                job = None
            except Rejected as exc:
                if not exc.has_cause(NAMESPACE_TERMINATING):
                    raise
                return None
            if job is not None:
                events.record(cj, "SuccessfulCreate", f"Created job {meta(job)['name']}")
                plan.status.setdefault("active", []).append(rules._reference(job))
        if plan.status != status(cj):
            cj["status"] = plan.status
            cj = self.client.update("cronjobs", cj, subresource="status")
        for kind, reason, message in plan.events:
            events.record(cj, reason, message, kind=EventKind(kind))
        return None if plan.next_at is None else max(0.0, plan.next_at - now) + 0.01
