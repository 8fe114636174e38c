"""Probe rules of the kubelet: defaults, when a probe may run, and how results cross thresholds.

Pure functions; `kubelet.prober` executes the handlers and `container.ContainerRunner` runs one
worker loop per probe that only waits, asks `probe_gate`, probes, and feeds the outcome to
`next_probe_state`. Sources:
- `pkg/apis/core/v1/defaults.go` SetDefaults_Probe and `pkg/apis/core/validation` (minimums;
  successThreshold must be 1 for liveness and startup).
- `pkg/kubelet/prober/worker.go` doProbe: initial results, the initial delay, startup gating,
  liveness/startup stopping once the pod is being deleted while readiness goes on, the
  consecutive-result run against success/failureThreshold, and "on hold" after a liveness or
  startup failure until the container is replaced.
- `pkg/kubelet/prober/prober_manager.go` UpdatePodStatus: `started` and `ready` of a container.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

HANDLERS = ("httpGet", "tcpSocket", "exec", "grpc")


class ProbeType(Enum):
    READINESS = "Readiness"  # gates traffic: the container is ready while it succeeds
    LIVENESS = "Liveness"  # restarts the container when it fails
    STARTUP = "Startup"  # holds back the other two until the container has started


class Result(Enum):
    SUCCESS = "Success"  # the handler succeeded (a redirect warning counts as success)
    FAILURE = "Failure"  # the handler failed or timed out
    UNKNOWN = "Unknown"  # no result yet, or the prober itself erred (never counted)


class Gate(Enum):
    PROBE = "probe"  # run the handler now
    WAIT = "wait"  # not yet: initial delay, or held back by the startup probe
    STOP = "stop"  # this worker is done (startup succeeded, or the pod is being deleted)


@dataclass(frozen=True)
class ProbeSpec:
    """A probe with every default applied (seconds; thresholds are counts)."""

    type: ProbeType
    handler_kind: str  # one of HANDLERS
    handler: dict[str, Any]
    initial_delay_s: int = 0
    period_s: int = 10
    timeout_s: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3
    termination_grace_s: int | None = None  # probe-level override for liveness/startup kills


def _int(raw: dict, key: str, default: int, minimum: int) -> int:
    value = raw.get(key)
    if value is None or (value == 0 and minimum > 0):
        return default  # a zero in a field with a minimum of 1 is defaulted, as the API does
    return max(minimum, int(value))


def probe_spec(raw: dict[str, Any], type_: ProbeType) -> ProbeSpec:
    """`SetDefaults_Probe`, plus the validation minimums, as a typed spec."""
    kind = next((h for h in HANDLERS if raw.get(h) is not None), "")
    success = _int(raw, "successThreshold", 1, 1)
    if type_ is not ProbeType.READINESS:
        success = 1  # validation: must be 1 for liveness and startup
    tgs = raw.get("terminationGracePeriodSeconds")
    return ProbeSpec(
        type=type_,
        handler_kind=kind,
        handler=dict(raw.get(kind) or {}) if kind else {},
        initial_delay_s=max(0, int(raw.get("initialDelaySeconds") or 0)),
        period_s=_int(raw, "periodSeconds", 10, 1),
        timeout_s=_int(raw, "timeoutSeconds", 1, 1),
        success_threshold=success,
        failure_threshold=_int(raw, "failureThreshold", 3, 1),
        termination_grace_s=None if tgs is None else int(tgs),
    )


def container_probes(container: dict[str, Any]) -> dict[ProbeType, ProbeSpec]:
    """The probes a container declares, by type."""
    fields = {ProbeType.READINESS: "readinessProbe", ProbeType.LIVENESS: "livenessProbe",
              ProbeType.STARTUP: "startupProbe"}
    return {t: probe_spec(container[f], t) for t, f in fields.items() if container.get(f)}


@dataclass(frozen=True)
class ProbeState:
    """One worker's memory: the published result and the current run of equal outcomes."""

    result: Result  # what the results cache holds (what status is computed from)
    last: Result | None = None  # the last outcome seen
    run: int = 0  # how many times in a row `last` was seen
    on_hold: bool = False  # liveness/startup failed: no more probing of this container


def initial_state(type_: ProbeType) -> ProbeState:
    """Before the first probe: not ready, alive, start unknown (worker.go newWorker)."""
    initial = {ProbeType.READINESS: Result.FAILURE, ProbeType.LIVENESS: Result.SUCCESS,
               ProbeType.STARTUP: Result.UNKNOWN}[type_]
    return ProbeState(result=initial)


def next_probe_state(state: ProbeState, outcome: Result, spec: ProbeSpec) -> ProbeState:
    """Count `outcome` into the run; publish it only once the run reaches its threshold."""
    if outcome is Result.UNKNOWN:
        return state  # a prober error is logged and skipped, never counted
    run = state.run + 1 if state.last is outcome else 1
    new = replace(state, last=outcome, run=run)
    threshold = spec.failure_threshold if outcome is Result.FAILURE else spec.success_threshold
    if run < threshold:
        return new
    new = replace(new, result=outcome)
    if spec.type is not ProbeType.READINESS and outcome is Result.FAILURE:
        new = replace(new, on_hold=True, run=0)
    return new


def probe_gate(spec: ProbeSpec, *, running_for_s: float, started: bool,
               terminating: bool) -> Gate:
    """Whether a worker probes now (worker.go doProbe, in its order of checks)."""
    if terminating and spec.type is not ProbeType.READINESS:
        return Gate.STOP  # liveness and startup stop on deletion; readiness goes on
    if running_for_s < spec.initial_delay_s:
        return Gate.WAIT
    if spec.type is ProbeType.STARTUP:
        return Gate.STOP if started else Gate.PROBE
    return Gate.PROBE if started else Gate.WAIT


def next_probe_at(spec: ProbeSpec, container_started_at: float, last_probe_at: float | None,
                  now: float) -> float:
    """When to probe next: the first probe once the initial delay is over, then every period
    (a ticker: a late probe is not made up for)."""
    first = container_started_at + spec.initial_delay_s
    if last_probe_at is None:
        return max(first, now)
    return max(first, last_probe_at + spec.period_s)


def container_started(running: bool, startup: Result | None) -> bool:
    """`started`: running, and the startup probe (if any, `startup` not None) has succeeded."""
    if not running:
        return False
    return startup is None or startup is Result.SUCCESS


def container_ready(running: bool, started: bool, readiness: Result | None) -> bool:
    """`ready`: started and the readiness probe (if any, `readiness` not None) has succeeded;
    with no readiness probe a started container is ready at once."""
    if not (running and started):
        return False
    return readiness is None or readiness is Result.SUCCESS
