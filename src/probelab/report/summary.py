"""Pure summaries of demo runs: the table rows, one explaining sentence per run, the verdict.

The sentence names the failure classes, when they happened, and the mechanism the timeline
points to (docs/architecture.md, "Why requests fail"): a failure shortly after a pod got its
stop signal is the termination race; one shortly after a new pod started, before it was Ready,
is the startup race.
"""

from __future__ import annotations

from dataclasses import dataclass

from probelab.report.model import FAILURE_CLASSES, PodStep, RunRecord

# How far back from a failure we look for the pod step that explains it: the proxy's endpoint
# lag plus a little scheduling slack.
CAUSE_WINDOW_S = 3.0

# (singular, plural) so that "1 connection reset" reads right.
CLASS_WORDS = {
    "refused": ("connection refused", "connections refused"),
    "reset": ("connection reset", "connections reset"),
    "closed": ("connection closed before a response", "connections closed before a response"),
    "unreachable": ("host unreachable", "hosts unreachable"),
    "timeout": ("timeout", "timeouts"),
    "http_5xx": ("5xx response", "5xx responses"),
    "http_4xx": ("4xx response", "4xx responses"),
    "other": ("other error", "other errors"),
}


def counted(count: int, cls: str) -> str:
    """`count` requests of class `cls` in words, singular or plural."""
    one, many = CLASS_WORDS[cls]
    return f"{count} {one if count == 1 else many}"


@dataclass(frozen=True)
class Row:
    variant: str
    scenario: str
    requests: int
    ok: int
    refused: int
    reset: int
    closed: int
    unreachable: int
    timeout: int
    http_5xx: int
    duration_s: float
    explanation: str


def _cause(run: RunRecord, times: list[float]) -> str:
    """Which pod step most of the failures follow closely."""
    steps = {PodStep.SIGTERM: 0, PodStep.EXITED: 0, PodStep.STARTED: 0, PodStep.TERMINATING: 0}
    for t in times:
        recent = [m for m in run.pod_marks if m.step in steps and t - CAUSE_WINDOW_S <= m.t_s <= t]
        if recent:
            steps[max(recent, key=lambda m: m.t_s).step] += 1
    stop = steps[PodStep.SIGTERM] + steps[PodStep.EXITED] + steps[PodStep.TERMINATING]
    start = steps[PodStep.STARTED]
    if not stop and not start:
        return "no pod step explains them closely; see the timeline"
    if stop >= start:
        return ("pods stopped listening while still in the proxy's endpoints "
                "(no preStop delay to cover the endpoint propagation lag)")
    return "new pods got traffic before they listened (ready without a readiness probe)"


def _resent(run: RunRecord) -> str:
    if not run.resent:
        return ""
    return (f" {run.resent} request{'s' if run.resent > 1 else ''} met the keep-alive race (a "
            "reused connection closed before any response byte) and went once more on a new "
            "connection, as hey and browsers do.")


def _not_sent(run: RunRecord) -> str:
    if not run.not_sent:
        return ""
    return (f" The load client could not send {run.not_sent} request"
            f"{'s' if run.not_sent > 1 else ''} on schedule (its own limit, not the server's), "
            "so this run does not show zero downtime.")


def explain(run: RunRecord) -> str:
    """One sentence on what happened in the run (and more when requests were resent or not
    sent)."""
    if run.requests == 0:
        return "No requests were sent."
    if run.failed == 0:
        action = f" during {run.action}" if run.action else ""
        return (f"All {run.requests} requests succeeded{action}.{_resent(run)}"
                f"{_not_sent(run)}")
    parts = []
    all_times: list[float] = []
    for cls in FAILURE_CLASSES:
        times = sorted(run.failure_times.get(cls, []))
        count = run.totals.get(cls, 0)
        if not count:
            continue
        all_times.extend(times)
        when = ""
        if times:
            first, last = f"{times[0]:.1f}", f"{times[-1]:.1f}"
            when = f" at {first} s" if first == last else f" between {first} s and {last} s"
        parts.append(f"{counted(count, cls)}{when}")
    sentence = "; ".join(parts)
    cause = _cause(run, all_times)
    note = ""
    if run.local_engine and run.totals.get("reset") and not run.totals.get("refused"):
        note = (" (behind a real cluster's iptables these would mostly show as refused; the local "
                "proxy has already accepted the connection when the pod refuses it)")
    return f"{sentence}: {cause}{note}.{_resent(run)}{_not_sent(run)}"


def row(run: RunRecord) -> Row:
    t = run.totals
    return Row(
        variant=run.variant, scenario=run.scenario, requests=run.requests, ok=t.get("ok", 0),
        refused=t.get("refused", 0), reset=t.get("reset", 0), closed=t.get("closed", 0),
        unreachable=t.get("unreachable", 0), timeout=t.get("timeout", 0),
        http_5xx=t.get("http_5xx", 0),
        duration_s=round(run.duration_s, 1), explanation=explain(run),
    )


def verdict(runs: list[RunRecord]) -> tuple[bool, str]:
    """The demo passes when every withprobes run had zero failed requests, completed its
    rollout and sent every scheduled request."""
    bad = [r for r in runs if r.variant == "withprobes" and r.failed]
    if bad:
        names = ", ".join(f"{r.variant}/{r.scenario} ({r.failed} failed)" for r in bad)
        return False, f"withprobes runs with failures: {names}"
    stalled = [r for r in runs if r.variant == "withprobes" and r.rollout_done_at_s is None]
    if stalled:  # a rollout that never finished never passes, however clean the traffic
        names = ", ".join(f"{r.variant}/{r.scenario}" for r in stalled)
        return False, f"withprobes runs whose rollout did not complete: {names}"
    unsent = [r for r in runs if r.variant == "withprobes" and r.not_sent]
    if unsent:  # a pass needs every scheduled request answered, not merely none failed
        names = ", ".join(f"{r.variant}/{r.scenario} ({r.not_sent} not sent)" for r in unsent)
        return False, f"the load client could not keep its schedule: {names}"
    probes = [r for r in runs if r.variant == "withprobes"]
    noprobes_failed = [r for r in runs if r.variant == "noprobes" and r.failed]
    if probes:
        msg = f"every withprobes run had zero failures ({len(probes)} of {len(probes)})"
    else:
        msg = "no withprobes run in this matrix"
    if noprobes_failed:
        msg += f"; {len(noprobes_failed)} noprobes run(s) showed failures"
    return True, msg
