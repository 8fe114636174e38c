"""The pod status the kubelet reports: phase, conditions, container statuses, addresses.

Pure: `pod_status(view, previous, now)` turns the kubelet's view of one pod into the `status`
object it writes through the status subresource. Sources:
- `pkg/kubelet/kubelet_pods.go` getPhase and generateAPIPodStatus: phase from the container
  states and the restart policy (a crash-looping container under Always keeps the pod Running),
  a terminal phase once a deleted pod's containers are all gone.
- `pkg/kubelet/status/generate.go`: PodScheduled, PodReadyToStartContainers, Initialized,
  ContainersReady (every container ready) and Ready (ContainersReady and every readiness gate's
  condition True), with reasons ContainersNotReady / ReadinessGatesNotReady / PodCompleted.
- `pkg/kubelet/status/status_manager.go` updateLastTransitionTime: a condition's
  lastTransitionTime changes only when its status does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from probelab.engine.core.clock import rfc3339
from probelab.engine.kubelet.restart import RestartPolicy

HOST_IP = "127.0.0.1"
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                      "PodScheduled")


class State(Enum):
    WAITING = "waiting"  # not running: not started yet, image missing, or backing off
    RUNNING = "running"  # the process is alive
    TERMINATED = "terminated"  # the process exited and will not be restarted (yet)


@dataclass(frozen=True)
class Exit:
    """How one run of a container ended."""

    exit_code: int
    reason: str  # Completed / Error
    started_at: float
    finished_at: float
    container_id: str
    message: str = ""


@dataclass(frozen=True)
class ContainerView:
    """What the kubelet knows about one container now."""

    name: str
    image: str
    state: State = State.WAITING
    reason: str = "ContainerCreating"  # waiting reason
    message: str = ""  # waiting message
    started_at: float | None = None  # running since
    exit: Exit | None = None  # the terminated state, when State.TERMINATED
    last_exit: Exit | None = None  # lastState.terminated
    restart_count: int = 0
    container_id: str = ""
    started: bool = False
    ready: bool = False


@dataclass(frozen=True)
class PodView:
    """What the kubelet knows about one pod now."""

    restart_policy: RestartPolicy = RestartPolicy.ALWAYS
    readiness_gates: tuple[str, ...] = ()
    scheduled_at: float | None = None
    start_time: float | None = None  # when the kubelet took the pod on
    pod_ip: str = ""
    terminal: bool = False  # deleted and every container has stopped for good
    containers: tuple[ContainerView, ...] = field(default_factory=tuple)


class Phase(Enum):
    PENDING = "Pending"  # accepted, not every container has been started
    RUNNING = "Running"  # bound, every container started once, one is running or restarting
    SUCCEEDED = "Succeeded"  # every container exited 0 and none will restart
    FAILED = "Failed"  # every container stopped, one failed, none will restart


def phase(view: PodView) -> Phase:
    """getPhase for a pod without init containers."""
    waiting = running = stopped = succeeded = 0
    for c in view.containers:
        if c.state is State.RUNNING:
            running += 1
        elif c.state is State.TERMINATED:
            stopped += 1
            succeeded += c.exit is not None and c.exit.exit_code == 0
        elif c.last_exit is not None:  # waiting to restart after a run
            stopped += 1
            succeeded += c.last_exit.exit_code == 0
        else:
            waiting += 1
    failed = stopped - succeeded
    if not view.containers or waiting:
        return Phase.PENDING
    if running:
        return Phase.RUNNING
    if view.terminal or view.restart_policy is RestartPolicy.NEVER:
        return Phase.FAILED if failed else Phase.SUCCEEDED
    if view.restart_policy is RestartPolicy.ALWAYS:
        return Phase.RUNNING
    return Phase.SUCCEEDED if failed == 0 else Phase.RUNNING


def _gate_problems(gates: tuple[str, ...], conditions: list[dict[str, Any]]) -> list[str]:
    by_type = {c.get("type"): c for c in conditions}
    problems = []
    for gate in gates:
        cond = by_type.get(gate)
        if cond is None:
            problems.append(f"corresponding condition of pod readiness gate \"{gate}\" "
                            "does not exist.")
        elif cond.get("status") != "True":
            problems.append(f"the status of pod readiness gate \"{gate}\" is not \"True\", "
                            f"but {cond.get('status')}")
    return problems


def conditions(view: PodView, pod_phase: Phase,
               others: list[dict[str, Any]]) -> dict[str, tuple[bool, str, str]]:
    """Each kubelet-owned condition as (status, reason, message); `others` are conditions set
    by someone else (readiness gates)."""
    unready = [c.name for c in view.containers if not c.ready]
    done = pod_phase in (Phase.SUCCEEDED, Phase.FAILED)
    if done:
        containers_ready = (False, "PodCompleted", "")
    elif unready:
        containers_ready = (False, "ContainersNotReady",
                            f"containers with unready status: [{' '.join(unready)}]")
    else:
        containers_ready = (True, "", "")
    gate_problems = _gate_problems(view.readiness_gates, others)
    if not containers_ready[0]:
        ready = containers_ready
    elif gate_problems:
        ready = (False, "ReadinessGatesNotReady", ", ".join(gate_problems))
    else:
        ready = (True, "", "")
    sandbox = view.pod_ip != "" and not view.terminal
    return {
        "PodReadyToStartContainers": (sandbox, "", ""),
        "Initialized": (True, "", ""),
        "Ready": ready,
        "ContainersReady": containers_ready,
        "PodScheduled": (view.scheduled_at is not None, "", ""),
    }


def _exit_state(exit_: Exit) -> dict[str, Any]:
    out: dict[str, Any] = {"exitCode": exit_.exit_code, "reason": exit_.reason,
                           "startedAt": rfc3339(exit_.started_at),
                           "finishedAt": rfc3339(exit_.finished_at),
                           "containerID": exit_.container_id}
    if exit_.message:
        out["message"] = exit_.message
    return out


def container_status(c: ContainerView) -> dict[str, Any]:
    """One entry of `containerStatuses`."""
    if c.state is State.RUNNING and c.started_at is not None:
        state: dict[str, Any] = {"running": {"startedAt": rfc3339(c.started_at)}}
    elif c.state is State.TERMINATED and c.exit is not None:
        state = {"terminated": _exit_state(c.exit)}
    else:
        waiting = {"reason": c.reason}
        if c.message:
            waiting["message"] = c.message
        state = {"waiting": waiting}
    out: dict[str, Any] = {
        "name": c.name,
        "image": c.image,
        "imageID": f"probelab://{c.image}",
        "state": state,
        "lastState": {"terminated": _exit_state(c.last_exit)} if c.last_exit else {},
        "ready": c.ready,
        "started": c.started,
        "restartCount": c.restart_count,
    }
    if c.container_id:
        out["containerID"] = c.container_id
    return out


def pod_status(view: PodView, previous: dict[str, Any] | None, now: float) -> dict[str, Any]:
    """The whole `status` object; conditions keep their lastTransitionTime unless they flip,
    and conditions owned by others are kept as they were."""
    previous = previous or {}
    old = {c.get("type"): c for c in previous.get("conditions") or []}
    others = [c for c in previous.get("conditions") or [] if c.get("type")
              not in KUBELET_CONDITIONS]
    pod_phase = phase(view)
    conds = []
    for type_, (ok, reason, message) in conditions(view, pod_phase, others).items():
        status = "True" if ok else "False"
        prior = old.get(type_)
        changed = prior is None or prior.get("status") != status
        cond: dict[str, Any] = {
            "type": type_, "status": status, "lastProbeTime": None,
            "lastTransitionTime": rfc3339(now) if changed else prior.get("lastTransitionTime"),
        }
        if reason:
            cond["reason"] = reason
        if message:
            cond["message"] = message
        conds.append(cond)
    status: dict[str, Any] = {
        "phase": pod_phase.value,
        "conditions": conds + others,
        "hostIP": HOST_IP,
        "hostIPs": [{"ip": HOST_IP}],
        "containerStatuses": [container_status(c) for c in view.containers],
        "qosClass": previous.get("qosClass", "BestEffort"),
    }
    if view.pod_ip:
        status["podIP"] = view.pod_ip
        status["podIPs"] = [{"ip": view.pod_ip}]
    if view.start_time is not None:
        status["startTime"] = rfc3339(view.start_time)
    return status
