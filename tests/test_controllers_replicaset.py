"""ReplicaSet controller: the scale-down victim ranking of `ActivePodsWithRanks.Less` (table),
replica arithmetic, status with minReadySeconds, pod ownership, and on a real store with a fake
kubelet: pods from the template, and a 10 → 3 scale-down deleting exactly the ranked victims,
gracefully."""

from __future__ import annotations

import asyncio

import pytest

from probelab.engine.controllers.replicaset import (
    BURST_REPLICAS,
    ReplicaSetController,
    claim,
    deletes_before,
    deletion_cost,
    deletion_order,
    next_availability_s,
    plan_replicas,
    pod_from_template,
    replica_set_status,
)
from probelab.engine.core.clock import FakeClock, rfc3339
from probelab.engine.core.store import Store
from support.controllers import NAMESPACE, controllers, events, pods, replica_set
from support.fake_kubelet import FakeKubelet
from support.loops import run
from support.waiting import until

NOW = 1_700_000_000.0


def pod(name: str = "p", *, node: str = "n1", phase: str = "Running", ready: bool = True,
        ready_age_s: float = 1000.0, cost: str | None = None, restarts: int = 0,
        age_s: float = 2000.0, uid: str = "", owner: str | None = None,
        labels: dict | None = None, deleting: bool = False) -> dict:
    meta = {"name": name, "namespace": NAMESPACE, "uid": uid or f"uid-{name}",
            "creationTimestamp": rfc3339(NOW - age_s),
            "labels": {"app": "web"} if labels is None else labels}
    if cost is not None:
        meta["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": cost}
    if owner:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": owner, "uid": owner,
                                    "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = rfc3339(NOW + 30)
    return {"metadata": meta, "spec": {"nodeName": node},
            "status": {"phase": phase,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                       "lastTransitionTime": rfc3339(NOW - ready_age_s)}],
                       "containerStatuses": [{"name": "c", "restartCount": restarts}]}}


# ---- ranking -----------------------------------------------------------------------------------
RANKING = [
    # (why, pod a, pod b, a is deleted before b)
    ("unassigned before assigned", dict(node=""), dict(), True),
    ("assigned after unassigned", dict(), dict(node=""), False),
    ("Pending before Running", dict(phase="Pending"), dict(), True),
    ("Unknown before Running", dict(phase="Unknown"), dict(), True),
    ("Pending before Unknown", dict(phase="Pending"), dict(phase="Unknown"), True),
    ("Running after Pending", dict(), dict(phase="Pending"), False),
    ("phase beats readiness", dict(phase="Pending"), dict(ready=False), True),
    ("not ready before ready", dict(ready=False), dict(), True),
    ("lower deletion cost first", dict(cost="-5"), dict(), True),
    ("invalid cost counts as 0", dict(cost="many"), dict(cost="3"), True),
    ("cost beats ready time", dict(cost="1", ready_age_s=5), dict(cost="0"), False),
    ("ready for a shorter time first", dict(ready_age_s=10), dict(ready_age_s=1000), True),
    ("ready time in log2 buckets, then UID (restarts ignored)",
     dict(ready_age_s=11, uid="a"), dict(ready_age_s=10, uid="b", restarts=5), True),
    ("same bucket, higher UID later", dict(ready_age_s=10, uid="b"),
     dict(ready_age_s=11, uid="a"), False),
    ("more restarts first", dict(restarts=3), dict(), True),
    ("restarts beat age", dict(restarts=1), dict(age_s=5), True),
    ("newer first", dict(age_s=10), dict(age_s=1000), True),
    ("older later", dict(age_s=1000), dict(age_s=10), False),
    ("age in log2 buckets, then UID", dict(age_s=1001, uid="a"), dict(age_s=1000, uid="b"),
     True),
    ("complete tie: neither first", dict(uid="x"), dict(uid="x"), False),
]


@pytest.mark.parametrize(("why", "a", "b", "expected"), RANKING, ids=[r[0] for r in RANKING])
def test_deletes_before(why: str, a: dict, b: dict, expected: bool) -> None:
    assert deletes_before(pod("a", **a), pod("b", **b), 1, 1, NOW) is expected


def test_ready_time_without_a_reference_time_compares_plainly() -> None:
    # Without `now` (LogarithmicScaleDown off) the later ready time goes first, UID unused.
    a, b = pod("a", ready_age_s=11, uid="z"), pod("b", ready_age_s=10, uid="a")
    assert deletes_before(b, a, 1, 1, None) and not deletes_before(a, b, 1, 1, None)


