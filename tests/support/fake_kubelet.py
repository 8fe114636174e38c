"""The node in tests that need pods to progress without processes: it binds each new pod,
gives it a loopback IP, marks it Running and Ready, and removes it once it is terminating.

Controllers, kubectl and the official client see the status a real kubelet would write (the
pod's conditions with Ready first, one status per container), so what they do with it is what
they would do on a node. Options make the node slow or partial, as a real one can be:
`ready_delay_s` / `ready_when` (readiness late or never), `stop_delay_s` (termination takes
time), `remove_terminating=False` or `keep` (a pod stays terminating until `release`d), and
`set_ready` flips readiness as the prober would. Pods that already name a node are another
node's business and are left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

from probelab.engine.core.clock import rfc3339
from probelab.engine.core.store import EventType, Store, Watcher

Obj = dict[str, Any]


class FakeKubelet:
    """An async context manager running in the store's event loop."""

    def __init__(self, store: Store, *, ready_delay_s: float = 0.0, stop_delay_s: float = 0.0,
                 remove_terminating: bool = True,
                 ready_when: Callable[[Obj], bool] = lambda pod: True,
                 node: str = "node-1") -> None:
        self.store = store
        self.ready_delay_s = ready_delay_s
        self.stop_delay_s = stop_delay_s
        self.remove_terminating = remove_terminating
        self.ready_when = ready_when
        self.node = node
        self.keep: set[tuple[str, str]] = set()  # (namespace, name) left terminating
        self._ips = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._handles: list[asyncio.TimerHandle] = []
        self._removing: set[tuple[str, str]] = set()
        self._watcher: Watcher | None = None

    async def __aenter__(self) -> FakeKubelet:
        self._watcher = self.store.watch("pods")  # current pods first, then the changes
        self._task = asyncio.get_running_loop().create_task(self._run(), name="fake-kubelet")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._watcher is not None and self._task is not None
        self._watcher.close()
        for handle in self._handles:
            handle.cancel()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        assert self._watcher is not None
        async for event in self._watcher:
            if event.type is EventType.DELETED:
                continue
            pod = event.obj
            if pod["metadata"].get("deletionTimestamp"):
                self._terminating(pod["metadata"]["namespace"], pod["metadata"]["name"])
            elif not (pod.get("spec") or {}).get("nodeName"):
                self._start(pod)

    # ---- start -------------------------------------------------------------------------------
    def _start(self, pod: Obj) -> None:
        """Bind and run the pod; Ready at once unless it is to be late or never."""
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        ip = f"127.244.0.{next(self._ips)}"
        wants_ready = self.ready_when(pod)
        ready_now = wants_ready and self.ready_delay_s <= 0
        now = rfc3339(self.store.clock.now())

        def bind(obj: Obj) -> None:
            obj["spec"]["nodeName"] = self.node

        def run(obj: Obj) -> None:
            containers = obj["spec"].get("containers") or []
            obj.setdefault("status", {}).update(
                phase="Running", podIP=ip, podIPs=[{"ip": ip}], hostIP="127.0.0.1",
                startTime=now,
                conditions=[self._condition(t, ready_now, now)
                            for t in ("Ready", "ContainersReady")]
                + [self._condition(t, True, now) for t in ("PodScheduled", "Initialized")],
                containerStatuses=[{
                    "name": c["name"], "image": c.get("image", ""), "imageID": "",
                    "ready": ready_now, "started": True, "restartCount": 0,
                    "state": {"running": {"startedAt": now}}} for c in containers])

        self.store.mutate("pods", ns, name, bind)
        self.store.mutate("pods", ns, name, run, subresource="status")
        if wants_ready and not ready_now:
            self._later(self.ready_delay_s, self.set_ready, ns, name, True)

    @staticmethod
    def _condition(kind: str, value: bool, at: str) -> Obj:
        return {"type": kind, "status": "True" if value else "False", "lastTransitionTime": at}

    def set_ready(self, ns: str, name: str, ready: bool) -> None:
        """Flip the pod's readiness (what the prober would do)."""
        now = rfc3339(self.store.clock.now())

        def change(pod: Obj) -> None:
            for cond in pod["status"].get("conditions") or ():
                if cond["type"] in ("Ready", "ContainersReady"):
                    cond.update(self._condition(cond["type"], ready, now))
            for c in pod["status"].get("containerStatuses") or ():
                c["ready"] = ready

        if self.store.find("pods", ns, name) is not None:
            self.store.mutate("pods", ns, name, change, subresource="status")

    # ---- termination -------------------------------------------------------------------------
    def _terminating(self, ns: str, name: str) -> None:
        if self.remove_terminating and (ns, name) not in self.keep \
                and (ns, name) not in self._removing:
            self._removing.add((ns, name))
            self._later(self.stop_delay_s, self._remove, ns, name)

    def release(self, namespace: str, name: str) -> None:
        """Let a kept pod finish terminating (call in the store's loop)."""
        self.keep.discard((namespace, name))
        pod = self.store.find("pods", namespace, name)
        if pod is not None and pod["metadata"].get("deletionTimestamp"):
            self._terminating(namespace, name)

    def _remove(self, ns: str, name: str) -> None:
        self._removing.discard((ns, name))
        if self.store.find("pods", ns, name) is not None:
            self.store.delete("pods", ns, name)

    def _later(self, delay_s: float, fn: Callable[..., None], *args: Any) -> None:
        self._handles.append(asyncio.get_running_loop().call_later(delay_s, fn, *args))
