"""Controllers on a real store in the test's event loop, and the objects they act on: one
namespace (`NAMESPACE`) with a web Deployment, ReplicaSet and Service whose shapes match.

Running real controllers in the test's loop (with `support.fake_kubelet` as the node) lets a
test watch them converge through the store, the way they run in the engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from probelab.engine.core.clock import Clock, SystemClock, rfc3339
from probelab.engine.core.context import EngineConfig
from probelab.engine.core.store import Store
from probelab.engine.engine import build_context

Obj = dict[str, Any]
NAMESPACE = "demo"


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

