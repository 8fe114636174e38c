"""Table tests of the kubelet's pure rules: probe defaults, gating and thresholds, restart
back-off, the termination plan. No processes, no sleeping; times are plain numbers."""

from __future__ import annotations

import pytest

from probelab.engine.kubelet.probe_rules import (
    Gate,
    ProbeSpec,
    ProbeType,
    Result,
    container_probes,
    container_ready,
    container_started,
    initial_state,
    next_probe_at,
    next_probe_state,
    probe_gate,
    probe_spec,
)
from probelab.engine.kubelet.restart import (
    INITIAL_BACKOFF_S,
    MAX_BACKOFF_S,
    Backoff,
    RestartPolicy,
    backoff_wait,
    exit_code_of,
    exit_reason,
    next_backoff,
    should_restart,
)
from probelab.engine.kubelet.termination import (
    KillPlan,
    KillReason,
    grace_end_after_shortening,
    grace_period_s,
    kill_at_after_shortening,
    killing_message,
    plan_kill,
    stop_timeout_s,
)

S, F, U = Result.SUCCESS, Result.FAILURE, Result.UNKNOWN
R, L, ST = ProbeType.READINESS, ProbeType.LIVENESS, ProbeType.STARTUP

# ---- probe defaults ---------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "type_", "expected"), [
    ({"httpGet": {"port": 8080}}, R, (0, 10, 1, 1, 3)),
    ({"tcpSocket": {"port": 1}, "periodSeconds": 0, "timeoutSeconds": 0}, R, (0, 10, 1, 1, 3)),
    ({"exec": {"command": ["true"]}, "initialDelaySeconds": 5, "periodSeconds": 2,
      "timeoutSeconds": 3, "successThreshold": 2, "failureThreshold": 4}, R, (5, 2, 3, 2, 4)),
    ({"httpGet": {"port": 1}, "successThreshold": 3}, L, (0, 10, 1, 1, 3)),  # must be 1
    ({"httpGet": {"port": 1}, "successThreshold": 3}, ST, (0, 10, 1, 1, 3)),
    ({"httpGet": {"port": 1}, "periodSeconds": -4, "initialDelaySeconds": -1}, R,
     (0, 1, 1, 1, 3)),  # below the minimum
])
def test_probe_defaults_and_minimums(raw, type_, expected) -> None:
    spec = probe_spec(raw, type_)
    assert (spec.initial_delay_s, spec.period_s, spec.timeout_s, spec.success_threshold,
            spec.failure_threshold) == expected


def test_probe_handler_and_container_probes() -> None:
    container = {"readinessProbe": {"httpGet": {"path": "/h", "port": "admin"}},
                 "livenessProbe": {"tcpSocket": {"port": 8080},
                                   "terminationGracePeriodSeconds": 4}}
    probes = container_probes(container)
    assert set(probes) == {R, L}
    assert probes[R].handler_kind == "httpGet" and probes[R].handler["port"] == "admin"
    assert probes[L].handler_kind == "tcpSocket" and probes[L].termination_grace_s == 4


def test_initial_results() -> None:
    assert initial_state(R).result is F  # not ready until a probe succeeds
    assert initial_state(L).result is S  # alive until proven otherwise
    assert initial_state(ST).result is U


# ---- thresholds -------------------------------------------------------------------------------


def _walk(type_: ProbeType, outcomes: list[Result], success: int = 1, failure: int = 3):
    spec = ProbeSpec(type_, "httpGet", {}, success_threshold=success, failure_threshold=failure)
    state = initial_state(type_)
    published = []
    for outcome in outcomes:
        state = next_probe_state(state, outcome, spec)
        published.append(state.result)
    return published, state


@pytest.mark.parametrize(("type_", "outcomes", "success", "failure", "expected"), [
    # readiness: one success makes it ready; failures flip it only after 3 in a row
    (R, [S, F, F, F], 1, 3, [S, S, S, F]),
    (R, [S, F, F, S, F, F, F], 1, 3, [S, S, S, S, S, S, F]),
    # successThreshold 2: two successes in a row before ready
    (R, [S, F, S, S], 2, 3, [F, F, F, S]),
    # failureThreshold 1: the first failure counts
    (R, [S, F], 1, 1, [S, F]),
    # a prober error is not counted and does not break a run
    (R, [F, U, F, F], 1, 3, [F, F, F, F]),
    (R, [S, S, U, F, F, U, F], 1, 3, [S, S, S, S, S, S, F]),
    # liveness starts alive and flips after the threshold
    (L, [F, F, S, F, F, F], 1, 3, [S, S, S, S, S, F]),
    # startup: unknown until the first success or enough failures
    (ST, [F, F, S], 1, 3, [U, U, S]),
    (ST, [F, F, F], 1, 3, [U, U, F]),
])
def test_results_flip_only_at_thresholds(type_, outcomes, success, failure, expected) -> None:
    published, _ = _walk(type_, outcomes, success, failure)
    assert published == expected


