"""StatefulSet controller rules (`controllers.statefulset.plan`), as tables: OrderedReady
creation one ordinal at a time, scale-down from the highest ordinal, RollingUpdate from the
highest ordinal down to the partition, OnDelete, Parallel, maxUnavailable, and the status that
`kubectl rollout status` reads; plus the pods and revisions it stamps."""

from __future__ import annotations

import pytest

from probelab.engine.controllers.statefulset.plan import plan_stateful_set, stateful_set_status
from probelab.engine.controllers.statefulset.revisions import (
    POD_INDEX_LABEL,
    POD_NAME_LABEL,
    REVISION_LABEL,
    new_pod,
    new_revision,
    revision_name,
    template_of,
)
from probelab.engine.core.clock import rfc3339

NOW = 1_700_000_000.0
OLD, NEW = "web-old", "web-new"


def sts(replicas: int = 3, *, policy: str = "OrderedReady", strategy: str = "RollingUpdate",
        partition: int = 0, max_unavailable: object = None, min_ready: int = 0,
        deleting: bool = False) -> dict:
    update: dict = {"type": strategy}
    if strategy == "RollingUpdate":
        update["rollingUpdate"] = {"partition": partition}
        if max_unavailable is not None:
            update["rollingUpdate"]["maxUnavailable"] = max_unavailable
    m = {"name": "web", "namespace": "demo", "uid": "sts-uid", "generation": 2}
    if deleting:
        m["deletionTimestamp"] = rfc3339(NOW)
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": m,
            "spec": {"replicas": replicas, "podManagementPolicy": policy,
                     "updateStrategy": update, "serviceName": "web", "minReadySeconds": min_ready,
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}}},
            "status": {}}


def pod(ordinal: int, state: str = "ready", revision: str = NEW,
        ready_age_s: float = 100.0) -> dict:
    """`state`: ready, running (not ready), pending, terminating, succeeded, failed."""
    m = {"name": f"web-{ordinal}", "namespace": "demo", "uid": f"u{ordinal}",
         "labels": {"app": "web", REVISION_LABEL: revision}}
    phase = {"pending": "Pending", "succeeded": "Succeeded", "failed": "Failed"}.get(
        state, "Running")
    if state == "terminating":
        m["deletionTimestamp"] = rfc3339(NOW + 30)
    ready = state in ("ready", "terminating")
    return {"metadata": m, "spec": {},
            "status": {"phase": phase, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False",
                 "lastTransitionTime": rfc3339(NOW - ready_age_s)}]}}


def names(ordinals: list[int]) -> list[str]:
    return [f"web-{o}" for o in ordinals]


