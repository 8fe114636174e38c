"""The data one demo run produces: the load series, the cluster timeline, and the action.

A scenario of `probelab test` (probelab.workloadtest) fills a `RunRecord`; the summary and
the renderers only read it. Times are seconds since the run's load started (`t_s`), so every
series and marker shares one axis.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from probelab.load.outcome import FAILURES, OUTCOMES

# The load generator's outcome classes, by name: the report keeps no list of its own, so a class
# the load adds is counted (and must get a colour and words: tests/test_report.py) at once.
FAILURE_CLASSES = tuple(o.value for o in FAILURES)
OUTCOME_CLASSES = tuple(o.value for o in OUTCOMES)


class PodStep(Enum):
    """Moments in a pod's life the report marks (from pod watches and Events)."""

    STARTED = "started"  # container process started
    READY = "ready"  # pod Ready condition became true
    TERMINATING = "terminating"  # deletionTimestamp set (the API accepted the delete)
    PRESTOP = "prestop"  # the kubelet started the preStop hook
    SIGTERM = "sigterm"  # the stop signal was sent
    EXITED = "exited"  # the container process exited
    KILLED = "killed"  # SIGKILL after the grace period
    DELETED = "deleted"  # the pod object is gone


@dataclass
class SecondBucket:
    """Requests that *started* in second `t` of the load."""

    t: int
    by_class: dict[str, int] = field(default_factory=dict)
    by_version: dict[str, int] = field(default_factory=dict)
    p50_ms: float | None = None
    p99_ms: float | None = None


@dataclass(frozen=True)
class PodMark:
    t_s: float
    pod: str
    step: PodStep
    detail: str = ""


@dataclass(frozen=True)
class EndpointSample:
    """How many endpoints were usable at `t_s`, as the controllers and as the proxy saw it."""

    t_s: float
    ready: int
    terminating: int = 0
    source: str = "endpointslice"  # "endpointslice" (controller) or "proxy" (applied view)


@dataclass
class RunRecord:
    variant: str
    scenario: str
    keepalive: bool
    rate_rps: float
    duration_s: float = 0.0
    action: str = ""
    action_at_s: float | None = None
    rollout_done_at_s: float | None = None
    totals: dict[str, int] = field(default_factory=dict)
    seconds: list[SecondBucket] = field(default_factory=list)
    failure_times: dict[str, list[float]] = field(default_factory=dict)  # class -> start offsets
    error_examples: dict[str, str] = field(default_factory=dict)
    endpoints: list[EndpointSample] = field(default_factory=list)
    pod_marks: list[PodMark] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50, p90, p99, max
    local_engine: bool = True
    notes: list[str] = field(default_factory=list)
    # Requests the load client sent once more after the keep-alive race (see docs/load.md):
    # they count by their second try's outcome; told in the run's sentence.
    resent: int = 0
    # Requests due on the schedule that the load client itself never sent (it ran out of
    # connections or CPU): the server was never asked, so the run cannot prove zero downtime.
    not_sent: int = 0
    # Readiness-probe failures of the run (`Unhealthy` Events, `pod: message (×count)`): a run
    # whose Service lost its ready endpoints shows here whether the pods' probes failed.
    readiness_failures: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.totals.values())

    @property
    def failed(self) -> int:
        return sum(self.totals.get(c, 0) for c in FAILURE_CLASSES)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["pod_marks"] = [{**asdict(m), "step": m.step.value} for m in self.pod_marks]
        data["requests"] = self.requests
        data["failed"] = self.failed
        return data
