"""Each terminating pod's timeline against its grace period (pure): how long the preStop hook
held it, how long it took from SIGTERM to exit, and whether the kubelet had to SIGKILL it.

From the pod steps the observer recorded (the kubelet's Events carry their own microsecond
times). This is what tells "the app drains too slowly for its grace period" apart from "the
hook is too short", which the request failures alone cannot.
"""

from __future__ import annotations

from dataclasses import dataclass

from probelab.report.model import PodMark, PodStep


@dataclass(frozen=True)
class Termination:
    pod: str
    terminating_s: float  # deletionTimestamp seen, seconds since the load began
    prestop_s: float | None  # preStop start -> SIGTERM (None: no hook, or not seen)
    exit_s: float | None  # SIGTERM -> process exit (None: not seen)
    killed: bool  # SIGKILL at the end of the grace period


EARLIER_S = -0.5  # a step this long before the load began belongs to an earlier scenario
ENDED_STEPS = (PodStep.PRESTOP, PodStep.SIGTERM, PodStep.EXITED, PodStep.KILLED)


def this_run(marks: list[PodMark]) -> list[PodMark]:
    """The marks without the pods an earlier scenario already stopped.

    A new watch replays what it finds: the Events of pods stopped in an earlier scenario (with
    their own, earlier, eventTime) and those pods' last state, which shows up as a fresh
    `terminating` when the watch delivers it. Those pods must not explain this scenario's
    failures nor count as terminated in it; their stop Events' times tell them apart."""
    old = {m.pod for m in marks if m.step in ENDED_STEPS and m.t_s < EARLIER_S}
    return [m for m in marks if m.pod not in old]


def terminations(marks: list[PodMark], pod_prefix: str) -> list[Termination]:
    """One entry per workload pod that began terminating during the run, in that order."""
    by_pod: dict[str, dict[PodStep, float]] = {}
    for mark in sorted(marks, key=lambda m: m.t_s):
        if mark.pod.startswith(pod_prefix):
            by_pod.setdefault(mark.pod, {}).setdefault(mark.step, mark.t_s)
    out = []
    for pod, steps in by_pod.items():
        if PodStep.TERMINATING not in steps:
            continue
        prestop, sigterm = steps.get(PodStep.PRESTOP), steps.get(PodStep.SIGTERM)
        end = steps.get(PodStep.EXITED, steps.get(PodStep.KILLED))
        out.append(Termination(
            pod=pod, terminating_s=steps[PodStep.TERMINATING],
            prestop_s=None if prestop is None or sigterm is None else sigterm - prestop,
            exit_s=None if sigterm is None or end is None else max(0.0, end - sigterm),
            killed=PodStep.KILLED in steps))
    return sorted(out, key=lambda t: t.terminating_s)


def _span(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.1f} s" if f"{low:.1f}" == f"{high:.1f}" else f"{low:.1f}-{high:.1f} s"


def summary(items: list[Termination], grace_s: int) -> str:
    """`3 pods terminated: preStop 2.0 s, SIGTERM -> exit 0.0-0.1 s, no SIGKILL (grace 10 s)`."""
    if not items:
        return ""
    n = len(items)
    parts = []
    hooks = [t.prestop_s for t in items if t.prestop_s is not None]
    parts.append(f"preStop {_span(hooks)}" if hooks else "no preStop hook ran")
    exits = [t.exit_s for t in items if t.exit_s is not None]
    if exits:
        parts.append(f"SIGTERM -> exit {_span(exits)}")
    killed = [t.pod for t in items if t.killed]
    parts.append(f"{len(killed)} SIGKILLed" if killed else "no SIGKILL")
    return (f"{n} pod{'s' if n > 1 else ''} terminated: " + ", ".join(parts)
            + f" (terminationGracePeriodSeconds {grace_s})")
