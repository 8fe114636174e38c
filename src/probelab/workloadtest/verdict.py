"""Pass or fail of one scenario, and of the whole test (pure).

A scenario fails when a request failed beyond what `--max-failures` / `--max-error-rate`
allow, when its rollout did not complete in `--rollout-timeout`, or when the Service never
answered cleanly before the action — and a scenario that never measured anything fails too.
The rule that matters most: a rollout that never finished never passes, however clean the
traffic looked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from probelab.report.model import RunRecord
from probelab.workloadtest.attribution import Cause
from probelab.workloadtest.timeline import Termination


@dataclass
class ScenarioResult:
    """What one scenario measured (filled by `run.py`, read by the verdict and the outputs)."""

    scenario: str  # label, e.g. "scale-down=1"
    action: str = ""  # "scale 3 -> 1"
    requests: int = 0
    failed: int = 0
    totals: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    rollout_s: float | None = None  # action -> rollout complete; None = did not complete
    rollout_problem: str = ""  # why the rollout did not complete (pods, events)
    ready_problem: str = ""  # the workload was never fully rolled out before the action
    setup_problem: str = ""  # the Service never answered cleanly before the action
    skipped: str = ""  # not run, and why (an earlier scenario left the workload broken)
    causes: list[Cause] = field(default_factory=list)
    resent: int = 0
    not_sent: int = 0  # due on the schedule, never sent: the load client fell behind
    terminations: list[Termination] = field(default_factory=list)
    termination_summary: str = ""  # one line: preStop, SIGTERM -> exit, SIGKILL, grace
    record: RunRecord | None = None  # the load series and pod timeline, for --json
    round: int = 1  # which repeat (--repeat N: 1..N)

    def name(self, repeated: bool) -> str:
        """The scenario's label, with its round when the test repeats scenarios."""
        return self.scenario + (f" #{self.round}" if repeated else "")


@dataclass(frozen=True)
class Limits:
    max_failures: int = 0
    max_error_rate: float | None = None  # percent


@dataclass(frozen=True)
class Judgement:
    passed: bool
    kind: str  # "" (passed), "NotServing", "RolloutIncomplete", "RequestsFailed", "Skipped", ...
    message: str  # one line: why it failed, or what passed


def error_rate(result: ScenarioResult) -> float:
    return 100.0 * result.failed / result.requests if result.requests else 0.0


def failures_allowed(result: ScenarioResult, limits: Limits) -> bool:
    """Within `--max-failures`, or within `--max-error-rate` when given (either relaxes)."""
    if result.failed <= limits.max_failures:
        return True
    return limits.max_error_rate is not None and error_rate(result) <= limits.max_error_rate


def judge(result: ScenarioResult, limits: Limits) -> Judgement:
    if result.skipped:
        return Judgement(False, "Skipped", f"not run: {result.skipped}")
    if result.ready_problem:
        return Judgement(False, "RolloutIncomplete", f"before the action: {result.ready_problem}")
    if result.setup_problem:
        return Judgement(False, "NotServing", result.setup_problem)
    if result.rollout_s is None:
        return Judgement(False, "RolloutIncomplete",
                         result.rollout_problem or "rollout did not complete")
    if result.requests == 0:
        return Judgement(False, "NoRequests", "no request was sent during the scenario")
    if result.not_sent:  # the server was never asked for these: no pass can rest on them
        return Judgement(False, "ClientBehind", f"the load client could not send "
                         f"{result.not_sent} scheduled requests (lower --rate)")
    if not failures_allowed(result, limits):
        rate = f" ({error_rate(result):.2f} %)"
        return Judgement(False, "RequestsFailed",
                         f"{result.failed} of {result.requests} requests failed{rate}")
    extra = f", {result.failed} failed within the limits" if result.failed else ""
    return Judgement(True, "", f"{result.requests} requests{extra}; rollout complete in "
                               f"{result.rollout_s:.1f} s")


def repeated(results: list[ScenarioResult]) -> bool:
    return any(r.round > 1 for r in results)


def tally(results: list[ScenarioResult], limits: Limits) -> list[tuple[str, int, int]]:
    """Per scenario label, in order: (label, rounds failed, rounds run) — `--repeat`'s k/N."""
    counts: dict[str, list[int]] = {}
    for result in results:
        entry = counts.setdefault(result.scenario, [0, 0])
        entry[0] += not judge(result, limits).passed
        entry[1] += 1
    return [(label, failed, total) for label, (failed, total) in counts.items()]


def overall(results: list[ScenarioResult], limits: Limits) -> tuple[bool, str]:
    """The test passes when every scenario passed (and at least one ran); with repeats, the
    message says per scenario how many of its rounds failed (k/N)."""
    if not results:
        return False, "no scenario ran"
    judged = [(r, judge(r, limits)) for r in results]
    bad = [r for r, j in judged if not j.passed]
    if repeated(results):
        counts = ", ".join(f"{label} {k}/{n} failed" for label, k, n in tally(results, limits))
        if bad:
            return False, f"{len(bad)} of {len(results)} runs failed: {counts}"
        return True, f"all {len(results)} runs passed: {counts}"
    if bad:
        names = ", ".join(f"{r.scenario} ({judge(r, limits).kind})" for r in bad)
        return False, f"{len(bad)} of {len(results)} scenario(s) failed: {names}"
    return True, f"all {len(results)} scenario(s) passed"