def test_pods_doubled_up_on_a_node_go_first() -> None:
    crowded, alone = pod("crowded", node="n1"), pod("alone", node="n2")
    related = [crowded, alone, pod("x", node="n1"), pod("y", node="n1"),
               pod("gone", node="n2", deleting=True)]  # inactive pods do not count
    assert [p["metadata"]["name"] for p in deletion_order([alone, crowded], related, NOW)] == \
        ["crowded", "alone"]


def test_deletion_order_of_a_mixed_set() -> None:
    pods_ = [pod("old-ready", age_s=5000), pod("restarted", restarts=2),
             pod("fresh", ready_age_s=3), pod("cheap", cost="-1"), pod("unready", ready=False),
             pod("pending", phase="Pending", ready=False), pod("unbound", node="", ready=False,
                                                            phase="Pending")]
    order = [p["metadata"]["name"] for p in deletion_order(pods_, pods_, NOW)]
    assert order == ["unbound", "pending", "unready", "cheap", "fresh", "restarted", "old-ready"]


@pytest.mark.parametrize(("text", "cost"), [(None, 0), ("7", 7), ("-3", -3), (" 4 ", 4),
                                            ("x", 0), (str(2**31), 0), (str(-(2**31)), -(2**31))])
def test_deletion_cost_annotation(text: str | None, cost: int) -> None:
    assert deletion_cost(pod(cost=text)) == cost


# ---- replicas ----------------------------------------------------------------------------------
def rs_obj(replicas: int, min_ready_s: int = 0, generation: int = 4, **meta) -> dict:
    obj = replica_set(replicas=replicas)
    obj["metadata"].update(uid="rs-uid", generation=generation, **meta)
    obj["spec"]["minReadySeconds"] = min_ready_s
    return obj


@pytest.mark.parametrize(("replicas", "active", "create", "deleted"), [
    (3, 3, 0, 0), (3, 1, 2, 0), (3, 5, 0, 2), (0, 4, 0, 4), (600, 0, BURST_REPLICAS, 0),
])
def test_plan_replicas(replicas: int, active: int, create: int, deleted: int) -> None:
    current = [pod(f"p{i}", age_s=100 + i) for i in range(active)]
    plan = plan_replicas(rs_obj(replicas), current, current, NOW)
    assert plan.create == create
    assert len(plan.delete) == deleted
    assert list(plan.delete) == [f"p{i}" for i in range(deleted)]  # newest (lowest age) first


def test_a_replica_set_being_deleted_does_nothing() -> None:
    rs = rs_obj(5, deletionTimestamp=rfc3339(NOW))
    assert plan_replicas(rs, [], [], NOW).create == 0


def test_status_counts_ready_and_available_with_min_ready_seconds() -> None:
    rs = rs_obj(4, min_ready_s=10)
    current = [pod("long", ready_age_s=20), pod("recent", ready_age_s=5),
               pod("unready", ready=False), pod("unlabeled", labels={"app": "web", "x": "y"})]
    current[3]["metadata"]["labels"] = {"other": "1"}
    st = replica_set_status(rs, current, NOW)
    assert st == {"replicas": 4, "fullyLabeledReplicas": 3, "readyReplicas": 3,
                  "availableReplicas": 2, "observedGeneration": 4}
    assert next_availability_s(rs, current, NOW) == pytest.approx(5.01)
    assert replica_set_status(rs_obj(4), current, NOW)["availableReplicas"] == 3
    assert next_availability_s(rs_obj(4), current, NOW) is None


def test_claim_adopts_orphans_and_releases_mismatches() -> None:
    rs = rs_obj(3)
    mine = pod("mine", owner="rs-uid")
    stray = pod("stray", owner="rs-uid", labels={"app": "other"})
    orphan = pod("orphan")
    dying_orphan = pod("dying", deleting=True)
    foreign = pod("foreign", owner="someone-else")
    owned, adopt, release = claim(rs, [mine, stray, orphan, dying_orphan, foreign])
    assert [p["metadata"]["name"] for p in owned] == ["mine", "orphan"]
    assert adopt == ["orphan"] and release == ["stray"]


def test_pod_from_template() -> None:
    rs = rs_obj(1)
    rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = "abc"
    p = pod_from_template(rs)
    assert p["metadata"]["generateName"] == "web-rs-"
    assert p["metadata"]["labels"] == {"app": "web", "pod-template-hash": "abc"}
    assert p["metadata"]["ownerReferences"] == [{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-rs", "uid": "rs-uid",
        "controller": True, "blockOwnerDeletion": True}]
    assert p["spec"]["containers"][0]["image"] == "probelab/simpleweb:1.0"
    assert "status" not in p  # defaults and the initial status are the API server's


