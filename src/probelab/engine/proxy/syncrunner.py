"""When the service proxy syncs its data plane, and what a sync applies (pure, no clock, no I/O).

kube-proxy does not apply each EndpointSlice change on its own: its informers record the change
in a change tracker and ask a `BoundedFrequencyRunner` for a sync; the sync (`syncProxyRules`)
then applies everything recorded so far in one go. The runner
(`pkg/proxy/runner/bounded_frequency_runner.go`, built in `pkg/proxy/iptables/proxier.go` and
`pkg/proxy/nftables/proxier.go` as `NewBoundedFrequencyRunner("sync-runner",
proxier.syncProxyRules, minSyncPeriod, syncPeriod, proxyutil.FullSyncPeriod)`) runs a request
at once when no sync ran within the last `minSyncPeriod`, else at the end of that period,
merging every request made meanwhile into that one sync. `minSyncPeriod` defaults to 1 s for
iptables and nftables (`pkg/proxy/apis/config/v1alpha1/defaults.go`); 0 syncs every change at
once. Older releases (`pkg/util/async/bounded_frequency_runner.go`, `burstSyncs := 2` in the
proxiers) used a token bucket of qps 1/minSyncPeriod and burst 2: after a quiet period, two
syncs could run back to back. `SyncTiming.burst` models both (1 = today's runner).

`syncPeriod` (30 s) is the retry interval after a failed sync and the full resync every hour is
the runner's maxInterval; neither changes what a sync applies here (the local proxy's syncs do
not fail, and it always applies its whole view), so they are not modelled.

The model, in the order a change travels:
1. the proxy's watch sees a change at `seen_s`;
2. it reaches the sync runner `latency_s` later (`--endpoint-delay`: the watch → change
   tracker → Run() path, plus the API server → node propagation on a real cluster);
3. the runner syncs at `next_sync_at(...)`; the sync applies every change that arrived by then
   (`arrived(...)`), in the order seen.

`proxy.component` drives this with one timer; the tests drive it with numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

# kube-proxy's default for iptables and nftables: pkg/proxy/apis/config/v1alpha1/defaults.go
KUBE_PROXY_MIN_SYNC_PERIOD_S = 1.0


@dataclass(frozen=True, slots=True)
class SyncTiming:
    """The runner's parameters."""

    min_period_s: float = KUBE_PROXY_MIN_SYNC_PERIOD_S  # --min-sync-period
    burst: int = 1  # syncs that may run back to back after a quiet period (old runner: 2)

    def __post_init__(self) -> None:
        if self.min_period_s < 0 or self.burst < 1:
            raise ValueError(f"bad sync timing: {self}")


@dataclass(frozen=True, slots=True)
class RunnerState:
    """The runner's token bucket: `tokens` syncs were allowed at `at_s` (refills at one token
    per min_period_s, up to `burst`). A fresh runner has a full bucket: quiet → sync at once."""

    tokens: float
    at_s: float

    @classmethod
    def idle(cls, timing: SyncTiming, now_s: float) -> RunnerState:
        return cls(float(timing.burst), now_s)


@dataclass(frozen=True, slots=True)
class Change(Generic[T]):
    """One change on its way to the data plane."""

    seen_s: float  # when the proxy's watch saw it
    arrives_s: float  # seen_s + latency: when it reaches the sync runner
    item: T


def change(item: T, seen_s: float, latency_s: float) -> Change[T]:
    """A change seen at `seen_s`, handed to the runner `latency_s` later."""
    return Change(seen_s, seen_s + max(0.0, latency_s), item)


def tokens_at(timing: SyncTiming, state: RunnerState, now_s: float) -> float:
    """How many syncs the bucket allows at `now_s` (never more than `burst`)."""
    if timing.min_period_s == 0:
        return float(timing.burst)
    refill = max(0.0, now_s - state.at_s) / timing.min_period_s
    return min(float(timing.burst), state.tokens + refill)


def earliest_sync(timing: SyncTiming, state: RunnerState) -> float:
    """The first instant a sync may run (the bucket holds a whole token)."""
    if timing.min_period_s == 0 or state.tokens >= 1.0:
        return state.at_s
    return state.at_s + (1.0 - state.tokens) * timing.min_period_s


def next_sync_at(timing: SyncTiming, state: RunnerState,
                 pending: Sequence[Change[T]]) -> float | None:
    """When the next sync runs: once the first pending change has reached the runner, at once if
    the bucket allows, else as soon as it does. None when nothing is pending."""
    if not pending:
        return None
    requested = min(c.arrives_s for c in pending)
    return max(requested, earliest_sync(timing, state))


def after_sync(timing: SyncTiming, state: RunnerState, at_s: float) -> RunnerState:
    """The bucket after a sync at `at_s` used one token."""
    return RunnerState(max(0.0, tokens_at(timing, state, at_s) - 1.0), at_s)


def arrived(pending: Sequence[Change[T]],
            at_s: float) -> tuple[tuple[Change[T], ...], tuple[Change[T], ...]]:
    """Split `pending` into what a sync at `at_s` applies (every change that reached the runner
    by then, in the order seen) and what stays pending."""
    now = [c for c in pending if c.arrives_s <= at_s]
    later = [c for c in pending if c.arrives_s > at_s]
    return tuple(now), tuple(later)


def simulate(timing: SyncTiming, latency_s: float,
             seen: Sequence[tuple[float, T]]) -> list[tuple[float, tuple[T, ...]]]:
    """The syncs a sequence of (seen_s, item) changes leads to: [(at_s, items applied)], for
    tests, docs and what-if questions. The component runs the same steps on a real timer."""
    state: RunnerState | None = None
    pending: list[Change[T]] = []
    out: list[tuple[float, tuple[T, ...]]] = []
    queue = sorted(seen, key=lambda s: s[0])
    i = 0
    while i < len(queue) or pending:
        if state is None:
            state = RunnerState.idle(timing, queue[0][0])
        due = next_sync_at(timing, state, pending)
        if i < len(queue) and (due is None or queue[i][0] <= due):
            pending.append(change(queue[i][1], queue[i][0], latency_s))
            i += 1
            continue
        assert due is not None
        applied, rest = arrived(pending, due)
        pending = list(rest)
        state = after_sync(timing, state, due)
        out.append((due, tuple(c.item for c in applied)))
    return out