@pytest.mark.parametrize(("type_", "on_hold"), [(L, True), (ST, True), (R, False)])
def test_liveness_and_startup_failures_put_the_worker_on_hold(type_, on_hold) -> None:
    _, state = _walk(type_, [F, F, F])
    assert state.result is F
    assert state.on_hold is on_hold
    if on_hold:
        assert state.run == 0


# ---- gating -----------------------------------------------------------------------------------


def _spec(type_: ProbeType, delay: int = 0, period: int = 10) -> ProbeSpec:
    return ProbeSpec(type_, "tcpSocket", {}, initial_delay_s=delay, period_s=period)


@pytest.mark.parametrize(("type_", "delay", "running_for", "started", "terminating", "gate"), [
    (R, 0, 0.0, True, False, Gate.PROBE),
    (R, 5, 4.9, True, False, Gate.WAIT),  # initial delay
    (R, 5, 5.0, True, False, Gate.PROBE),
    (R, 0, 1.0, False, False, Gate.WAIT),  # held back by the startup probe
    (L, 0, 1.0, False, False, Gate.WAIT),
    (ST, 0, 1.0, False, False, Gate.PROBE),
    (ST, 0, 1.0, True, False, Gate.STOP),  # startup done
    (R, 0, 1.0, True, True, Gate.PROBE),  # readiness goes on while terminating
    (L, 0, 1.0, True, True, Gate.STOP),  # liveness stops on deletion
    (ST, 0, 1.0, False, True, Gate.STOP),
    (R, 5, 1.0, True, True, Gate.WAIT),
])
def test_probe_gate(type_, delay, running_for, started, terminating, gate) -> None:
    spec = _spec(type_, delay)
    assert probe_gate(spec, running_for_s=running_for, started=started,
                      terminating=terminating) is gate


@pytest.mark.parametrize(("delay", "period", "last", "now", "expected"), [
    (0, 10, None, 100.0, 100.0),  # first probe at once
    (5, 10, None, 100.0, 105.0),  # after the initial delay
    (5, 10, None, 107.0, 107.0),
    (0, 10, 100.0, 101.0, 110.0),  # then every period
    (0, 2, 100.0, 130.0, 102.0),  # a late worker probes at once (caller compares with now)
])
def test_next_probe_at(delay, period, last, now, expected) -> None:
    assert next_probe_at(_spec(R, delay, period), 100.0, last, now) == expected


@pytest.mark.parametrize(("running", "startup", "started"), [
    (False, None, False), (True, None, True), (True, U, False), (True, F, False),
    (True, S, True), (False, S, False),
])
def test_container_started(running, startup, started) -> None:
    assert container_started(running, startup) is started


@pytest.mark.parametrize(("running", "started", "readiness", "ready"), [
    (True, True, None, True),  # no readiness probe: ready as soon as it runs
    (True, True, F, False),
    (True, True, S, True),
    (True, False, None, False),  # startup not done
    (False, False, S, False),
])
def test_container_ready(running, started, readiness, ready) -> None:
    assert container_ready(running, started, readiness) is ready


# ---- restarts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "code", "restart"), [
    ("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False), ("OnFailure", 137, True),
    ("Never", 1, False), (None, 0, True), ("Bogus", 0, True),
])
def test_restart_policy(policy, code, restart) -> None:
    spec = {"restartPolicy": policy} if policy else {}
    assert should_restart(RestartPolicy.of(spec), code) is restart


def test_backoff_sequence_doubles_to_five_minutes() -> None:
    """A container crashing at once every time: 0, 10, 20, 40, … 300, 300 s of waiting."""
    now, entry, waits = 1000.0, None, []
    for _ in range(9):
        exited_at = now  # it exits the moment it starts
        wait = backoff_wait(entry, exited_at, now)
        waits.append(wait)
        now += wait
        entry = next_backoff(entry, exited_at, now)
    assert waits == [0, 10, 20, 40, 80, 160, 300, 300, 300]
    assert entry == Backoff(MAX_BACKOFF_S, now)


@pytest.mark.parametrize(("entry", "exited_at", "now", "wait"), [
    (None, 100.0, 100.0, 0.0),
    (Backoff(10, 100.0), 105.0, 105.0, 10.0),
    (Backoff(10, 100.0), 105.0, 112.0, 3.0),
    (Backoff(10, 100.0), 105.0, 120.0, 0.0),
    (Backoff(300, 100.0), 700.0, 700.0, 300.0),  # 600 s is not yet stale
    (Backoff(300, 100.0), 700.5, 700.5, 0.0),  # ran over 10 min: back-off forgotten
])
def test_backoff_wait(entry, exited_at, now, wait) -> None:
    assert backoff_wait(entry, exited_at, now) == wait


