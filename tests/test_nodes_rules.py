"""The pure rules behind nodes, scheduling, eviction and disruption budgets, table by table:
toleration matching (`ToleratesTaint`), the fit rule (cordon, taints, pod count) and its
FailedScheduling messages, the budget arithmetic of the disruption controller (minAvailable and
maxUnavailable as counts and percentages, unmanaged pods, no pods, expired evictions), which
pods need no budget, the Node and PDB Table cells, the registered Node, and the validation of
Nodes and PDBs."""

from __future__ import annotations

from typing import Any

import pytest

from probelab.engine.apiserver.printing import printers
from probelab.engine.apiserver.registry import eviction
from probelab.engine.apiserver.status import ApiError
from probelab.engine.kubelet import capacity, registration, scheduling
from probelab.k8s import disruption, taints, validation

NOW = 1_800_000_000.0


# ---- toleration matching ---------------------------------------------------------------------
TAINT = {"key": "k", "value": "v", "effect": "NoSchedule"}


@pytest.mark.parametrize(("toleration", "taint", "expected"), [
    ({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}, TAINT, True),
    ({"key": "k", "value": "v"}, TAINT, True),  # no operator = Equal, no effect = any
    ({"key": "k", "operator": "Equal", "value": "w"}, TAINT, False),
    ({"key": "k", "operator": "Exists"}, TAINT, True),
    ({"key": "k", "operator": "Exists", "effect": "NoExecute"}, TAINT, False),
    ({"key": "other", "operator": "Exists"}, TAINT, False),
    ({"operator": "Exists"}, TAINT, True),  # empty key + Exists tolerates everything
    ({"operator": "Exists", "effect": "NoExecute"}, TAINT, False),
    ({"key": "k"}, {"key": "k", "effect": "NoSchedule"}, True),  # empty values are equal
    ({"key": "k", "operator": "Lt", "value": "v"}, TAINT, False),  # unknown operator
    ({"key": "", "operator": "Equal", "value": "v"}, TAINT, True),  # empty key matches any key
])
def test_toleration_matching(toleration: dict, taint: dict, expected: bool) -> None:
    assert taints.tolerates(toleration, taint) is expected


# ---- the fit rule ------------------------------------------------------------------------------
def pod(*tolerations: dict) -> dict[str, Any]:
    return {"spec": {"tolerations": list(tolerations)} if tolerations else {}}


def node(unschedulable: bool = False, *taints: dict) -> dict[str, Any]:
    spec: dict[str, Any] = {"unschedulable": True} if unschedulable else {}
    if taints:
        spec["taints"] = list(taints)
    return {"spec": spec}


CORDONED = ("0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are "
            "available: 1 Preemption is not helpful for scheduling..")
TAINTED = ("0/1 nodes are available: 1 node(s) had untolerated taint {k: v}. preemption: 0/1 "
           "nodes are available: 1 Preemption is not helpful for scheduling..")
