"""The kubelet's termination plan: how long a preStop hook may run, how long after the stop
signal it waits before SIGKILL, and which grace period applies.

Pure functions; `container.ContainerRunner._kill` runs the steps in order:
`Killing` event → preStop hook (bounded by the grace period) → stop signal → wait the rest of the
grace (never less than 2 s) → SIGKILL → when every container is gone, delete the pod object.
Sources:
- `pkg/kubelet/kuberuntime/kuberuntime_container.go` killContainer / setTerminationGracePeriod /
  executePreStopHook: the hook runs only when the grace period is > 0 and is waited for at most
  the grace period; the elapsed whole seconds (Go's `int64(d.Seconds())` truncates) are taken off
  the grace period; what is left is floored at `minimumGracePeriodInSeconds` = 2 and handed to the
  runtime's StopContainer, which sends the stop signal and SIGKILLs after that timeout.
- setTerminationGracePeriod and `pkg/kubelet/pod_workers.go` calculateEffectiveGracePeriod: a
  probe's own terminationGracePeriodSeconds for liveness/startup kills, else the pod's
  deletionGracePeriodSeconds, else its terminationGracePeriodSeconds (default 30); never below 1.
- kubernetes PR #74160: the hook's time is part of the grace period.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from probelab.k8s.defaults import DEFAULT_GRACE_PERIOD_S

MINIMUM_STOP_S = 2  # kuberuntime_container.go minimumGracePeriodInSeconds


class KillReason(Enum):
    DELETED = "deleted"  # the pod is being deleted (deletionTimestamp set)
    LIVENESS = "liveness"  # the liveness probe failed past its threshold
    STARTUP = "startup"  # the startup probe failed past its threshold
    SHUTDOWN = "shutdown"  # the engine is stopping


@dataclass(frozen=True)
class KillPlan:
    """What killing one container will do, decided before it starts."""

    grace_s: int  # the whole grace period, hook included
    run_prestop: bool  # a preStop hook exists and there is time for it
    hook_budget_s: int  # the longest the kubelet waits for the hook


def grace_period_s(pod: dict, reason: KillReason, probe: dict | None = None) -> int:
    """The grace period for killing a container of `pod` for `reason`."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    grace: int | None = None
    if (reason in (KillReason.LIVENESS, KillReason.STARTUP) and probe
            and probe.get("terminationGracePeriodSeconds") is not None):
        grace = int(probe["terminationGracePeriodSeconds"])
    elif meta.get("deletionGracePeriodSeconds") is not None:
        grace = int(meta["deletionGracePeriodSeconds"])
    elif spec.get("terminationGracePeriodSeconds") is not None:
        grace = int(spec["terminationGracePeriodSeconds"])
    if grace is None:
        grace = DEFAULT_GRACE_PERIOD_S
    return max(1, grace)


def plan_kill(grace_s: int, has_prestop: bool) -> KillPlan:
    """The hook runs only with a grace period > 0, and for at most that long."""
    run = has_prestop and grace_s > 0
    return KillPlan(grace_s=grace_s, run_prestop=run, hook_budget_s=grace_s if run else 0)


def stop_timeout_s(plan: KillPlan, hook_elapsed_s: float,
                   grace_left_s: float | None = None) -> int:
    """Seconds between the stop signal and SIGKILL: the grace left after the hook (whole
    seconds taken off, as the kubelet truncates), never less than 2. `grace_left_s` is what a
    second, shorter delete left of the grace, if one came."""
    remaining = plan.grace_s - int(hook_elapsed_s) if plan.run_prestop else plan.grace_s
    if grace_left_s is not None:
        remaining = min(remaining, math.ceil(grace_left_s))
    return max(MINIMUM_STOP_S, remaining)


def grace_end_after_shortening(grace_end: float, now: float, new_grace_s: int) -> float:
    """A second delete may only shorten the grace period (pod_workers.go
    calculateEffectiveGracePeriod): the grace now ends at the earlier of its old end and
    now + the new grace (at least 1 s). Bounds the preStop hook."""
    return min(grace_end, now + max(1, new_grace_s))


def kill_at_after_shortening(kill_at: float, now: float, new_grace_s: int) -> float:
    """After the stop signal, a shorter grace brings SIGKILL forward to now + the new grace,
    still never less than the 2 s floor."""
    return min(kill_at, now + max(MINIMUM_STOP_S, new_grace_s))


def killing_message(container: str, reason: KillReason) -> str:
    """The `Killing` event's message, worded as the kubelet words it."""
    if reason is KillReason.LIVENESS:
        return f"Container {container} failed liveness probe, will be restarted"
    if reason is KillReason.STARTUP:
        return f"Container {container} failed startup probe, will be restarted"
    return f"Stopping container {container}"