def test_backoff_resets_after_ten_minutes_of_running() -> None:
    assert next_backoff(Backoff(160, 0.0), 601.0, 601.0) == Backoff(INITIAL_BACKOFF_S, 601.0)
    assert next_backoff(Backoff(160, 0.0), 599.0, 599.0) == Backoff(300, 599.0)


@pytest.mark.parametrize(("returncode", "code", "sig", "reason"), [
    (0, 0, None, "Completed"), (3, 3, None, "Error"), (-9, 137, 9, "Error"),
    (-15, 143, 15, "Error"),
])
def test_exit_codes(returncode, code, sig, reason) -> None:
    assert exit_code_of(returncode) == (code, sig)
    assert exit_reason(code) == reason


# ---- termination ------------------------------------------------------------------------------


def _pod(deletion: int | None = None, spec: int | None = None) -> dict:
    pod: dict = {"metadata": {}, "spec": {}}
    if deletion is not None:
        pod["metadata"]["deletionGracePeriodSeconds"] = deletion
    if spec is not None:
        pod["spec"]["terminationGracePeriodSeconds"] = spec
    return pod


@pytest.mark.parametrize(("pod", "reason", "probe", "grace"), [
    (_pod(), KillReason.DELETED, None, 30),
    (_pod(spec=45), KillReason.DELETED, None, 45),
    (_pod(deletion=10, spec=45), KillReason.DELETED, None, 10),
    (_pod(deletion=0, spec=45), KillReason.DELETED, None, 1),  # never below 1
    (_pod(spec=45), KillReason.LIVENESS, {"terminationGracePeriodSeconds": 3}, 3),
    (_pod(spec=45), KillReason.LIVENESS, {}, 45),
    (_pod(deletion=10), KillReason.STARTUP, {"terminationGracePeriodSeconds": 2}, 2),
    (_pod(spec=7), KillReason.SHUTDOWN, None, 7),
])
def test_grace_period(pod, reason, probe, grace) -> None:
    assert grace_period_s(pod, reason, probe) == grace


@pytest.mark.parametrize(("grace", "prestop", "hook_elapsed", "plan", "timeout"), [
    (30, False, 0.0, KillPlan(30, False, 0), 30),  # no hook: the whole grace after SIGTERM
    (30, True, 10.0, KillPlan(30, True, 30), 20),  # the hook's time is part of the grace
    (30, True, 10.9, KillPlan(30, True, 30), 20),  # whole seconds are taken off (truncation)
    (30, True, 29.5, KillPlan(30, True, 30), 2),  # never less than 2 s
    (30, True, 30.0, KillPlan(30, True, 30), 2),  # hook overran: 2 s more, grace + 2 in all
    (1, False, 0.0, KillPlan(1, False, 0), 2),
    (1, True, 1.0, KillPlan(1, True, 1), 2),
])
def test_kill_plan_and_stop_timeout(grace, prestop, hook_elapsed, plan, timeout) -> None:
    got = plan_kill(grace, prestop)
    assert got == plan
    assert stop_timeout_s(got, hook_elapsed) == timeout


@pytest.mark.parametrize(("end", "now", "grace", "expected"), [
    (130.0, 110.0, 60, 130.0),  # a longer grace changes nothing
    (130.0, 110.0, 5, 115.0),  # counted from the second delete
    (130.0, 110.0, 0, 111.0),  # at least 1 s
])
def test_a_second_delete_may_only_shorten_the_grace(end, now, grace, expected) -> None:
    assert grace_end_after_shortening(end, now, grace) == expected


@pytest.mark.parametrize(("kill_at", "now", "grace", "expected"), [
    (140.0, 110.0, 60, 140.0),
    (140.0, 110.0, 5, 115.0),
    (140.0, 110.0, 1, 112.0),  # the 2 s floor still holds
])
def test_a_shorter_grace_after_sigterm_brings_sigkill_forward(kill_at, now, grace,
                                                              expected) -> None:
    assert kill_at_after_shortening(kill_at, now, grace) == expected


@pytest.mark.parametrize(("elapsed", "left", "timeout"), [
    (10.5, 19.5, 20),  # no second delete: the same as without `grace_left_s`
    (10.5, 4.2, 5),  # a second delete left 4.2 s: rounded up, never cut short
    (10.5, 0.3, 2),  # the floor
])
def test_stop_timeout_after_a_shorter_grace(elapsed, left, timeout) -> None:
    assert stop_timeout_s(plan_kill(30, True), elapsed, left) == timeout


@pytest.mark.parametrize(("reason", "message"), [
    (KillReason.DELETED, "Stopping container web"),
    (KillReason.SHUTDOWN, "Stopping container web"),
    (KillReason.LIVENESS, "Container web failed liveness probe, will be restarted"),
    (KillReason.STARTUP, "Container web failed startup probe, will be restarted"),
])
def test_killing_message(reason, message) -> None:
    assert killing_message("web", reason) == message