UNSCHEDULABLE_TOLERATION = {"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                            "effect": "NoSchedule"}


@pytest.mark.parametrize(("the_pod", "the_node", "on_node", "expected"), [
    (pod(), node(), 0, None),
    (pod(), None, 0, None),  # before the node registered, only the count matters
    (pod(), node(True), 0, CORDONED),
    (pod(UNSCHEDULABLE_TOLERATION), node(True), 0, None),
    (pod(), node(False, TAINT), 0, TAINTED),
    (pod({"key": "k", "operator": "Exists"}), node(False, TAINT), 0, None),
    (pod(), node(False, {**TAINT, "effect": "NoExecute"}), 0, TAINTED),
    (pod(), node(False, {**TAINT, "effect": "PreferNoSchedule"}), 0, None),  # only scores
    (pod(), node(False, {"key": "k", "effect": "NoSchedule"}),
     0, TAINTED.replace("{k: v}", "{k: }")),
    (pod(), node(True, TAINT), 0, CORDONED),  # NodeUnschedulable runs first
    (pod(), node(False, TAINT), 5, TAINTED),  # taints before the pod count
    (pod(), node(), 5, capacity.TOO_MANY_PODS),
    (pod(), node(), 4, None),
])
def test_fit_rule(the_pod: dict, the_node: dict | None, on_node: int,
                  expected: str | None) -> None:
    assert scheduling.unfit_reason(the_pod, the_node, on_node, max_pods=5) == expected


def test_the_first_untolerated_taint_names_the_failure() -> None:
    two = [{"key": "a", "value": "1", "effect": "NoSchedule"},
           {"key": "b", "value": "2", "effect": "NoExecute"}]
    tolerate_a = {"key": "a", "operator": "Exists"}
    assert taints.untolerated_taint([tolerate_a], two) == two[1]
    assert taints.untolerated_taint([], two) == two[0]
    assert taints.untolerated_taint([{"operator": "Exists"}], two) is None


NO_EXECUTE = {"key": "k", "value": "v", "effect": "NoExecute"}


@pytest.mark.parametrize(("tolerations", "node_taints", "expected"), [
    ([], [], None),
    ([], [TAINT], None),  # NoSchedule never evicts
    ([], [NO_EXECUTE], 0.0),
    ([{"key": "k", "operator": "Exists"}], [NO_EXECUTE], None),  # tolerated for ever
    ([{"key": "k", "operator": "Exists", "tolerationSeconds": 30}], [NO_EXECUTE], 30.0),
    ([{"key": "k", "operator": "Exists", "tolerationSeconds": -5}], [NO_EXECUTE], 0.0),
    ([{"key": "k", "operator": "Exists", "tolerationSeconds": 30},
      {"key": "j", "operator": "Exists", "tolerationSeconds": 10}],
     [NO_EXECUTE, {"key": "j", "effect": "NoExecute"}], 10.0),  # the smallest used
    ([{"key": "k", "operator": "Exists"},
      {"key": "k", "operator": "Exists", "tolerationSeconds": 10}], [NO_EXECUTE], None),
    # only the first matching toleration of a taint is used (GetMatchingTolerations)
    ([{"key": "k", "operator": "Exists", "tolerationSeconds": 30}],
     [NO_EXECUTE, {"key": "j", "effect": "NoExecute"}], 0.0),  # one untolerated: now
])
def test_no_execute_delay(tolerations: list, node_taints: list, expected: float | None) -> None:
    assert taints.no_execute_delay(tolerations, node_taints) == expected


# ---- disruption budget arithmetic ----------------------------------------------------------------
def budget_pod(name: str, ready: bool = True, owner: str | None = "rs-uid",
               terminating: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "labels": {"app": "web"}}
    if owner:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": "rs", "uid": owner,
                                    "controller": True}]
    if terminating:
        meta["deletionTimestamp"] = disruption.rfc3339(NOW)
    return {"metadata": meta, "status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}


def scale_of(replicas: dict[str, int]) -> Any:
    return lambda ref: (ref["uid"], replicas[ref["uid"]]) if ref["uid"] in replicas else None


THREE = [budget_pod("a"), budget_pod("b"), budget_pod("c")]
RS3 = scale_of({"rs-uid": 3})


@pytest.mark.parametrize(("spec", "pods", "scale", "expected"), [
    # (expectedPods, desiredHealthy, currentHealthy, disruptionsAllowed)
    ({"minAvailable": 2}, THREE, RS3, (3, 2, 3, 1)),
    ({"minAvailable": 3}, THREE, RS3, (3, 3, 3, 0)),
    ({"minAvailable": 5}, THREE, RS3, (3, 5, 3, 0)),  # never negative
    ({"minAvailable": "50%"}, THREE, RS3, (3, 2, 3, 1)),  # 1.5 rounds up to 2
    ({"minAvailable": "100%"}, THREE, RS3, (3, 3, 3, 0)),
    ({"maxUnavailable": 1}, THREE, RS3, (3, 2, 3, 1)),
    ({"maxUnavailable": "34%"}, THREE, RS3, (3, 1, 3, 2)),  # 1.02 rounds up to 2
    ({"maxUnavailable": "10%"}, THREE, RS3, (3, 2, 3, 1)),  # 0.3 rounds up to 1
    ({"maxUnavailable": 5}, THREE, RS3, (3, 0, 3, 3)),  # desired floors at 0
    ({"maxUnavailable": 1}, THREE, scale_of({"rs-uid": 5}), (5, 4, 3, 0)),  # scale, not pods
    ({"minAvailable": 2}, [], RS3, (0, 2, 0, 0)),  # no pods
    ({"maxUnavailable": 1}, [], RS3, (0, 0, 0, 0)),
    ({"minAvailable": 0}, [], RS3, (0, 0, 0, 0)),  # nothing expected: nothing allowed
    ({}, THREE, RS3, (0, 0, 3, 0)),  # neither bound set
    ({"minAvailable": 2}, [budget_pod("a"), budget_pod("b", ready=False), budget_pod("c")],
     RS3, (3, 2, 2, 0)),
    ({"minAvailable": 1}, [budget_pod("a"), budget_pod("b", terminating=True)], RS3,
     (2, 1, 1, 0)),  # terminating pods count as expected, not as healthy
    ({"minAvailable": 1}, [budget_pod("a", owner=None), budget_pod("b", owner=None)], RS3,
     (2, 1, 2, 1)),  # an integer minAvailable counts unmanaged pods
    ({"maxUnavailable": 1}, [budget_pod("a", owner=None), budget_pod("b")], RS3,
     (3, 2, 2, 0)),  # a scaled budget cannot count them
    ({"minAvailable": 2}, [budget_pod("a"), budget_pod("b", owner="rs2")],
     scale_of({"rs-uid": 3, "rs2": 2}), (2, 2, 2, 0)),
    ({"maxUnavailable": 1}, [budget_pod("a"), budget_pod("b", owner="rs2")],
     scale_of({"rs-uid": 3, "rs2": 2}), (5, 4, 2, 0)),  # two controllers' scales add up
])
def test_budget_arithmetic(spec: dict, pods: list, scale: Any, expected: tuple) -> None:
    got = disruption.budget(spec, pods, None, NOW, scale)
    assert (got.expected_pods, got.desired_healthy, got.current_healthy,
            got.disruptions_allowed) == expected


def test_unmanaged_pods_are_named() -> None:
    got = disruption.budget({"maxUnavailable": 1}, [budget_pod("x", owner=None)], None, NOW, RS3)
    assert got.unmanaged == ("x",)


def test_a_missing_controller_fails_the_sync() -> None:
    with pytest.raises(disruption.ScaleError, match='found no controllers for pod "a"'):
        disruption.budget({"maxUnavailable": 1}, THREE, None, NOW, scale_of({}))


def test_evicted_pods_stop_counting_until_they_go_or_two_minutes_pass() -> None:
    recorded = {"a": disruption.rfc3339(NOW - 30), "b": disruption.rfc3339(NOW - 121),
                "gone": disruption.rfc3339(NOW)}
    got = disruption.budget({"minAvailable": 1}, THREE, recorded, NOW, RS3)
    assert got.disrupted_pods == {"a": recorded["a"]}  # b expired, "gone" is gone
    assert got.current_healthy == 2 and got.disruptions_allowed == 1
    assert got.recheck_at == pytest.approx(NOW - 30 + disruption.DELETION_TIMEOUT_S, abs=1)
    terminating = [budget_pod("a", terminating=True), budget_pod("b")]
    assert disruption.disrupted_map({"a": recorded["a"]}, terminating, NOW) == ({}, None)


@pytest.mark.parametrize(("phase", "terminating", "expected"), [
    ("Running", False, False), ("Pending", False, True), ("Succeeded", False, True),
    ("Failed", False, True), ("Running", True, True),
])
def test_which_pods_need_no_budget(phase: str, terminating: bool, expected: bool) -> None:
    the_pod = budget_pod("a", terminating=terminating)
    the_pod["status"]["phase"] = phase
    assert disruption.needs_no_budget(the_pod) is expected


@pytest.mark.parametrize(("selector", "labels", "namespace", "expected"), [
    ({"matchLabels": {"app": "web"}}, {"app": "web"}, "ns", True),
    ({"matchLabels": {"app": "web"}}, {"app": "db"}, "ns", False),
    ({"matchLabels": {"app": "web"}}, {"app": "web"}, "other", False),
    ({}, {"app": "db"}, "ns", True),  # policy/v1: an empty selector selects every pod
    (None, {"app": "web"}, "ns", False),  # a missing one none
])
def test_which_budgets_cover_a_pod(selector: Any, labels: dict, namespace: str,
                                   expected: bool) -> None:
    pdb = {"metadata": {"name": "b", "namespace": "ns"}, "spec": {"selector": selector}}
    the_pod = {"metadata": {"name": "p", "namespace": namespace, "labels": labels}}
    assert disruption.selects(pdb, the_pod) is expected


def test_disruption_allowed_condition() -> None:
    [cond] = disruption.allowed_condition(2, None, NOW, 3)
    assert (cond["status"], cond["reason"], cond["observedGeneration"]) == (
        "True", "SufficientPods", 3)
    [same] = disruption.allowed_condition(1, [cond], NOW + 60, 3)
    assert same["lastTransitionTime"] == cond["lastTransitionTime"]  # no flip, no move
    [flipped] = disruption.allowed_condition(0, [cond], NOW + 60, 3)
    assert (flipped["status"], flipped["reason"]) == ("False", "InsufficientPods")
    assert flipped["lastTransitionTime"] == disruption.rfc3339(NOW + 60)
    [failed] = disruption.allowed_condition(3, [cond], NOW, 3, failure="boom")
    assert (failed["status"], failed["reason"], failed["message"]) == (
        "False", "SyncFailed", "boom")


# ---- the Eviction body ---------------------------------------------------------------------------
@pytest.mark.parametrize("body", [
    {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p"}},
    {"apiVersion": "policy/v1beta1", "kind": "Eviction", "metadata": {"name": "p"}},
    {"metadata": {"name": "p"}},  # the official client sends no TypeMeta
    {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {}},
])
def test_eviction_bodies_accepted(body: dict) -> None:
    assert eviction.parse(body, "p").grace_period_s is None


def test_eviction_delete_options_are_the_deletes() -> None:
    options = eviction.parse({"metadata": {"name": "p"}, "deleteOptions": {
        "gracePeriodSeconds": 3, "preconditions": {"uid": "u1"}}}, "p")
    assert (options.grace_period_s, options.precondition_uid) == (3, "u1")


@pytest.mark.parametrize(("body", "message"), [
    ({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "q"}},
     "name in URL does not match name in Eviction object"),
    ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}, "expected an Eviction"),
    ([], "must be an Eviction object"),
])
def test_eviction_bodies_refused(body: Any, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        eviction.parse(body, "p")
    assert caught.value.code == 400 and message in caught.value.message


# ---- printing --------------------------------------------------------------------------------
def test_node_cells() -> None:
    host = registration.Machine(cores=4, memory_kib=1024, hostname="h", kernel="6.1.0",
                                os_image="Debian GNU/Linux 12 (bookworm)", arch="amd64")
    obj = registration.node_object("probelab", host, 20, NOW, "probelab://0.1.0")
    obj["metadata"]["creationTimestamp"] = disruption.rfc3339(NOW - 90)
    assert printers.node_cells(obj, NOW) == [
        "probelab", "Ready", "control-plane", "90s", "v1.37.0-probelab", "127.0.0.1", "<none>",
        "Debian GNU/Linux 12 (bookworm)", "6.1.0", "probelab://0.1.0"]
    obj["spec"]["unschedulable"] = True
    assert printers.node_status_text(obj) == "Ready,SchedulingDisabled"
    obj["status"]["conditions"] = [{"type": "Ready", "status": "Unknown"}]
    assert printers.node_status_text(obj) == "NotReady,SchedulingDisabled"
    obj["status"]["conditions"] = []
    assert printers.node_status_text(obj) == "Unknown,SchedulingDisabled"
    assert printers.node_roles({"kubernetes.io/role": "worker",
                                "node-role.kubernetes.io/infra": ""}) == "infra,worker"
    assert printers.node_roles({}) == "<none>"


def test_registered_node() -> None:
    host = registration.Machine(cores=2, memory_kib=2048, hostname="h", kernel="k",
                                os_image="o", arch="arm64")
    obj = registration.node_object("probelab", host, 110, NOW, "probelab://x")
    status = obj["status"]
    assert status["capacity"] == status["allocatable"] == {
        "cpu": "2", "memory": "2048Ki", "pods": "110"}
    assert {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]} == {
        "Ready": ("True", "KubeletReady"),
        "MemoryPressure": ("False", "KubeletHasSufficientMemory"),
        "DiskPressure": ("False", "KubeletHasNoDiskPressure"),
        "PIDPressure": ("False", "KubeletHasSufficientPID")}
    assert obj["metadata"]["labels"]["kubernetes.io/arch"] == "arm64"
    later = registration.conditions(NOW + 300, status["conditions"])
    assert all(c["lastHeartbeatTime"] == disruption.rfc3339(NOW + 300)
               and c["lastTransitionTime"] == disruption.rfc3339(NOW) for c in later)


