"""Fakes and builders for the controller tests: a fake kubelet on a real store, object builders,
and a runner that starts controllers in the test's event loop.

The fake kubelet binds every new pod to a node, gives it an IP and marks it Running and Ready
(after `ready_delay_s`, or never for pods `ready_when` rejects); a pod with a deletionTimestamp is
removed `stop_delay_s` later (or kept, with `remove_terminating=False`). No processes run.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

from probelab.engine.core.clock import Clock, SystemClock, rfc3339
from probelab.engine.core.context import EngineConfig
from probelab.engine.core.store import EventType, Store
from probelab.engine.engine import build_context

Obj = dict[str, Any]
NAMESPACE = "demo"


class FakeKubelet:
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
        self._ips = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._handles: list[asyncio.TimerHandle] = []
        self._removing: set[tuple[str, str]] = set()
        self._watcher = None

    async def __aenter__(self) -> FakeKubelet:
        self._watcher = self.store.watch("pods")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="fake-kubelet")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._watcher.close()
        for handle in self._handles:
            handle.cancel()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        async for event in self._watcher:
            if event.type is EventType.DELETED:
                continue
            pod = event.obj
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            if pod["metadata"].get("deletionTimestamp"):
                if self.remove_terminating and (ns, name) not in self._removing:
                    self._removing.add((ns, name))
                    self._handles.append(loop.call_later(self.stop_delay_s, self._remove,
                                                         ns, name))
            elif not (pod.get("spec") or {}).get("nodeName"):
                self._bind(ns, name)
                if self.ready_when(pod):
                    self._handles.append(loop.call_later(self.ready_delay_s, self.set_ready,
                                                         ns, name, True))

    def _bind(self, ns: str, name: str) -> None:
        ip = f"127.244.0.{next(self._ips)}"

        def bind(pod: Obj) -> None:
            pod["spec"]["nodeName"] = self.node

        def run(pod: Obj) -> None:
            pod["status"].update(phase="Running", podIP=ip, podIPs=[{"ip": ip}],
                                 hostIP="127.0.0.1")
            pod["status"]["conditions"] = [condition("Ready", False, self.store.clock)]
            pod["status"]["containerStatuses"] = [{"name": "web", "ready": False,
                                                   "restartCount": 0}]

        self.store.mutate("pods", ns, name, bind)
        self.store.mutate("pods", ns, name, run, subresource="status")

    def set_ready(self, ns: str, name: str, ready: bool) -> None:
        """Flip the pod's Ready condition (what the prober would do)."""
        def change(pod: Obj) -> None:
            pod["status"]["conditions"] = [condition("Ready", ready, self.store.clock)]
            for c in pod["status"].get("containerStatuses") or ():
                c["ready"] = ready

        if self.store.find("pods", ns, name) is not None:
            self.store.mutate("pods", ns, name, change, subresource="status")

    def _remove(self, ns: str, name: str) -> None:
        self._removing.discard((ns, name))
        if self.store.find("pods", ns, name) is not None:
            self.store.delete("pods", ns, name)


def condition(kind: str, value: bool, clock: Clock, at: float | None = None) -> Obj:
    return {"type": kind, "status": "True" if value else "False",
            "lastTransitionTime": rfc3339(clock.now() if at is None else at)}


def namespace(name: str = NAMESPACE) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def template(image: str = "probelab/simpleweb:1.0", app: str = "web") -> Obj:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"terminationGracePeriodSeconds": 5, "restartPolicy": "Always",
                     "containers": [{"name": "web", "image": image,
                                     "ports": [{"name": "http", "containerPort": 8080,
                                                "protocol": "TCP"}]}]}}


def deployment(name: str = "web", replicas: int = 10, surge: Any = "25%",
               unavailable: Any = "25%", strategy: str = "RollingUpdate",
               min_ready_s: int = 0, image: str = "probelab/simpleweb:1.0") -> Obj:
    strat: Obj = {"type": strategy}
    if strategy == "RollingUpdate":
        strat["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": template(image), "strategy": strat,
                     "minReadySeconds": min_ready_s, "revisionHistoryLimit": 10,
                     "progressDeadlineSeconds": 600},
            "status": {}}


def replica_set(name: str = "web-rs", replicas: int = 10) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": template(), "minReadySeconds": 0},
            "status": {}}


def service(name: str = "web", target: Any = "http", publish: bool = False) -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"tier": "front"}},
            "spec": {"type": "ClusterIP", "clusterIP": "127.96.0.10", "selector": {"app": "web"},
                     "publishNotReadyAddresses": publish,
                     "ports": [{"name": "http", "port": 80, "targetPort": target,
                                "protocol": "TCP"}]}}


def pods(store: Store, active_only: bool = False) -> list[Obj]:
    found, _ = store.list("pods", NAMESPACE)
    if active_only:
        found = [p for p in found if not p["metadata"].get("deletionTimestamp")]
    return found


def events(store: Store, reason: str) -> list[str]:
    found, _ = store.list("events", NAMESPACE, where=lambda e: e["reason"] == reason)
    found.sort(key=lambda e: int(e["metadata"]["resourceVersion"]))
    return [e["message"] for e in found]


@contextlib.asynccontextmanager
async def controllers(*classes: type, store: Store | None = None,
                      clock: Clock | None = None) -> AsyncIterator[tuple[Store, list[Any]]]:
    """Start the given controllers on one store (with a namespace) and stop them after."""
    clock = clock or SystemClock()
    store = store or Store(clock)
    if store.find("namespaces", None, NAMESPACE) is None:
        store.create("namespaces", namespace())
    ctx = build_context(EngineConfig(), store=store, clock=clock)
    started = []
    try:
        for cls in classes:
            component = cls()
            await component.start(ctx)
            started.append(component)
        yield store, started
    finally:
        for component in reversed(started):
            await component.stop()
            await component.stop()  # safe twice

