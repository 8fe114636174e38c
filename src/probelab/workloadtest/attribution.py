"""Why requests failed: each failure tied to the workload's pod step just before it (pure).

Inputs are what the run observed: the load's failed requests (start time, class), the pod
steps from the pod watch and the kubelet's Events (`report.model.PodMark`), and when the local
engine's proxy applied an endpoints change (its `EndpointsApplied` Events, as
`EndpointSample(source="proxy")`). The rules follow docs/architecture.md, "Why requests fail":

- the last step of a pod before a failure is a stop (SIGTERM, exit) and the proxy had not yet
  applied any endpoints change since that pod began terminating when it got SIGTERM → the pod
  stopped while still in the proxy's endpoints (cure: a preStop delay above the lag);
- a stop, but the proxy had already dropped the pod → the process quit with requests in
  flight or keep-alive connections open (cure: drain on SIGTERM);
- SIGKILL → the grace period ended with requests in flight (cure: a longer grace period);
- a start or Ready → a new pod got traffic before it served (cure: a readiness probe);
- no step near → not a rollout effect that the timeline explains.
One sentence per cause says what happened and which setting cures it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from probelab.report.model import EndpointSample, PodMark, PodStep
from probelab.report.summary import counted

STOP_STEPS = (PodStep.TERMINATING, PodStep.PRESTOP, PodStep.SIGTERM, PodStep.EXITED)
START_STEPS = (PodStep.STARTED, PodStep.READY)
DEFAULT_WINDOW_S = 3.0  # a failure this long after a pod step is explained by it
LATE_S = 0.2  # a step recorded a little after the failure started still explains it

IN_ENDPOINTS = "sigterm-in-endpoints"
DRAIN = "exit-with-requests"
KILLED = "sigkill"
STARTUP = "traffic-before-ready"
UNEXPLAINED = "unexplained"

CURES = {
    IN_ENDPOINTS: "a preStop hook that waits longer than the endpoint propagation lag "
                  "(e.g. lifecycle.preStop.sleep.seconds: 5), so every proxy drops the pod "
                  "before it gets SIGTERM",
    DRAIN: "on SIGTERM, stop accepting, finish in-flight requests and close idle keep-alive "
           "connections before exiting, with terminationGracePeriodSeconds above preStop + "
           "that drain",
    KILLED: "terminationGracePeriodSeconds above the preStop delay plus the app's drain time",
    STARTUP: "a readinessProbe on the port the app serves, so a pod gets traffic only once "
             "it answers",
    UNEXPLAINED: "look at the app's logs; the failure classes say what the client saw",
}


# `probelab check` rules that predict each cause from the manifests alone (docs/check.md).
CHECK_RULES = {
    IN_ENDPOINTS: ("prestop-missing", "prestop-shorter-than-lag", "prestop-delay-unknown"),
    DRAIN: ("grace-too-short",),
    KILLED: ("grace-too-short",),
    STARTUP: ("readiness-missing",),
    UNEXPLAINED: (),
}


@dataclass(frozen=True)
class Failure:
    t_s: float  # when the request started, seconds since the load began
    cls: str  # the load generator's outcome class


@dataclass(frozen=True)
class Cause:
    key: str
    count: int
    classes: dict[str, int]
    pods: tuple[str, ...]
    first_s: float
    last_s: float
    sentence: str
    cure: str
    check_rules: tuple[str, ...] = ()  # the matching `probelab check` findings' rule IDs

    @property
    def text(self) -> str:
        found = (f" (probelab check: {', '.join(self.check_rules)})" if self.check_rules
                 else "")
        return f"{self.sentence} Cure: {self.cure}{found}."


def with_check_rules(causes: list[Cause], rules: set[str]) -> list[Cause]:
    """Each cause with the `probelab check` rules found for the workload that predict it."""
    return [replace(c, check_rules=tuple(r for r in CHECK_RULES[c.key] if r in rules))
            for c in causes]


def _workload_marks(marks: list[PodMark], pod_prefix: str) -> list[PodMark]:
    return sorted((m for m in marks if m.pod.startswith(pod_prefix)), key=lambda m: m.t_s)


def _first(marks: list[PodMark], pod: str, step: PodStep) -> float | None:
    return next((m.t_s for m in marks if m.pod == pod and m.step is step), None)


def proxy_dropped_at(proxy: list[EndpointSample], terminating_s: float | None,
                     lag_s: float = 0.0) -> float | None:
    """When the proxy applied the change that marked the pod terminating: its first applied
    change at least half the configured lag after the pod began terminating. (An earlier
    applied change is an older slice change still in the proxy's queue, e.g. a new pod
    becoming ready during a rolling update; half the lag leaves room for jitter.)"""
    if terminating_s is None:
        return None
    earliest = terminating_s + lag_s / 2 - 0.05
    return next((s.t_s for s in sorted(proxy, key=lambda s: s.t_s) if s.t_s >= earliest), None)


def classify(failure: Failure, marks: list[PodMark], proxy: list[EndpointSample],
             window_s: float = DEFAULT_WINDOW_S,
             lag_s: float = 0.0) -> tuple[str, str | None, float | None]:
    """(cause key, pod, seconds from SIGTERM to the proxy's drop) of one failed request;
    `marks` are the workload's pods' only, sorted by time. A stop explains a failure before a
    start does: in a rolling update both happen together, and a new pod behind a readiness
    probe is not the one refusing."""
    steps = (*STOP_STEPS, PodStep.KILLED, *START_STEPS)
    near = [m for m in marks if m.step in steps
            and failure.t_s - window_s <= m.t_s <= failure.t_s + LATE_S]
    if not near:
        return UNEXPLAINED, None, None
    killed = [m for m in near if m.step is PodStep.KILLED]
    if killed:
        return KILLED, killed[-1].pod, None
    stops = ([m for m in near if m.step in (PodStep.SIGTERM, PodStep.EXITED)]
             or [m for m in near if m.step in STOP_STEPS])
    if not stops:
        return STARTUP, near[-1].pod, None
    pod = stops[-1].pod
    sigterm = _first(marks, pod, PodStep.SIGTERM) or _first(marks, pod, PodStep.EXITED)
    dropped = proxy_dropped_at(proxy, _first(marks, pod, PodStep.TERMINATING), lag_s)
    if sigterm is None:  # terminating, preStop running: the pod still serves; no stop yet
        return (DRAIN if dropped is not None and dropped <= failure.t_s else IN_ENDPOINTS,
                pod, None)
    if dropped is None or dropped > sigterm:
        return IN_ENDPOINTS, pod, (None if dropped is None else dropped - sigterm)
    return DRAIN, pod, None


def attribute(failures: list[Failure], marks: list[PodMark], proxy: list[EndpointSample],
              pod_prefix: str, window_s: float = DEFAULT_WINDOW_S,
              lag_s: float = 0.0) -> list[Cause]:
    """The causes of `failures`, most requests first; `lag_s` is the longest the proxy
    may lag the endpoints (the local engine's --endpoint-delay plus --min-sync-period)."""
    mine = _workload_marks(marks, pod_prefix)
    grouped: dict[str, list[tuple[Failure, str | None, float | None]]] = {}
    for failure in sorted(failures, key=lambda f: f.t_s):
        key, pod, gap = classify(failure, mine, proxy, window_s, lag_s)
        grouped.setdefault(key, []).append((failure, pod, gap))
    causes = [_cause(key, items, window_s) for key, items in grouped.items()]
    return sorted(causes, key=lambda c: (-c.count, c.key))


def _cause(key: str, items: list[tuple[Failure, str | None, float | None]],
           window_s: float) -> Cause:
    classes = Counter(f.cls for f, _, _ in items)
    pods = tuple(sorted({p for _, p, _ in items if p}))
    gaps = [g for _, _, g in items if g is not None]
    what = ", ".join(counted(n, cls) for cls, n in classes.most_common())
    first, last = items[0][0].t_s, items[-1][0].t_s
    when = f"at {first:.1f} s" if f"{first:.1f}" == f"{last:.1f}" else \
        f"between {first:.1f} s and {last:.1f} s"
    who = _pods(pods)
    if key == IN_ENDPOINTS:
        them = "it" if len(pods) == 1 else "them"
        lag = (f" {max(gaps):.1f} s before the proxy stopped routing to {them}" if gaps
               else f" while the proxy still routed to {them}")
        sentence = (f"{what} {when}: after SIGTERM, still in the proxy's endpoints ({who} got "
                    f"SIGTERM{lag}).")
    elif key == DRAIN:
        sentence = (f"{what} {when}: {who} exited after SIGTERM with requests in flight or "
                    "keep-alive connections open, after the proxy had stopped routing new "
                    "connections there.")
    elif key == KILLED:
        sentence = (f"{what} {when}: {who} was killed (SIGKILL) at the end of its "
                    "terminationGracePeriodSeconds with requests in flight.")
    elif key == STARTUP:
        sentence = f"{what} {when}: new {who} got traffic before answering."
    else:
        sentence = (f"{what} {when} with no pod step in the {window_s:.0f} s before them: not "
                    "explained by the rollout timeline.")
    return Cause(key, len(items), dict(classes), pods, first, last, sentence, CURES[key])


def _pods(pods: tuple[str, ...]) -> str:
    if not pods:
        return "a pod"
    if len(pods) <= 3:
        return "pod " + ", ".join(pods) if len(pods) == 1 else "pods " + ", ".join(pods)
    return f"pods {', '.join(pods[:3])} and {len(pods) - 3} more"