def test_pdb_cells() -> None:
    pdb = {"metadata": {"name": "web", "creationTimestamp": disruption.rfc3339(NOW - 5)},
           "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 2}}
    assert printers.pdb_cells(pdb, NOW) == ["web", "50%", "N/A", 2, "5s"]


# ---- validation --------------------------------------------------------------------------------
def pdb_obj(spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "b", "namespace": "ns"}, "spec": spec}


@pytest.mark.parametrize(("spec", "problem"), [
    ({"minAvailable": 1, "selector": {}}, None),
    ({"maxUnavailable": "25%", "selector": {"matchLabels": {"app": "web"}}}, None),
    ({"minAvailable": 1, "maxUnavailable": 1}, "minAvailable and maxUnavailable cannot be both"),
    ({"minAvailable": -1}, "spec.minAvailable"),
    ({"maxUnavailable": "120%"}, "must not be greater than 100%"),
    ({"maxUnavailable": "lots"}, "spec.maxUnavailable"),
    ({"minAvailable": 1, "unhealthyPodEvictionPolicy": "Sometimes"},
     "spec.unhealthyPodEvictionPolicy"),
    ({"selector": {"matchExpressions": [{"key": "a", "operator": "Is"}]}},
     "spec.selector.matchExpressions[0].operator"),
])
def test_pdb_validation(spec: dict, problem: str | None) -> None:
    errors = " ".join(str(e) for e in validation.validate(pdb_obj(spec)))
    if problem is None:
        assert errors == ""
    else:
        assert problem in errors