PLANS = [
    # (why, set, pods, expected creates [(ordinal, revision)], expected deletes)
    ("empty OrderedReady set: only ordinal 0", sts(3), [], [(0, NEW)], []),
    ("0 ready: create 1", sts(3), [pod(0)], [(1, NEW)], []),
    ("0 running but not ready: wait", sts(3), [pod(0, "running")], [], []),
    ("0 pending: wait", sts(3), [pod(0, "pending")], [], []),
    ("0 terminating: wait", sts(3), [pod(0, "terminating")], [], []),
    ("a gap is filled first (lowest missing ordinal)", sts(3), [pod(0), pod(2)], [(1, NEW)],
     []),
    ("failed pod is deleted (recreated on a later sync), nothing else",
     sts(3), [pod(0, "failed"), pod(1)], [], ["web-0"]),
    ("succeeded pod is deleted too", sts(2), [pod(0), pod(1, "succeeded")], [], ["web-1"]),
    ("minReadySeconds not yet passed: wait", sts(3, min_ready=300), [pod(0)], [], []),
    ("minReadySeconds passed: go on", sts(3, min_ready=30), [pod(0)], [(1, NEW)], []),
    ("Parallel: every missing ordinal at once", sts(3, policy="Parallel"), [],
     [(0, NEW), (1, NEW), (2, NEW)], []),
    ("Parallel: does not wait for an unready pod", sts(3, policy="Parallel"),
     [pod(0, "running")], [(1, NEW), (2, NEW)], []),
    # scale-down
    ("scale 5 -> 2: highest ordinal first, one per sync", sts(2),
     [pod(i) for i in range(5)], [], ["web-4"]),
    ("scale-down waits for the terminating one", sts(2),
     [pod(0), pod(1), pod(2), pod(3), pod(4, "terminating")], [], []),
    ("scale-down goes on once it is gone", sts(2), [pod(i) for i in range(4)], [], ["web-3"]),
    ("scale-down blocked by an unready replica", sts(2),
     [pod(0), pod(1, "running"), pod(2)], [], []),
    ("an unready condemned pod that is the first unhealthy goes", sts(2),
     [pod(0), pod(1), pod(2, "running")], [], ["web-2"]),
    ("a healthy higher condemned pod goes before an unready lower one", sts(1),
     [pod(0), pod(1, "running"), pod(2)], [], ["web-2"]),
    ("Parallel scale-down: every condemned pod at once", sts(1, policy="Parallel"),
     [pod(0), pod(1), pod(2, "running")], [], ["web-2", "web-1"]),
    ("scale to 0: highest first", sts(0), [pod(0), pod(1)], [], ["web-1"]),
    # rolling update
    ("update: the highest old pod goes first", sts(3),
     [pod(0, revision=OLD), pod(1, revision=OLD), pod(2, revision=OLD)], [], ["web-2"]),
    ("update: recreated pod comes back at the new revision", sts(3),
     [pod(0, revision=OLD), pod(1, revision=OLD)], [(2, NEW)], []),
    ("update: waits for the new pod to be ready", sts(3),
     [pod(0, revision=OLD), pod(1, revision=OLD), pod(2, "running")], [], []),
    ("update: next one down once ready", sts(3),
     [pod(0, revision=OLD), pod(1, revision=OLD), pod(2)], [], ["web-1"]),
    ("update: partition 2 keeps 0 and 1 old", sts(3, partition=2),
     [pod(0, revision=OLD), pod(1, revision=OLD), pod(2)], [], []),
    ("update: partition 1 takes 2 then stops above 0", sts(3, partition=1),
     [pod(0, revision=OLD), pod(1, revision=OLD), pod(2)], [], ["web-1"]),
    ("partition: a lost pod below it comes back at the current revision", sts(3, partition=2),
     [pod(1, revision=OLD), pod(2)], [(0, OLD)], []),
    ("OnDelete: old pods stay", sts(3, strategy="OnDelete"),
     [pod(0, revision=OLD), pod(1, revision=OLD), pod(2, revision=OLD)], [], []),
    ("OnDelete: a deleted pod comes back at the new revision", sts(3, strategy="OnDelete"),
     [pod(0, revision=OLD), pod(1, revision=OLD)], [(2, NEW)], []),
    ("maxUnavailable 2: two old pods at once, highest first", sts(4, max_unavailable=2),
     [pod(i, revision=OLD) for i in range(4)], [], ["web-3", "web-2"]),
    ("maxUnavailable 2 with one unavailable: one more", sts(4, max_unavailable=2,
                                                           policy="Parallel"),
     [pod(0, revision=OLD), pod(1, revision=OLD), pod(2, revision=OLD), pod(3, "running")],
     [], ["web-2"]),
    ("set being deleted: nothing", sts(3, deleting=True), [], [], []),
]


@pytest.mark.parametrize(("why", "sset", "pods", "creates", "deletes"), PLANS,
                         ids=[p[0] for p in PLANS])
def test_plan(why: str, sset: dict, pods: list, creates: list, deletes: list) -> None:
    current = OLD if any(p["metadata"]["labels"][REVISION_LABEL] == OLD for p in pods) else NEW
    plan = plan_stateful_set(sset, pods, current, NEW, NOW)
    assert plan.create == creates
    assert plan.delete == deletes


