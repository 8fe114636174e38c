"""Deployment + ReplicaSet controllers together on a real store, with a fake kubelet that makes
pods ready a little later and removes terminating ones a little later: rolling updates stay
within maxSurge / maxUnavailable at every change the store publishes (the max and min seen are
recorded), converge with updatedReplicas == replicas, and Recreate never overlaps old and new
pods."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from probelab.engine.controllers.deployment.controller import DeploymentController
from probelab.engine.controllers.replicaset import ReplicaSetController
from probelab.engine.core.store import EventType, Store
from support.controllers import NAMESPACE, controllers, deployment, events, pods, replica_set
from support.fake_kubelet import FakeKubelet
from support.loops import run
from support.waiting import until


@dataclass
class Census:
    """Pod counts after every pod change the store published."""

    max_active: int = 0
    min_available: int = 10**9
    overlap: bool = False  # pods of two ReplicaSets existed at once
    pods: dict[str, dict] = field(default_factory=dict)

    def reset(self) -> None:
        """Forget the extremes seen while the watch replayed the pods one by one."""
        self.max_active, self.min_available = 0, 10**9
        self.see(None)

    def see(self, event) -> None:
        if event is None:
            pass
        elif event.type is EventType.DELETED:
            self.pods.pop(event.obj["metadata"]["name"], None)
        else:
            self.pods[event.obj["metadata"]["name"]] = event.obj
        active = [p for p in self.pods.values() if not p["metadata"].get("deletionTimestamp")]
        ready = [p for p in active if any(c["type"] == "Ready" and c["status"] == "True"
                                          for c in p["status"].get("conditions") or ())]
        self.max_active = max(self.max_active, len(active))
        self.min_available = min(self.min_available, len(ready))
        hashes = {p["metadata"]["labels"].get("pod-template-hash") for p in self.pods.values()}
        self.overlap = self.overlap or len(hashes) > 1


@contextlib.asynccontextmanager
async def census(store: Store):
    watcher = store.watch("pods")
    seen = Census()

    async def follow() -> None:
        async for event in watcher:
            seen.see(event)

    task = asyncio.get_running_loop().create_task(follow())
    try:
        await until(lambda: len(seen.pods) == len(pods(store)), what="census caught up")
        seen.reset()
        yield seen
    finally:
        watcher.close()
        await task


def done(store: Store, replicas: int) -> bool:
    d = store.get("deployments", NAMESPACE, "web")
    st = d["status"]
    return (st.get("observedGeneration") == d["metadata"]["generation"]
            and st.get("updatedReplicas") == st.get("replicas") == replicas
            and st.get("availableReplicas") == replicas and len(pods(store)) == replicas)


def set_image(store: Store, image: str = "probelab/simpleweb:2.0") -> None:
    store.mutate("deployments", NAMESPACE, "web", lambda d: d["spec"]["template"]["spec"]
                 ["containers"][0].update(image=image))


async def rollout(surge, unavailable, replicas: int = 10) -> tuple[Census, Store]:
    async with controllers(DeploymentController, ReplicaSetController) as (store, _), \
            FakeKubelet(store, ready_delay_s=0.01, stop_delay_s=0.02):
        store.create("deployments", deployment(replicas=replicas, surge=surge,
                                               unavailable=unavailable))
        await until(lambda: done(store, replicas), what="first rollout")
        async with census(store) as seen:
            set_image(store)
            await until(lambda: done(store, replicas) and all(
                p["spec"]["containers"][0]["image"].endswith(":2.0") for p in pods(store)),
                what="second rollout")
        return seen, store


def test_rolling_update_25_percent_stays_within_surge_and_availability() -> None:
    async def scenario() -> None:
        seen, store = await rollout("25%", "25%")
        assert seen.max_active <= 13  # replicas + maxSurge (25% of 10 rounded up)
        assert seen.min_available == 8  # replicas − maxUnavailable (rounded down), reached
        d = store.get("deployments", NAMESPACE, "web")
        assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
        conds = {c["type"]: c["reason"] for c in d["status"]["conditions"]}
        assert conds == {"Available": "MinimumReplicasAvailable",
                         "Progressing": "NewReplicaSetAvailable"}
        sets, _ = store.list("replicasets", NAMESPACE)
        assert sorted(rs["spec"]["replicas"] for rs in sets) == [0, 10]
        scaling = events(store, "ScalingReplicaSet")
        assert scaling[0].startswith("Scaled up replica set web-") and scaling[0].endswith(
            " to 10")
        assert any(m.startswith("Scaled down replica set") and m.endswith("to 0 from 3")
                   for m in scaling)

    run(scenario())


def test_rolling_update_surge_1_unavailable_0_never_drops_a_ready_pod() -> None:
    async def scenario() -> None:
        seen, _ = await rollout(1, 0)
        assert seen.max_active == 11
        assert seen.min_available == 10

    run(scenario())


def test_recreate_never_runs_old_and_new_pods_together() -> None:
    async def scenario() -> None:
        async with controllers(DeploymentController, ReplicaSetController) as (store, _), \
                FakeKubelet(store, ready_delay_s=0.01, stop_delay_s=0.05):
            store.create("deployments", deployment(replicas=3, strategy="Recreate"))
            await until(lambda: done(store, 3), what="first rollout")
            async with census(store) as seen:
                set_image(store)
                await until(lambda: done(store, 3) and all(
                    p["spec"]["containers"][0]["image"].endswith(":2.0") for p in pods(store)),
                    what="recreated")
            assert not seen.overlap
            assert seen.min_available == 0  # Recreate's downtime

    run(scenario())


def test_scale_down_of_a_deployment_goes_through_its_replica_set() -> None:
    async def scenario() -> None:
        async with controllers(DeploymentController, ReplicaSetController) as (store, _), \
                FakeKubelet(store, stop_delay_s=0.02):
            store.create("deployments", deployment(replicas=10))
            await until(lambda: done(store, 10), what="10 replicas")
            store.mutate("deployments", NAMESPACE, "web", lambda d: d["spec"].update(replicas=3))
            await until(lambda: done(store, 3), what="3 replicas")
            assert len(events(store, "SuccessfulDelete")) == 7
            assert events(store, "ScalingReplicaSet")[-1].endswith("to 3 from 10")

    run(scenario())


def test_min_ready_seconds_makes_a_pod_available_later_without_another_event() -> None:
    async def scenario() -> None:
        async with controllers(ReplicaSetController) as (store, _), FakeKubelet(store):
            rs = replica_set(replicas=1)
            rs["spec"]["minReadySeconds"] = 1
            store.create("replicasets", rs)
            await until(lambda: store.get("replicasets", NAMESPACE, "web-rs")["status"]
                        .get("readyReplicas") == 1, what="ready")
            await until(lambda: store.get("replicasets", NAMESPACE, "web-rs")["status"]
                        .get("availableReplicas") == 1, timeout_s=5, what="available")

    run(scenario())