@pytest.mark.parametrize(("taints", "problem"), [
    ([{"key": "k", "value": "v", "effect": "NoSchedule"}], None),
    ([{"key": "k", "effect": "Sometimes"}], "spec.taints[0].effect"),
    ([{"effect": "NoSchedule"}], "spec.taints[0].key"),
    ([{"key": "k", "effect": "NoSchedule"}, {"key": "k", "value": "x", "effect": "NoSchedule"}],
     "spec.taints[1]"),
])
def test_node_validation(taints: list, problem: str | None) -> None:
    obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "probelab"},
           "spec": {"taints": taints}}
    errors = " ".join(str(e) for e in validation.validate(obj))
    if problem is None:
        assert errors == ""
    else:
        assert problem in errors


# ---- placing a pod on one of several nodes -------------------------------------------------
def owned(owner: str, *tolerations: dict) -> dict[str, Any]:
    made = pod(*tolerations)
    made["metadata"] = {"ownerReferences": [{"uid": owner, "controller": True}]}
    return made


TWO = [("probelab", node()), ("probelab-2", node())]


@pytest.mark.parametrize(("nodes", "pods_on", "candidate", "expected"), [
    # empty nodes: the first in name order
    (TWO, {}, owned("a"), "probelab"),
    # PodTopologySpread by hostname: fewest pods of the same owner, however full the node
    (TWO, {"probelab": [owned("a")], "probelab-2": [owned("b"), owned("b")]}, owned("a"),
     "probelab-2"),
    # same owner count: LeastAllocated, the node with fewer pods
    (TWO, {"probelab": [owned("b"), owned("b")], "probelab-2": [owned("c")]}, owned("a"),
     "probelab-2"),
    # a pod without owner only counts pods
    (TWO, {"probelab": [owned("a")]}, pod(), "probelab-2"),
    # filters: cordoned, tainted and full nodes are out, whatever their score
    ([("probelab", node()), ("probelab-2", node(True))], {"probelab": [owned("a")] * 2},
     owned("a"), "probelab"),
    ([("probelab", node(False, TAINT)), ("probelab-2", node())],
     {"probelab-2": [owned("a")] * 2}, owned("a"), "probelab-2"),
    ([("probelab", node(False, TAINT)), ("probelab-2", node())], {}, owned("a", {
        "key": "k", "operator": "Exists"}), "probelab"),
    (TWO, {"probelab": [pod()] * 3}, owned("a"), "probelab-2"),  # max 3: probelab is full
    # a node not registered yet only counts pods
    ([("probelab", None), ("probelab-2", node(True))], {}, pod(), "probelab"),
])
def test_place_filters_then_spreads(nodes: list, pods_on: dict, candidate: dict,
                                    expected: str) -> None:
    assert scheduling.place(candidate, nodes, pods_on, 3) == (expected, None)


def test_place_says_why_no_node_fits() -> None:
    nodes = [("probelab", node(True)), ("probelab-2", node(False, TAINT)),
             ("probelab-3", node())]
    assert scheduling.place(pod(), nodes, {"probelab-3": [pod()] * 2}, 2) == (None, (
        "0/3 nodes are available: 1 Too many pods, 1 node(s) had untolerated taint {k: v}, "
        "1 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is "
        "not helpful for scheduling.."))
    # one node keeps the one-node messages
    assert scheduling.place(pod(), [("probelab", node(True))], {}, 2) == (None, CORDONED)
    assert scheduling.place(pod(), [("probelab", node())], {"probelab": [pod()] * 2}, 2) == (
        None, capacity.TOO_MANY_PODS)


def test_node_names() -> None:
    assert scheduling.node_names(1) == ["probelab"]
    assert scheduling.node_names(3) == ["probelab", "probelab-2", "probelab-3"]
