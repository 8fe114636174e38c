"""The soak's flake (docs/bench.md, Soak): one withprobes rolling update saw the Service's
EndpointSlices sum to 0 ready endpoints while pods were ready. These tables check the
hypotheses on the engine's side that can be put as pure functions: the controller's slice plan
for every step of a maxSurge 1 / maxUnavailable 0 rollout of 10 pods updates the one slice in
place (never delete + create, which a proxy applying the delete first would see as empty), and
the proxy's view of those slices (`endpoints_for_port`, `usable_endpoints`, including the
serving-terminating fallback of `pkg/proxy/topology.go`) is never empty while the controller's
pod view has a ready or serving-terminating pod; a pod moving between two slices of one
Service is never lost whichever slice the proxy sees change first."""

from __future__ import annotations

import copy
import random

import pytest

from probelab.engine.controllers.endpoints import plan_slices
from probelab.engine.proxy.rules import endpoints_for_port, usable_endpoints
from probelab.engine.proxy.syncrunner import SyncTiming, simulate
from test_controllers_endpoints import pod, svc


def rollout_steps(replicas: int = 10) -> list[list[dict]]:
    """Pod views of a rolling update, one old pod replaced at a time: a surge pod appears
    unready, turns ready, then one old pod turns terminating (still serving, as in its preStop
    drain), stops serving, and goes."""
    old = [pod(f"old-{i:02d}", f"127.244.0.{i + 1}") for i in range(replicas)]
    new: list[dict] = []
    steps = [list(old)]
    for i in range(replicas):
        surge_unready = pod(f"new-{i:02d}", f"127.244.1.{i + 1}", ready=False)
        steps.append(old + new + [surge_unready])
        new = [*new, pod(f"new-{i:02d}", f"127.244.1.{i + 1}")]
        steps.append(old + new)
        draining = pod(old[0]["metadata"]["name"], old[0]["status"]["podIP"], terminating=True)
        steps.append(old[1:] + new + [draining])
        stopped = pod(old[0]["metadata"]["name"], old[0]["status"]["podIP"],
                      terminating=True, ready=False)
        steps.append(old[1:] + new + [stopped])
        old = old[1:]
        steps.append(old + new)
    return steps


def apply(existing: list[dict], plan) -> list[dict]:
    """The slices after the plan's writes (names given to creates as the API server would)."""
    out = {s["metadata"]["name"]: s for s in existing}
    for s in plan.update:
        out[s["metadata"]["name"]] = s
    for n, s in enumerate(plan.create):
        s = copy.deepcopy(s)
        s["metadata"]["name"] = s["metadata"]["generateName"] + f"x{len(out)}{n}"
        out[s["metadata"]["name"]] = s
    for name in plan.delete:
        out.pop(name)
    return list(out.values())


def test_a_rollout_updates_one_slice_in_place_and_the_proxy_view_is_never_empty():
    service = svc()
    slices: list[dict] = []
    names: set[str] = set()
    for step, pods in enumerate(rollout_steps()):
        plan = plan_slices(service, slices, pods)
        if step:
            assert not plan.create and not plan.delete, f"step {step}: {plan}"
        slices = apply(slices, plan)
        names |= {s["metadata"]["name"] for s in slices}
        usable = usable_endpoints(endpoints_for_port(slices, "http", single=True))
        assert usable, f"step {step}: the proxy would reject with pods {pods}"
        ready = {p["metadata"]["name"] for p in pods
                 if not p["metadata"].get("deletionTimestamp")
                 and p["status"]["conditions"][0]["status"] == "True"}
        if ready:
            assert {e.pod for e in usable} == ready
    assert len(names) == 1


@pytest.mark.parametrize("first", ["old slice updated", "new slice created"])
def test_a_pod_moving_between_two_slices_is_never_lost(first):
    """Two slices of one Service (pods of different ports): whichever write the proxy sees
    first, the endpoints of the unchanged pods stay usable."""
    service = svc()
    a = [pod("a-1", "127.244.0.1"), pod("a-2", "127.244.0.2")]
    b = [pod("b-1", "127.244.0.3", port=9090)]
    slices = apply([], plan_slices(service, [], a + b))
    assert len(slices) == 2
    moved = pod("a-2", "127.244.0.2", port=9090)
    after = apply(slices, plan_slices(service, slices, [a[0], moved, b[0]]))
    before_names = {s["metadata"]["name"]: s for s in slices}
    for s in after:
        view = dict(before_names)
        view[s["metadata"]["name"]] = s
        if (first == "old slice updated") == (s["ports"][0]["port"] == 8080):
            usable = usable_endpoints(endpoints_for_port(view.values(), "http", single=True))
            assert {"a-1", "b-1"} <= {e.pod for e in usable}


def test_no_ready_endpoint_falls_back_to_serving_terminating_ones():
    service = svc()
    pods = [pod("old-1", "127.244.0.1", terminating=True),
            pod("old-2", "127.244.0.2", terminating=True, ready=False),
            pod("new-1", "127.244.0.3", ready=False)]
    slices = apply([], plan_slices(service, [], pods))
    usable = usable_endpoints(endpoints_for_port(slices, "http", single=True))
    assert [e.pod for e in usable] == ["old-1"]


@pytest.mark.parametrize("min_period_s,latency_s", [(1.0, 1.0), (1.0, 0.1), (0.0, 0.0),
                                                    (0.5, 2.0)])
def test_the_sync_runner_applies_every_change_once_in_order(min_period_s, latency_s):
    """A burst of slice changes (a rollout's) through kube-proxy's sync runner: none dropped,
    none applied twice, the order kept, so the proxy's last sync holds the controller's last
    view."""
    rng = random.Random(17)
    seen = sorted((round(rng.uniform(0, 5), 3), n) for n in range(200))
    syncs = simulate(SyncTiming(min_period_s=min_period_s), latency_s, seen)
    applied = [item for _, items in syncs for item in items]
    assert applied == [n for _, n in seen]
    assert all(at >= seen_s + latency_s - 1e-9 for at, items in syncs for item in items
               for seen_s, n in seen if n == item)
