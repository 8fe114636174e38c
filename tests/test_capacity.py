"""The node's pod cap (`--max-pods`) and stopping that starts nothing new.

With the whole engine in this process (API server, controllers, kubelet, proxy) and a cheap
container (`sleep`): a Deployment of 300 replicas against `max_pods=50` runs 50 pods, the other
250 wait Pending with PodScheduled=False (Unschedulable) and FailedScheduling Events; when
running pods go, waiting ones take their place; a stop signal starts no container after it.
Then the pure rules of `kubelet.capacity`.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from probelab.engine.core.clock import parse_rfc3339
from probelab.engine.core.context import EngineConfig
from probelab.engine.engine import Engine, Outcome
from probelab.engine.kubelet import capacity
from probelab.engine.proxy.component import ServiceProxy
from support.loops import run
from support.waiting import until

SLEEPER = (("sleeper", "sleep 3600"),)


def deployment(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": "sleeper:1"}]}}},
    }


def pods(engine: Engine) -> list[dict]:
    return engine.store.list("pods", "default")[0]


def scheduled(pod: dict) -> str | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond["type"] == "PodScheduled":
            return cond["status"]
    return None


def events(engine: Engine, reason: str) -> list[dict]:
    return [e for e in engine.store.list("events", "default")[0] if e["reason"] == reason]


def test_extra_pods_wait_pending_until_running_ones_go(tmp_path) -> None:
    async def main() -> None:
        engine = Engine(EngineConfig(images=SLEEPER, max_pods=50, state_dir=tmp_path / "s"))
        await engine.start()
        try:
            kubelet = engine.component("kubelet")
            engine.ctx.client.create("deployments", deployment("many", 300))
            await until(lambda: len(pods(engine)) == 300, timeout_s=60, what="300 pods")

            def split() -> tuple[int, int] | None:
                bound = [p for p in pods(engine) if p["spec"].get("nodeName")]
                waiting = [p for p in pods(engine) if scheduled(p) == "False"]
                counts = (len(bound), len(waiting))
                return counts if counts == (50, 250) else None

            await until(split, timeout_s=60, what="50 bound and 250 unschedulable pods")
            await until(lambda: len(kubelet.all_pids()) == 50, timeout_s=60,
                        what="50 containers")
            assert kubelet.pending() == 250
            waiting = next(p for p in pods(engine) if scheduled(p) == "False")
            cond = next(c for c in waiting["status"]["conditions"]
                        if c["type"] == "PodScheduled")
            assert cond["reason"] == "Unschedulable"
            assert cond["message"] == "0/1 nodes are available: 1 Too many pods."
            assert waiting["status"]["phase"] == "Pending"
            failed = events(engine, "FailedScheduling")
            assert failed and all(e["type"] == "Warning" for e in failed)
            assert failed[0]["message"] == "0/1 nodes are available: 1 Too many pods."
            assert failed[0]["source"]["component"] == "default-scheduler"

            # Ten running pods go: ten waiting ones take their place, never more than 50.
            victims = [p for p in pods(engine) if p["spec"].get("nodeName")][:10]
            for victim in victims:
                engine.ctx.client.delete("pods", "default", victim["metadata"]["name"],
                                         grace_s=0)
            gone = {v["metadata"]["uid"] for v in victims}

            def refilled() -> bool:
                bound = {p["metadata"]["uid"] for p in pods(engine) if p["spec"].get("nodeName")}
                return len(bound) == 50 and not bound & gone

            await until(refilled, timeout_s=60, what="waiting pods admitted in their place")
            assert len(kubelet.all_pids()) <= 50
        finally:
            await engine.stop()

    run(main(), timeout_s=240)


def test_no_container_starts_after_the_stop_signal(tmp_path, monkeypatch) -> None:
    """Steps: a Deployment of 60 pods is created -> SIGINT to this process (the engine's
    handler) at once -> the graceful stop runs, and the component stopped before the kubelet
    (the proxy) takes a while: until all 60 pod objects exist, as the controllers still
    create them -> no container was started after the signal, no process is left."""
    engine = Engine(EngineConfig(images=SLEEPER, state_dir=tmp_path / "s"))
    proxy_stop = ServiceProxy.stop

    async def slow_proxy_stop(self: ServiceProxy) -> None:
        await until(lambda: len(pods(engine)) == 60, timeout_s=30, what="60 pod objects")
        await proxy_stop(self)

    monkeypatch.setattr(ServiceProxy, "stop", slow_proxy_stop)
    signalled: list[float] = []

    def ready() -> None:
        engine.ctx.client.create("deployments", deployment("stop", 60))
        signalled.append(time.time())
        os.kill(os.getpid(), signal.SIGINT)

    async def main() -> None:
        assert await engine.run_forever(ready) is Outcome.GRACEFUL

    run(main(), timeout_s=240)
    assert len(pods(engine)) == 60
    late = [e for e in events(engine, "Started")
            if parse_rfc3339(e["eventTime"]) >= signalled[0]]
    assert late == [], f"{len(late)} containers started after the stop signal"
    assert not engine.component("kubelet").all_pids()


# ---- the pure rules ---------------------------------------------------------------------------

@pytest.mark.parametrize(("on_node", "max_pods", "expected"), [
    (0, 110, True),
    (109, 110, True),
    (110, 110, False),  # full: the 111th waits
    (300, 50, False),
    (0, 1, True),
    (1, 1, False),
])
def test_fits(on_node, max_pods, expected) -> None:
    assert capacity.fits(on_node, max_pods) is expected


def test_unschedulable_status_keeps_the_time_unless_the_condition_flips() -> None:
    first = capacity.unschedulable_status({"phase": "Pending", "qosClass": "BestEffort"},
                                          capacity.TOO_MANY_PODS, 1000.0)
    assert first["phase"] == "Pending" and first["qosClass"] == "BestEffort"
    [cond] = first["conditions"]
    assert cond == {"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                    "lastTransitionTime": "1970-01-01T00:16:40Z", "reason": "Unschedulable",
                    "message": "0/1 nodes are available: 1 Too many pods."}
    again = capacity.unschedulable_status(first, capacity.TOO_MANY_PODS, 2000.0)
    assert again["conditions"][0]["lastTransitionTime"] == "1970-01-01T00:16:40Z"
    other = {"type": "Custom", "status": "True"}
    was_true = {"conditions": [{"type": "PodScheduled", "status": "True",
                                "lastTransitionTime": "x"}, other]}
    flipped = capacity.unschedulable_status(was_true, capacity.TOO_MANY_PODS, 2000.0)
    assert flipped["conditions"][0]["lastTransitionTime"] == "1970-01-01T00:33:20Z"
    assert flipped["conditions"][1] == other
