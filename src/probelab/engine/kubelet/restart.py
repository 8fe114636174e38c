"""Restart rules of the kubelet: whether an exited container starts again, and when.

Pure functions used by `container.ContainerRunner` after a container exits (on its own or
after a liveness/startup kill). Sources:
- `pkg/kubelet/kuberuntime/kuberuntime_manager.go` computePodActions / `ShouldContainerBeRestarted`
  (`pkg/kubelet/container/helpers.go`): Always restarts, OnFailure restarts on a non-zero exit,
  Never does not.
- `pkg/kubelet/kuberuntime/kuberuntime_manager.go` doBackOff and
  `staging/src/k8s.io/client-go/util/flowcontrol/backoff.go`: the first restart is immediate and
  arms a 10 s back-off; each later exit inside the back-off window waits it out and doubles it,
  capped at 300 s (`MaxContainerBackOff`). An entry not updated for 2 × 300 s = 10 min is stale,
  so a container that ran that long starts over at 10 s. No jitter for container restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

INITIAL_BACKOFF_S = 10.0  # pkg/kubelet/kubelet.go backOffPeriod
MAX_BACKOFF_S = 300.0  # pkg/kubelet/kubelet.go MaxContainerBackOff
STALE_AFTER_S = 2 * MAX_BACKOFF_S  # flowcontrol.hasExpired: "stable for twice the max"


class RestartPolicy(Enum):
    ALWAYS = "Always"  # restart whatever the exit code (Deployments, ReplicaSets)
    ON_FAILURE = "OnFailure"  # restart only after a non-zero exit
    NEVER = "Never"  # never restart

    @classmethod
    def of(cls, pod_spec: dict) -> RestartPolicy:
        """The pod's policy; Always when absent (`pkg/apis/core/v1/defaults.go`)."""
        value = (pod_spec or {}).get("restartPolicy") or "Always"
        try:
            return cls(value)
        except ValueError:
            return cls.ALWAYS


def should_restart(policy: RestartPolicy, exit_code: int) -> bool:
    """`ShouldContainerBeRestarted` for a container that has exited."""
    if policy is RestartPolicy.ALWAYS:
        return True
    if policy is RestartPolicy.ON_FAILURE:
        return exit_code != 0
    return False


@dataclass(frozen=True)
class Backoff:
    """A container's back-off entry (`flowcontrol.backoffEntry`); None before a restart."""

    delay_s: float  # the current back-off window
    updated_at: float  # clock time of the restart that set it


def backoff_wait(entry: Backoff | None, exited_at: float, now: float) -> float:
    """Seconds still to wait before restarting a container that exited at `exited_at`
    (0 = restart now). `IsInBackOffSince`: no entry or a stale one means no wait."""
    if entry is None or exited_at - entry.updated_at > STALE_AFTER_S:
        return 0.0
    return max(0.0, exited_at + entry.delay_s - now)


def next_backoff(entry: Backoff | None, exited_at: float, now: float) -> Backoff:
    """The entry after restarting now (`Backoff.Next(key, exited_at)`): a fresh 10 s window
    when there was none or it was stale, else double the window up to 300 s."""
    if entry is None or exited_at - entry.updated_at > STALE_AFTER_S:
        return Backoff(INITIAL_BACKOFF_S, now)
    return Backoff(min(entry.delay_s * 2, MAX_BACKOFF_S), now)


def exit_reason(exit_code: int) -> str:
    """The terminated state's reason, as the container runtime reports it."""
    return "Completed" if exit_code == 0 else "Error"


def exit_code_of(returncode: int) -> tuple[int, int | None]:
    """A process return code as (exitCode, signal): a signal death is 128 + signal, as
    container runtimes report it (SIGKILL → 137, SIGTERM → 143)."""
    if returncode < 0:
        return 128 - returncode, -returncode
    return returncode, None