def test_scale_down_deletes_in_decreasing_ordinal_order() -> None:
    """Run the plan to a fixed point: 5 -> 1 removes 4, 3, 2, 1 in that order."""
    pods = {i: pod(i) for i in range(5)}
    order = []
    for _ in range(10):
        plan = plan_stateful_set(sts(1), list(pods.values()), NEW, NEW, NOW)
        assert len(plan.delete) <= 1 and not plan.create
        if not plan.delete:
            break
        order.append(plan.delete[0])
        del pods[int(plan.delete[0].rsplit("-", 1)[1])]
    assert order == names([4, 3, 2, 1])


def test_rolling_update_runs_from_highest_ordinal_to_partition() -> None:
    pods = {i: pod(i, revision=OLD) for i in range(4)}
    deleted = []
    for _ in range(20):
        plan = plan_stateful_set(sts(4, partition=1), list(pods.values()), OLD, NEW, NOW)
        for ordinal, revision in plan.create:
            pods[ordinal] = pod(ordinal, revision=revision)
        for name in plan.delete:
            deleted.append(name)
            del pods[int(name.rsplit("-", 1)[1])]
        if not plan.create and not plan.delete:
            break
    assert deleted == names([3, 2, 1])
    assert [pods[i]["metadata"]["labels"][REVISION_LABEL] for i in range(4)] == [
        OLD, NEW, NEW, NEW]


STATUS = [
    ("all ready at the update revision completes the update", [pod(0), pod(1)], 2,
     dict(replicas=2, readyReplicas=2, currentReplicas=2, updatedReplicas=2,
          currentRevision=NEW)),
    ("mid-update: current stays old", [pod(0, revision=OLD), pod(1, "running")], 2,
     dict(replicas=2, readyReplicas=1, currentReplicas=1, updatedReplicas=1,
          currentRevision=OLD)),
    ("a terminating pod is counted, not as current or updated",
     [pod(0, revision=OLD), pod(1, "terminating", revision=OLD)], 1,
     dict(replicas=2, readyReplicas=2, currentReplicas=1, updatedReplicas=0,
          currentRevision=OLD)),
]


@pytest.mark.parametrize(("why", "pods", "replicas", "expected"), STATUS,
                         ids=[s[0] for s in STATUS])
def test_status(why: str, pods: list, replicas: int, expected: dict) -> None:
    st = stateful_set_status(sts(replicas), pods, OLD, NEW, NOW)
    assert {k: st[k] for k in expected} == expected
    assert st["updateRevision"] == NEW and st["observedGeneration"] == 2


def test_pod_identity_and_revision() -> None:
    sset = sts(3)
    sset["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}}]
    made = new_pod(sset, sset["spec"]["template"], 2, "web-abc")
    m = made["metadata"]
    assert m["name"] == "web-2"
    assert m["labels"] == {"app": "web", POD_NAME_LABEL: "web-2", POD_INDEX_LABEL: "2",
                           REVISION_LABEL: "web-abc"}
    assert m["ownerReferences"][0]["kind"] == "StatefulSet"
    assert m["ownerReferences"][0]["controller"] is True
    assert made["spec"]["hostname"] == "web-2" and made["spec"]["subdomain"] == "web"
    assert {"name": "data", "emptyDir": {}} in made["spec"]["volumes"]


def test_revision_round_trip_and_name_changes_with_template() -> None:
    sset = sts(3)
    rev = new_revision(sset, 1)
    assert rev["metadata"]["name"] == revision_name(sset)
    assert template_of(rev) == sset["spec"]["template"]
    changed = sts(3)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "j"
    assert revision_name(changed) != revision_name(sset)
    counted = sts(3)
    counted["status"]["collisionCount"] = 1
    assert revision_name(counted) != revision_name(sset)
