"""Deployment controller, pure: fenceposts and percent rounding, the template hash, the rolling
update step sequences (10 replicas at 25%/25%; maxSurge 1 / maxUnavailable 0), the availability
floor when new pods never become ready, Recreate, proportional scaling, revisions and rollback,
history cleanup, conditions, progress deadline and pause — replayed with `plan_deployment` on a
tiny in-memory world where each ReplicaSet instantly has the pods it asks for."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probelab.engine.controllers.deployment import util as du
from probelab.engine.controllers.deployment.rollout import plan_deployment
from probelab.engine.core.clock import rfc3339
from support.controllers import NAMESPACE, deployment

NOW = 1_700_000_000.0


# ---- fenceposts (the IntOrString scaling itself: tests/test_k8s_intstr.py) ---------------
def test_max_unavailable_is_capped_and_zero_outside_rolling_updates() -> None:
    assert du.max_unavailable(deployment(replicas=3, unavailable="200%")) == 3
    assert du.max_unavailable(deployment(replicas=0)) == 0
    recreate = deployment(strategy="Recreate")
    assert du.max_unavailable(recreate) == 0 and du.max_surge(recreate) == 0
    defaulted = deployment(replicas=10)
    del defaulted["spec"]["strategy"]  # not defaulted: read as RollingUpdate 25%/25%
    assert (du.max_surge(defaulted), du.max_unavailable(defaulted)) == (3, 2)


@pytest.mark.parametrize(("replicas", "current", "new", "expected"), [
    (10, 10, 0, 3), (10, 13, 3, 3), (10, 11, 3, 5), (10, 8, 5, 10), (10, 3, 0, 10),
    (3, 3, 0, 1), (1, 1, 0, 1), (1, 2, 1, 1),
])
def test_new_rs_new_replicas(replicas: int, current: int, new: int, expected: int) -> None:
    d = deployment(replicas=replicas)
    new_rs = {"spec": {"replicas": new}}
    old_rs = {"spec": {"replicas": current - new}}
    assert du.new_rs_new_replicas(d, [old_rs, new_rs], new_rs) == expected
    assert du.new_rs_new_replicas(deployment(replicas=replicas, strategy="Recreate"),
                                  [old_rs, new_rs], new_rs) == replicas


@pytest.mark.parametrize(("size", "annotated", "desired", "to_add", "added", "expected"), [
    (8, 13, 20, 12, 0, 7), (5, 13, 20, 12, 7, 5), (8, 13, 4, -8, 0, -5), (4, 0, 10, 3, 0, 0),
    (0, 13, 20, 12, 0, 0), (6, 13, 0, -9, 0, -6), (3, 13, 20, 12, 12, 0),
])
def test_proportion(size: int, annotated: int, desired: int, to_add: int, added: int,
                    expected: int) -> None:
    rs = {"metadata": {"annotations": {du.MAX_REPLICAS: str(annotated)}},
          "spec": {"replicas": size}}
    assert du.proportion(rs, deployment(replicas=desired), to_add, added) == expected


def test_rounding_is_half_away_from_zero() -> None:
    assert [du._round_half_away(x) for x in (0.5, 1.5, 2.5, -0.5, -2.5, 2.4)] == \
        [1, 2, 3, -1, -3, 2]


# ---- template hash -------------------------------------------------------------------------------
def test_template_hash_is_stable_and_tracks_the_template() -> None:
    t = deployment()["spec"]["template"]
    same_reordered = {"spec": t["spec"], "metadata": t["metadata"]}
    h = du.template_hash(t)
    assert h == du.template_hash(same_reordered)
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789") and 1 <= len(h) <= 10
    changed = copy.deepcopy(t)
    changed["spec"]["containers"][0]["image"] = "probelab/simpleweb:2.0"
    assert du.template_hash(changed) != h
    assert du.template_hash(t, 1) != h != du.template_hash(t, 0)
    code = ("from probelab.engine.controllers.deployment.util import template_hash;"
            "import sys, json; print(template_hash(json.loads(sys.argv[1])))")
    import json
    for seed in ("1", "2"):  # another process, another str hash seed: the same hash
        out = subprocess.run([sys.executable, "-c", code, json.dumps(t)], capture_output=True,
                             text=True, check=True, env={**os.environ, "PYTHONHASHSEED": seed})
        assert out.stdout.strip() == h


def test_equal_ignore_hash() -> None:
    t = deployment()["spec"]["template"]
    labeled = copy.deepcopy(t)
    labeled["metadata"]["labels"][du.HASH_LABEL] = "xyz"
    assert du.equal_ignore_hash(t, labeled)
    labeled["spec"]["containers"][0]["image"] = "other"
    assert not du.equal_ignore_hash(t, labeled)


# ---- a tiny world: the ReplicaSet controller and kubelet, instantaneous -------------------------
class World:
    """A Deployment and its ReplicaSets; after each plan every set has `spec.replicas` pods,
    of which `available(rs)` are available."""

    def __init__(self, d: dict, available: Callable[[dict], int] | None = None) -> None:
        self.d = copy.deepcopy(d)
        self.d["metadata"].update(uid="d-uid", generation=1)
        self.sets: dict[str, dict] = {}
        self.pods: list[dict] = []
        self.now = NOW
        self.available = available or (lambda rs: rs["spec"]["replicas"])
        self.events: list[str] = []
        self._created = 0

    def change(self, edit: Callable[[dict], None]) -> None:
        edit(self.d["spec"])
        self.d["metadata"]["generation"] += 1

    def step(self) -> tuple[int, ...]:
        plan = plan_deployment(self.d, list(self.sets.values()), self.pods, self.now)
        if plan.create is not None:
            rs = copy.deepcopy(plan.create)
            self._created += 1
            rs["metadata"].update(uid=f"rs-{self._created}", generation=1,
                                  creationTimestamp=rfc3339(NOW + self._created))
            self.sets[rs["metadata"]["name"]] = rs
        for rs in plan.updates:
            old = self.sets[rs["metadata"]["name"]]
            if rs["spec"] != old["spec"]:
                rs["metadata"]["generation"] = old["metadata"]["generation"] + 1
            self.sets[rs["metadata"]["name"]] = copy.deepcopy(rs)
        for name in plan.deletes:
            del self.sets[name]
        if plan.annotations is not None:
            self.d["metadata"]["annotations"] = plan.annotations
        if plan.status is not None:
            self.d["status"] = plan.status
        self.events += [message for _, message, _ in plan.events]
        # the moment between the controller's writes and the pods catching up
        self.total_now = sum(rs["spec"]["replicas"] for rs in self.sets.values())
        self.available_now = sum(min(rs["spec"]["replicas"], (rs.get("status") or {}).get(
            "availableReplicas", 0)) for rs in self.sets.values())
        for rs in self.sets.values():
            n = rs["spec"]["replicas"]
            avail = min(n, self.available(rs))
            rs["status"] = {"replicas": n, "readyReplicas": avail, "availableReplicas": avail,
                            "observedGeneration": rs["metadata"]["generation"]}
        return self.sizes()

    def sizes(self) -> tuple[int, ...]:
        """spec.replicas of every set, newest first."""
        ordered = sorted(self.sets.values(), key=lambda rs: rs["metadata"]["uid"], reverse=True)
        return tuple(rs["spec"]["replicas"] for rs in ordered)

    def run(self, steps: int = 40) -> list[tuple[int, ...]]:
        """Step until nothing changes; the sizes after each step that changed something."""
        seen: list[tuple[int, ...]] = []
        for _ in range(steps):
            before = copy.deepcopy((self.sets, self.d))
            sizes = self.step()
            if (self.sets, self.d) == before:
                return seen
            if not seen or seen[-1] != sizes:
                seen.append(sizes)
        raise AssertionError(f"no steady state after {steps} steps: {seen}")

    def rs_named(self, prefix_revision: str) -> dict:
        return next(rs for rs in self.sets.values()
                    if rs["metadata"]["annotations"][du.REVISION] == prefix_revision)


def rolled_out(d: dict) -> bool:
    """What `kubectl rollout status` waits for (kubectl DeploymentStatusViewer)."""
    st, want = d["status"], d["spec"]["replicas"]
    return (d["metadata"]["generation"] <= st.get("observedGeneration", 0)
            and st.get("updatedReplicas", 0) >= want and st["replicas"] <= st["updatedReplicas"]
            and st.get("availableReplicas", 0) >= st["updatedReplicas"])


def new_image(spec: dict) -> None:
    spec["template"]["spec"]["containers"][0]["image"] = "probelab/simpleweb:2.0"


def fresh(d: dict, **kw) -> World:
    world = World(d, **kw)
    assert world.run() == [(d["spec"]["replicas"],)]
    return world


def conditions(d: dict) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in d["status"]["conditions"]}


def test_first_rollout_creates_one_set_with_every_replica() -> None:
    world = fresh(deployment(replicas=10))
    (rs,) = world.sets.values()
    h = du.template_hash(deployment()["spec"]["template"])
    assert rs["metadata"]["name"] == f"web-{h}"
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", du.HASH_LABEL: h}
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", du.HASH_LABEL: h}
    assert rs["metadata"]["ownerReferences"][0]["uid"] == "d-uid"
    assert rs["metadata"]["annotations"] == {du.REVISION: "1", du.DESIRED_REPLICAS: "10",
                                             du.MAX_REPLICAS: "13"}
    assert world.d["metadata"]["annotations"][du.REVISION] == "1"
    assert world.events == [f"Scaled up replica set web-{h} to 10"]
    assert conditions(world.d) == {"Progressing": ("True", du.NEW_RS_AVAILABLE),
                                   "Available": ("True", du.MIN_AVAILABLE)}
    assert rolled_out(world.d)


def test_rolling_update_10_replicas_25_percent() -> None:
    world = fresh(deployment(replicas=10))
    world.change(new_image)
    assert world.run() == [(3, 8), (5, 8), (5, 3), (10, 3), (10, 0)]
    new, old = (rs["metadata"]["name"] for rs in sorted(
        world.sets.values(), key=lambda rs: rs["metadata"]["uid"], reverse=True))
    assert world.events[1:] == [
        f"Scaled up replica set {new} to 3", f"Scaled down replica set {old} to 8 from 10",
        f"Scaled up replica set {new} to 5 from 3", f"Scaled down replica set {old} to 3 from 8",
        f"Scaled up replica set {new} to 10 from 5", f"Scaled down replica set {old} to 0 from 3"]
    st = world.d["status"]
    assert (st["replicas"], st["updatedReplicas"], st["availableReplicas"],
            st["unavailableReplicas"], st["observedGeneration"]) == (10, 10, 10, 0, 2)
    assert conditions(world.d)["Progressing"] == ("True", du.NEW_RS_AVAILABLE)
    assert world.d["metadata"]["annotations"][du.REVISION] == "2"
    assert rolled_out(world.d)


def test_rolling_update_max_surge_1_max_unavailable_0() -> None:
    world = fresh(deployment(replicas=10, surge=1, unavailable=0))
    world.change(new_image)
    expected = [(1, 10)]
    for n in range(1, 11):
        expected += [(n, 10 - n)] + ([(n + 1, 10 - n)] if n < 10 else [])
    assert world.run() == expected
    for new, old in expected:  # never more than 11 pods, never fewer than 10 available
        assert new + old <= 11 and new + old >= 10


def test_new_pods_that_never_become_available_stop_the_rollout_at_the_floor() -> None:
    world = fresh(deployment(replicas=10))
    revision_one = world.rs_named("1")["metadata"]["name"]
    world.available = lambda rs: rs["spec"]["replicas"] if rs["metadata"]["name"] == \
        revision_one else 0
    world.change(new_image)
    assert world.run() == [(3, 8), (5, 8)]  # 8 available = 10 − maxUnavailable; 13 = 10 + surge
    assert conditions(world.d)["Available"] == ("True", du.MIN_AVAILABLE)
    assert conditions(world.d)["Progressing"] == ("True", du.RS_UPDATED)
    assert not rolled_out(world.d)
    world.now += 601  # progressDeadlineSeconds
    world.step()
    assert conditions(world.d)["Progressing"] == ("False", du.TIMED_OUT)
    msg = next(c["message"] for c in world.d["status"]["conditions"] if c["type"] == "Progressing")
    assert msg.endswith("has timed out progressing.")


def test_unhealthy_old_pods_are_removed_first() -> None:
    world = fresh(deployment(replicas=10))
    world.available = lambda rs: 6 if rs["metadata"]["annotations"][du.REVISION] == "1" else 0
    world.step()  # old status now: 10 pods, 6 available
    world.change(new_image)
    world.step()
    # surge 3 → new 3; floor 8; 13 − 8 − 3 unavailable new = 2 may go: unhealthy ones first
    assert world.sizes() == (3, 8)


def test_recreate_scales_old_to_zero_and_waits_for_its_pods() -> None:
    world = fresh(deployment(replicas=4, strategy="Recreate"))
    old = world.rs_named("1")
    world.pods = [{"metadata": {"name": f"old-{i}", "ownerReferences": [
        {"uid": old["metadata"]["uid"], "controller": True}], "deletionTimestamp": "x"},
        "status": {"phase": "Running"}} for i in range(2)]
    world.change(new_image)
    assert world.step() == (0,)  # old scaled to 0, no new set yet
    assert world.step() == (0,)  # its pods are still terminating
    world.pods[0]["status"]["phase"] = "Succeeded"
    world.pods = world.pods[:1]  # one gone, one finished
    assert world.step() == (4, 0)  # now the new set, at full size
    assert world.events[-1].endswith("to 4") and "Scaled up" in world.events[-1]
    world.run()
    assert rolled_out(world.d)


def test_scaling_mid_rollout_is_proportional() -> None:
    world = fresh(deployment(replicas=10))
    world.available = lambda rs: 0 if rs["metadata"]["annotations"][du.REVISION] == "2" else 99
    world.change(new_image)
    world.run()
    assert world.sizes() == (5, 8)
    world.change(lambda spec: spec.update(replicas=20))
    world.step()
    assert world.sizes() == (10, 15)  # 25 = 20 + 5 surge, shared 13:25 as 5:8 was
    assert any(m.endswith("to 15 from 8") for m in world.events)


def test_rollback_reuses_the_old_set_with_a_new_revision_and_history() -> None:
    world = fresh(deployment(replicas=2))
    first = world.rs_named("1")["metadata"]["name"]
    world.change(new_image)
    world.run()
    world.change(lambda spec: spec["template"]["spec"]["containers"][0].update(
        image="probelab/simpleweb:1.0"))
    world.run()
    back = world.sets[first]
    assert back["metadata"]["annotations"][du.REVISION] == "3"
    assert back["metadata"]["annotations"][du.REVISION_HISTORY] == "1"
    assert back["spec"]["replicas"] == 2 and len(world.sets) == 2
    assert world.d["metadata"]["annotations"][du.REVISION] == "3"


def test_old_sets_beyond_the_history_limit_are_deleted() -> None:
    d = deployment(replicas=1)
    d["spec"]["revisionHistoryLimit"] = 1
    d["metadata"]["annotations"] = {"team": "blue", du.LAST_APPLIED: "{}"}
    world = fresh(d)
    for tag in ("2.0", "3.0"):
        world.change(lambda spec, tag=tag: spec["template"]["spec"]["containers"][0].update(
            image=f"probelab/simpleweb:{tag}"))
        world.run()
    assert sorted(rs["metadata"]["annotations"][du.REVISION] for rs in world.sets.values()) == \
        ["2", "3"]
    newest = world.rs_named("3")["metadata"]["annotations"]
    assert newest["team"] == "blue" and du.LAST_APPLIED not in newest


def test_paused_deployments_do_not_roll_out() -> None:
    world = fresh(deployment(replicas=3))
    world.change(lambda spec: spec.update(paused=True))
    world.change(new_image)
    world.run()
    assert len(world.sets) == 1
    assert conditions(world.d)["Progressing"] == ("Unknown", du.PAUSED)
    world.change(lambda spec: spec.update(paused=False))
    world.run()
    assert len(world.sets) == 2 and world.sizes() == (3, 0)
    assert rolled_out(world.d)


def test_status_and_conditions_arithmetic() -> None:
    d = deployment(replicas=4)
    d["metadata"]["generation"] = 3
    old = {"spec": {"replicas": 2}, "status": {"replicas": 3, "readyReplicas": 3,
                                               "availableReplicas": 2}}
    new = {"spec": {"replicas": 3}, "status": {"replicas": 2, "readyReplicas": 1,
                                               "availableReplicas": 1}}
    st = du.calculate_status([old, new], new, d, NOW)
    assert {k: v for k, v in st.items() if k != "conditions"} == {
        "observedGeneration": 3, "replicas": 5, "updatedReplicas": 2, "readyReplicas": 4,
        "availableReplicas": 3, "unavailableReplicas": 2}
    assert st["conditions"][0]["reason"] == du.MIN_AVAILABLE  # 3 ≥ 4 − 1
    assert not du.deployment_complete(d, st)
    d["status"] = {"updatedReplicas": 1, "replicas": 5}
    assert du.deployment_progressing(d, st)
    d["status"] = dict(st)
    assert not du.deployment_progressing(d, st)


def test_set_condition_keeps_transition_time_when_only_the_reason_changes() -> None:
    st: dict = {}
    du.set_condition(st, du.new_condition("Progressing", "True", "A", "a", NOW))
    du.set_condition(st, du.new_condition("Progressing", "True", "A", "again", NOW + 5))
    assert st["conditions"][0]["message"] == "a"
    du.set_condition(st, du.new_condition("Progressing", "True", "B", "b", NOW + 9))
    assert st["conditions"][0]["lastTransitionTime"] == rfc3339(NOW)
    assert st["conditions"][0]["lastUpdateTime"] == rfc3339(NOW + 9)
    du.set_condition(st, du.new_condition("Progressing", "False", "C", "c", NOW + 10))
    assert st["conditions"][0]["lastTransitionTime"] == rfc3339(NOW + 10)


def test_empty_selector_only_observes_and_warns() -> None:
    d = deployment()
    d["spec"]["selector"] = {}
    d["metadata"]["generation"] = 2
    plan = plan_deployment(d, [], [], NOW)
    assert plan.create is None and plan.status == {"observedGeneration": 2}
    assert plan.events[0][0] == "SelectingAll"


def test_namespace_of_new_sets() -> None:
    world = fresh(deployment(replicas=1))
    assert next(iter(world.sets.values()))["metadata"]["namespace"] == NAMESPACE


def test_a_deployment_without_defaults_is_read_as_defaulted() -> None:
    bare = {"metadata": {"name": "web", "namespace": NAMESPACE},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": deployment()["spec"]["template"]}}
    world = World(bare)
    assert world.run() == [(1,)]  # replicas 1, RollingUpdate 25%/25%, deadline 600 s
    (rs,) = world.sets.values()
    assert rs["spec"]["minReadySeconds"] == 0
    assert rs["metadata"]["annotations"][du.MAX_REPLICAS] == "2"
    assert conditions(world.d)["Progressing"] == ("True", du.NEW_RS_AVAILABLE)


FENCEPOST = st.one_of(st.integers(0, 4), st.sampled_from(["0%", "10%", "25%", "50%", "100%"]))


@settings(max_examples=100, deadline=None)
@given(replicas=st.integers(1, 15), surge=FENCEPOST, unavailable=FENCEPOST,
       new_pods_work=st.booleans())
def test_rolling_update_invariants(replicas: int, surge, unavailable, new_pods_work: bool) -> None:
    """Whatever the fenceposts: never more than replicas + maxSurge pods wanted, never fewer than
    replicas − maxUnavailable available, and the rollout completes when new pods work."""
    if surge in (0, "0%") and unavailable in (0, "0%"):
        unavailable = 1  # validation rejects both zero as given
    world = fresh(deployment(replicas=replicas, surge=surge, unavailable=unavailable))
    max_total = replicas + du.max_surge(world.d)
    floor = replicas - du.max_unavailable(world.d)
    if not new_pods_work:
        world.available = lambda rs: rs["spec"]["replicas"] if \
            rs["metadata"]["annotations"][du.REVISION] == "1" else 0
    world.change(new_image)
    for _ in range(4 * replicas + 10):
        world.step()
        assert world.total_now <= max_total
        assert world.available_now >= floor
    assert rolled_out(world.d) is new_pods_work
    if new_pods_work:
        assert world.sizes() == (replicas, 0)