# ---- on a store ----------------------------------------------------------------------------------
def test_creates_pods_and_reports_status() -> None:
    async def scenario() -> None:
        async with controllers(ReplicaSetController) as (store, _), \
                FakeKubelet(store, ready_delay_s=0.01):
            store.create("replicasets", replica_set(replicas=4))
            await until(lambda: (store.get("replicasets", NAMESPACE, "web-rs")["status"]
                                 .get("availableReplicas") == 4), what="4 available")
            created = pods(store)
            assert len(created) == 4
            assert all(p["metadata"]["name"].startswith("web-rs-") for p in created)
            assert sorted(events(store, "SuccessfulCreate")) == sorted(
                f"Created pod: {p['metadata']['name']}" for p in created)
            st = store.get("replicasets", NAMESPACE, "web-rs")["status"]
            assert st["replicas"] == st["readyReplicas"] == st["fullyLabeledReplicas"] == 4
            assert st["observedGeneration"] == 1
            # a pod removed behind its back is replaced
            store.delete("pods", NAMESPACE, created[0]["metadata"]["name"])
            await until(lambda: len(pods(store)) == 4
                        and created[0]["metadata"]["name"] not in
                        {p["metadata"]["name"] for p in pods(store)}, what="replacement")

    run(scenario())


def test_scale_down_10_to_3_deletes_the_ranked_victims_gracefully() -> None:
    """Steps: 10 ready pods; make p0 Pending, p1 unready, p2 cheap to delete, p3 restarted,
    p4 ready for 1 s (the rest for 1000 s); scale to 3; the 7 victims must be p0, p1, p2, p4,
    p3 in that order, then two of the five others (they tie on every rule, so Kubernetes' order
    among them is arbitrary). They are deleted gracefully (deletionTimestamp, grace from the
    template) and stay until the kubelet removes them."""
    clock = FakeClock(NOW)

    async def scenario() -> None:
        store = Store(clock)
        async with controllers(ReplicaSetController, store=store, clock=clock), \
                FakeKubelet(store, remove_terminating=False):
            store.create("replicasets", replica_set(replicas=10))
            await until(lambda: store.get("replicasets", NAMESPACE, "web-rs")["status"]
                        .get("readyReplicas") == 10, what="10 ready")
            p = sorted(pods(store), key=lambda x: x["metadata"]["name"])
            names = [x["metadata"]["name"] for x in p]

            def shape(i: int):
                def change(obj: dict) -> None:
                    st = obj["status"]
                    st["conditions"][0]["lastTransitionTime"] = rfc3339(
                        NOW - (1 if i == 4 else 1000))
                    if i == 0:
                        st["phase"] = "Pending"
                        st["conditions"][0]["status"] = "False"
                    if i == 1:
                        st["conditions"][0]["status"] = "False"
                    if i == 3:
                        st["containerStatuses"][0]["restartCount"] = 3
                return change

            for i, name in enumerate(names):
                store.mutate("pods", NAMESPACE, name, shape(i), subresource="status")
            store.mutate("pods", NAMESPACE, names[2], lambda o: o["metadata"].update(
                annotations={"controller.kubernetes.io/pod-deletion-cost": "-5"}))
            await asyncio.sleep(0)
            store.mutate("replicasets", NAMESPACE, "web-rs",
                         lambda o: o["spec"].update(replicas=3))
            await until(lambda: len(events(store, "SuccessfulDelete")) == 7, what="7 deletes")

            deleted = [m.removeprefix("Deleted pod: ") for m in events(store, "SuccessfulDelete")]
            assert deleted[:5] == [names[0], names[1], names[2], names[4], names[3]]
            assert set(deleted[5:]) < set(names[5:]) and len(set(deleted)) == 7
            now_pods = {x["metadata"]["name"]: x for x in pods(store)}
            assert len(now_pods) == 10  # still there: the kubelet has not removed them
            for name in deleted:
                assert now_pods[name]["metadata"]["deletionGracePeriodSeconds"] == 5
                assert now_pods[name]["metadata"]["deletionTimestamp"] == rfc3339(NOW + 5)
            survivors = {n for n, x in now_pods.items()
                         if not x["metadata"].get("deletionTimestamp")}
            assert survivors == set(names[5:]) - set(deleted)
            await until(lambda: store.get("replicasets", NAMESPACE, "web-rs")["status"]
                        .get("replicas") == 3, what="status replicas 3")

    run(scenario())
