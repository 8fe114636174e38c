"""The taint eviction controller (component "tainteviction",
`pkg/controller/tainteviction/taint_eviction.go`): a pod on a node with a `NoExecute` taint it
does not tolerate is deleted; one that tolerates it with `tolerationSeconds` is deleted that
long after the controller first saw the taint; one that tolerates it for ever stays. Before the
delete it marks the pod (condition DisruptionTarget, reason DeletionByTaintManager) and records
a `TaintManagerEviction` Event; a scheduled deletion the node no longer calls for (the taint
removed) is cancelled, with an Event too. The delete is graceful, as any pod delete.
The timing rule is `probelab.k8s.taints.no_execute_delay`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterable

from probelab.engine.controllers import pods as podutil
from probelab.engine.controllers.base import Controller
from probelab.engine.core.clock import rfc3339
from probelab.engine.core.store import NotFound, Store, WatchEvent
from probelab.k8s.objects import Obj
from probelab.k8s.taints import no_execute_delay

COMPONENT = "taint-eviction-controller"
CONDITION = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
             "message": "Taint manager: deleting due to NoExecute taint"}


class TaintEvictionController(Controller):
    """Engine component "tainteviction"."""

    name = "tainteviction"
    watched = ("nodes", "pods")

    def __init__(self) -> None:
        super().__init__()
        self._since: dict[tuple[str, str, str], float] = {}  # pod key + uid -> first seen

    def initial_keys(self, store: Store) -> Iterable[Hashable]:
        pods, _ = store.list("pods")
        return [(p["metadata"].get("namespace") or "", p["metadata"]["name"]) for p in pods
                if (p.get("spec") or {}).get("nodeName")]

    def keys_for(self, event: WatchEvent) -> Iterable[Hashable]:
        if event.resource == "pods":
            m = event.obj["metadata"]
            return [(m.get("namespace") or "", m["name"])]
        node = event.obj["metadata"]["name"]
        pods, _ = self.store.list("pods", None, None,
                                  lambda p: (p.get("spec") or {}).get("nodeName") == node)
        return [(p["metadata"].get("namespace") or "", p["metadata"]["name"]) for p in pods]

    def sync(self, key: Hashable) -> float | None:
        namespace, name = key  # type: ignore[misc]
        pod = self.store.find("pods", namespace, name)
        if pod is None or podutil.is_terminating(pod) or podutil.is_terminal(pod):
            self._forget(namespace, name)
            return None
        node_name = (pod.get("spec") or {}).get("nodeName")
        node = self.store.find("nodes", None, node_name) if node_name else None
        delay = no_execute_delay((pod.get("spec") or {}).get("tolerations"),
                                 ((node or {}).get("spec") or {}).get("taints"))
        uid = str(pod["metadata"].get("uid"))
        if delay is None:
            if self._forget(namespace, name):
                self.ctx.recorder(COMPONENT).record(
                    pod, "TaintManagerEviction", f"Cancelling deletion of Pod {namespace}/{name}")
            return None
        now = self.ctx.clock.now()
        since = self._since.setdefault((namespace, name, uid), now)
        if since + delay > now:
            return since + delay - now
        self._evict(pod, now)
        return None

    def _forget(self, namespace: str, name: str) -> bool:
        keys = [k for k in self._since if k[:2] == (namespace, name)]
        for k in keys:
            del self._since[k]
        return bool(keys)

    def _evict(self, pod: Obj, now: float) -> None:
        """`addConditionAndDeletePod`, then the Event."""
        m = pod["metadata"]
        namespace, name, uid = m.get("namespace"), m["name"], m.get("uid")

        def mark(obj: Obj) -> None:
            status = obj.setdefault("status", {})
            conditions = [c for c in status.get("conditions") or []
                          if c.get("type") != CONDITION["type"]]
            status["conditions"] = [*conditions, {**CONDITION,
                                                  "lastTransitionTime": rfc3339(now)}]

        with contextlib.suppress(NotFound):
            self.client.mutate("pods", namespace, name, mark, subresource="status")
            self.ctx.recorder(COMPONENT).record(pod, "TaintManagerEviction",
                                                f"Marking for deletion Pod {namespace}/{name}")
            self.client.delete("pods", namespace, name, uid=uid)
        self._forget(namespace, name)
