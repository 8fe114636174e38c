"""Whether the client itself is the bottleneck right now: the test behind "not sent on time".

In the open model a due request waits for a connection. When the server holds every
connection, that wait is the server's (the request times out as `no free connection`). When
the client cannot keep up with `--rate`, the wait is the client's own: it was never sent on
time, and must not show up as a server timeout. Which one it is shows in the process: a
client that is the bottleneck never waits for the network; it is either on a CPU or queued
for one. Linux counts both per thread (`/proc/thread-self/schedstat`: time on a CPU, time
waiting on a run queue), so the test holds on a busy, shared machine too, where the process
gets only part of a core. Elsewhere, CPU time alone.
"""

from __future__ import annotations

import time

BOUND_SHARE = 0.9  # of the wall time busy (on a CPU or queued for one): the client is the limit
WINDOW_S = 0.2  # how long a window the share is measured over


def busy_seconds() -> float:
    """Time this thread has been on a CPU or waiting for one, in seconds."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as f:
            running, waiting = f.read().split()[:2]
        return (int(running) + int(waiting)) / 1e9
    except (OSError, ValueError):
        return time.thread_time()


def client_bound(busy_s: float, wall_s: float) -> bool:
    """Whether a window in which the thread was busy `busy_s` of `wall_s` says it is the limit."""
    return wall_s > 0 and busy_s >= BOUND_SHARE * wall_s


class ClientLoad:
    """`bound`: whether the last complete window (WINDOW_S) said the client is the limit.
    `update(now)` is cheap between windows (a comparison); it reads the counters once a window.
    """

    __slots__ = ("bound", "busy0", "t0")

    def __init__(self, now: float) -> None:
        self.t0 = now
        self.busy0 = busy_seconds()
        self.bound = False

    def update(self, now: float) -> bool:
        if now - self.t0 >= WINDOW_S:
            busy = busy_seconds()
            self.bound = client_bound(busy - self.busy0, now - self.t0)
            self.t0, self.busy0 = now, busy
        return self.bound
