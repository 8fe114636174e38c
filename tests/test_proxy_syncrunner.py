"""Table tests of kube-proxy's sync timing (`proxy.syncrunner`): numbers in, syncs out, no clock.

Each row: the runner's parameters, the watch → runner latency, the instants the proxy's watch
saw changes, and the syncs that must follow as (at, changes applied).
"""

import pytest

from probelab.engine.proxy.syncrunner import (
    RunnerState,
    SyncTiming,
    after_sync,
    arrived,
    change,
    earliest_sync,
    next_sync_at,
    simulate,
    tokens_at,
)

ROWS = [
    # quiet runner: the first change syncs as soon as it reaches the runner
    ("quiet, no latency", SyncTiming(1.0), 0.0, [(10.0, "a")], [(10.0, ("a",))]),
    ("quiet, the latency", SyncTiming(1.0), 0.25, [(10.0, "a")], [(10.25, ("a",))]),
    # busy: a second change within the period waits for its end
    ("busy: once per period", SyncTiming(1.0), 0.0, [(0.0, "a"), (0.2, "b")],
     [(0.0, ("a",)), (1.0, ("b",))]),
    # everything that arrived during the period is applied together, in the order seen
    ("accumulated", SyncTiming(1.0), 0.0, [(0.0, "a"), (0.1, "b"), (0.5, "c"), (0.9, "d")],
     [(0.0, ("a",)), (1.0, ("b", "c", "d"))]),
    # a change after a quiet period (> min period since the last sync) syncs at once again
    ("quiet again", SyncTiming(1.0), 0.0, [(0.0, "a"), (1.5, "b"), (1.7, "c")],
     [(0.0, ("a",)), (1.5, ("b",)), (2.5, ("c",))]),
    # a steady stream every 0.3 s: one sync per second, never more
    ("stream", SyncTiming(1.0), 0.0, [(0.3 * i, i) for i in range(8)],
     [(0.0, (0,)), (1.0, (1, 2, 3)), (2.0, (4, 5, 6)), (3.0, (7,))]),
    # the latency delays arrival; the period counts from the sync
    ("latency and period", SyncTiming(1.0), 0.5, [(0.0, "a"), (0.1, "b"), (1.2, "c")],
     [(0.5, ("a",)), (1.5, ("b",)), (2.5, ("c",))]),
    # a change that reaches the runner during the period is applied with the waiting ones
    # at its end, one that reaches it later waits for the next
    ("arrives during the wait", SyncTiming(1.0), 0.3, [(0.0, "a"), (0.1, "b"), (0.65, "c")],
     [(0.3, ("a",)), (1.3, ("b", "c"))]),
    # minSyncPeriod 0: every change syncs as soon as it arrives
    ("no min period", SyncTiming(0.0), 0.1, [(0.0, "a"), (0.05, "b")],
     [(0.1, ("a",)), (0.15, ("b",))]),
    # the old runner's burst of 2: two back-to-back syncs after a quiet period, then one per
    # period
    ("burst 2", SyncTiming(1.0, burst=2), 0.0, [(0.0, "a"), (0.1, "b"), (0.2, "c"), (0.3, "d")],
     [(0.0, ("a",)), (0.1, ("b",)), (1.0, ("c", "d"))]),
]


@pytest.mark.parametrize(("timing", "latency", "seen", "syncs"),
                         [row[1:] for row in ROWS], ids=[row[0] for row in ROWS])
def test_syncs(timing: SyncTiming, latency: float, seen, syncs) -> None:
    got = simulate(timing, latency, seen)
    assert [(round(at, 6), items) for at, items in got] == syncs


def test_a_fresh_runner_is_quiet_and_each_sync_uses_a_token() -> None:
    timing = SyncTiming(2.0)
    state = RunnerState.idle(timing, 0.0)
    assert earliest_sync(timing, state) == 0.0
    state = after_sync(timing, state, 5.0)
    assert tokens_at(timing, state, 5.0) == 0.0
    assert earliest_sync(timing, state) == 7.0
    assert tokens_at(timing, state, 6.0) == 0.5
    assert tokens_at(timing, state, 100.0) == 1.0  # never more than the burst


def test_nothing_pending_means_no_sync() -> None:
    timing = SyncTiming()
    assert next_sync_at(timing, RunnerState.idle(timing, 0.0), []) is None


def test_arrived_splits_by_arrival_and_keeps_the_order_seen() -> None:
    pending = [change("a", 0.0, 1.0), change("b", 0.1, 1.0), change("c", 0.5, 1.0)]
    now, later = arrived(pending, 1.2)
    assert [c.item for c in now] == ["a", "b"]
    assert [c.item for c in later] == ["c"]
    assert later[0].seen_s == 0.5 and later[0].arrives_s == 1.5


@pytest.mark.parametrize("timing", [(-1.0, 1), (1.0, 0)])
def test_bad_timing_is_refused(timing) -> None:
    with pytest.raises(ValueError):
        SyncTiming(*timing)
