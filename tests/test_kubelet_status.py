"""Table tests of the pod status the kubelet writes: phase, conditions, container statuses."""

from __future__ import annotations

import pytest

from probelab.engine.core.clock import rfc3339
from probelab.engine.kubelet.restart import RestartPolicy
from probelab.engine.kubelet.status import (
    ContainerView,
    Exit,
    Phase,
    PodView,
    State,
    container_status,
    phase,
    pod_status,
)

T0 = 1_700_000_000.0
OK = Exit(0, "Completed", T0, T0 + 5, "probelab://a")
BAD = Exit(1, "Error", T0, T0 + 5, "probelab://b")

waiting = ContainerView("w", "img")
running = ContainerView("r", "img", State.RUNNING, "", started_at=T0, started=True, ready=True)
unready = ContainerView("u", "img", State.RUNNING, "", started_at=T0, started=True, ready=False)
done_ok = ContainerView("d", "img", State.TERMINATED, "", exit=OK)
done_bad = ContainerView("e", "img", State.TERMINATED, "", exit=BAD)
backing_off = ContainerView("b", "img", State.WAITING, "CrashLoopBackOff", last_exit=BAD,
                            restart_count=2)

A, OF, N = RestartPolicy.ALWAYS, RestartPolicy.ON_FAILURE, RestartPolicy.NEVER


@pytest.mark.parametrize(("containers", "policy", "terminal", "expected"), [
    ((), A, False, Phase.PENDING),
    ((waiting,), A, False, Phase.PENDING),
    ((running, waiting), A, False, Phase.PENDING),  # not every container started yet
    ((running,), A, False, Phase.RUNNING),
    ((running, done_ok), N, False, Phase.RUNNING),
    ((backing_off,), A, False, Phase.RUNNING),  # crash-looping under Always is Running
    ((done_ok,), A, False, Phase.RUNNING),  # about to restart
    ((done_ok,), N, False, Phase.SUCCEEDED),
    ((done_bad,), N, False, Phase.FAILED),
    ((done_ok,), OF, False, Phase.SUCCEEDED),
    ((done_bad,), OF, False, Phase.RUNNING),  # OnFailure restarts it
    ((done_ok, done_ok), A, True, Phase.SUCCEEDED),  # deleted, all stopped
    ((done_ok, done_bad), A, True, Phase.FAILED),
])
def test_phase(containers, policy, terminal, expected) -> None:
    assert phase(PodView(restart_policy=policy, containers=containers, terminal=terminal,
                         pod_ip="127.244.0.1", scheduled_at=T0)) is expected


def _conds(status: dict) -> dict[str, dict]:
    return {c["type"]: c for c in status["conditions"]}


def _view(*containers: ContainerView, gates: tuple[str, ...] = ()) -> PodView:
    return PodView(scheduled_at=T0, start_time=T0, pod_ip="127.244.0.9", containers=containers,
                   readiness_gates=gates)


def test_ready_pod_status() -> None:
    status = pod_status(_view(running), None, T0 + 1)
    conds = _conds(status)
    for type_ in ("PodScheduled", "Initialized", "ContainersReady", "Ready",
                  "PodReadyToStartContainers"):
        assert conds[type_]["status"] == "True", type_
        assert conds[type_]["lastTransitionTime"] == rfc3339(T0 + 1)
    assert status["phase"] == "Running"
    assert status["podIP"] == "127.244.0.9" and status["podIPs"] == [{"ip": "127.244.0.9"}]
    assert status["hostIP"] == "127.0.0.1" and status["hostIPs"] == [{"ip": "127.0.0.1"}]
    assert status["startTime"] == rfc3339(T0)
    (c,) = status["containerStatuses"]
    assert c["state"] == {"running": {"startedAt": rfc3339(T0)}}
    assert c["ready"] is True and c["started"] is True and c["restartCount"] == 0


def test_unready_container_names_itself() -> None:
    conds = _conds(pod_status(_view(running, unready), None, T0))
    assert conds["ContainersReady"]["status"] == "False"
    assert conds["ContainersReady"]["reason"] == "ContainersNotReady"
    assert conds["ContainersReady"]["message"] == "containers with unready status: [u]"
    assert conds["Ready"]["status"] == "False"
    assert conds["Ready"]["reason"] == "ContainersNotReady"


def test_last_transition_time_changes_only_when_the_status_flips() -> None:
    first = pod_status(_view(unready), None, T0)
    same = pod_status(_view(unready), first, T0 + 10)
    assert _conds(same)["Ready"]["lastTransitionTime"] == rfc3339(T0)
    flipped = pod_status(_view(running), same, T0 + 20)
    assert _conds(flipped)["Ready"]["lastTransitionTime"] == rfc3339(T0 + 20)
    assert _conds(flipped)["PodScheduled"]["lastTransitionTime"] == rfc3339(T0)


@pytest.mark.parametrize(("gate_status", "ready", "reason"), [
    (None, "False", "ReadinessGatesNotReady"),
    ("False", "False", "ReadinessGatesNotReady"),
    ("True", "True", None),
])
def test_readiness_gates(gate_status, ready, reason) -> None:
    previous = {"conditions": []}
    if gate_status is not None:
        previous["conditions"].append({"type": "example.com/lb", "status": gate_status})
    status = pod_status(_view(running, gates=("example.com/lb",)), previous, T0)
    conds = _conds(status)
    assert conds["ContainersReady"]["status"] == "True"
    assert conds["Ready"]["status"] == ready
    assert conds["Ready"].get("reason") == reason
    if gate_status is not None:  # someone else's condition is kept as it was
        assert conds["example.com/lb"] == {"type": "example.com/lb", "status": gate_status}


def test_container_states() -> None:
    assert container_status(waiting)["state"] == {"waiting": {"reason": "ContainerCreating"}}
    pulled = ContainerView("x", "img", reason="ErrImagePull", message="add --image")
    assert container_status(pulled)["state"] == {
        "waiting": {"reason": "ErrImagePull", "message": "add --image"}}
    c = container_status(backing_off)
    assert c["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert c["lastState"]["terminated"]["exitCode"] == 1
    assert c["restartCount"] == 2
    t = container_status(done_ok)["state"]["terminated"]
    assert t == {"exitCode": 0, "reason": "Completed", "startedAt": rfc3339(T0),
                 "finishedAt": rfc3339(T0 + 5), "containerID": "probelab://a"}


def test_a_terminated_pod_reports_completion() -> None:
    view = PodView(scheduled_at=T0, start_time=T0, pod_ip="127.244.0.9", terminal=True,
                   containers=(done_ok,))
    status = pod_status(view, None, T0)
    assert status["phase"] == "Succeeded"
    conds = _conds(status)
    assert conds["Ready"]["status"] == "False" and conds["Ready"]["reason"] == "PodCompleted"
    assert conds["PodReadyToStartContainers"]["status"] == "False"
