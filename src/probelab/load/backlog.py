"""The open model's due requests that wait for a free connection: a FIFO with deadlines.

Request i is scheduled at `start + i / rate`, and requests leave the queue in that order, so
the queue is an index range `[head, due)`, not a list: a client far behind a high rate
(`--rate 1000000`) holds millions of due requests without a float object each, and counts
the ones it never sent in O(1). Pure: the caller passes the clock.
"""

from __future__ import annotations

from collections import deque


def worth_sending(deadline: float, now: float, precision_s: float) -> bool:
    """Whether a request waiting for a connection still has time to be sent: more than the
    precision of the timeouts (the pool's sweep interval) before its deadline. One with less
    could only race its own deadline, and timing noise would decide between "connect timed
    out", "no complete response" and "no free connection"; it stays queued and expires at its
    deadline as "no free connection within the timeout"."""
    return deadline - now > precision_s


class Backlog:
    """Due requests not yet sent, oldest first; `due` is how many have come due so far."""

    __slots__ = ("doomed", "due", "head", "precision_s", "rate", "start", "timeout_s")

    def __init__(self, start: float, rate: float, timeout_s: float, precision_s: float) -> None:
        self.start, self.rate = start, rate
        self.timeout_s, self.precision_s = timeout_s, precision_s
        self.head = 0  # index of the oldest request still waiting in the range
        self.due = 0  # requests scheduled so far (sent, expired or waiting)
        self.doomed: deque[float] = deque()  # passed over (not worth sending): expire later

    def __len__(self) -> int:
        return self.due - self.head + len(self.doomed)

    def scheduled(self, i: int) -> float:
        return self.start + i / self.rate

    def next_sendable(self, now: float) -> float | None:
        """The scheduled time of the oldest request worth sending now (taken off the queue),
        or None. Requests passed over wait in `doomed` for their deadline."""
        while self.head < self.due:
            scheduled = self.start + self.head / self.rate
            self.head += 1
            if worth_sending(scheduled + self.timeout_s, now, self.precision_s):
                return scheduled
            self.doomed.append(scheduled)
        return None

    def expired(self, now: float) -> list[float]:
        """Take off the queue, and return the scheduled times of, the requests whose timeout
        has passed while they waited."""
        out = []
        timeout_s, doomed = self.timeout_s, self.doomed
        while doomed and doomed[0] + timeout_s <= now:
            out.append(doomed.popleft())
        while self.head < self.due:
            scheduled = self.start + self.head / self.rate
            if scheduled + timeout_s > now:
                break
            out.append(scheduled)
            self.head += 1
        return out

    def drop(self) -> int:
        """Empty the queue (the run ends): how many requests it held, never sent."""
        dropped = len(self)
        self.head = self.due
        self.doomed.clear()
        return dropped
