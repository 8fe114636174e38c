"""Waiting on a condition with a bound: `wait_until` in plain code, `until` in an event loop.

Tests wait for what they need to see, never for a fixed time: a fixed sleep is too short on a
loaded machine and wasted time on an idle one. Both poll the same way and fail the same way,
naming what they waited for and the last error the predicate raised.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

TIMEOUT_S = 20.0
INTERVAL_S = 0.02
# A server that is not up yet refuses or resets the connection; that is "not yet", not failure.
NOT_YET = (OSError, ConnectionError)


class _Poll(Generic[T]):
    """One bounded wait: each call asks the predicate and returns its value if truthy, None if
    not yet, and raises once the deadline has passed (after a last ask, so a slow last poll
    cannot fail a condition that holds)."""

    def __init__(self, predicate: Callable[[], T], timeout_s: float, what: str) -> None:
        self.predicate, self.timeout_s, self.what = predicate, timeout_s, what
        self.deadline = time.monotonic() + timeout_s

    def __call__(self) -> T | None:
        try:
            value = self.predicate()
        except NOT_YET as exc:
            value, last_exc = None, exc
        else:
            last_exc = None
        if value:
            return value
        if time.monotonic() >= self.deadline:
            detail = f": {last_exc!r}" if last_exc is not None else ""
            raise AssertionError(f"timed out after {self.timeout_s}s waiting for "
                                 f"{self.what or self.predicate}{detail}")
        return None


def wait_until(predicate: Callable[[], T], *, timeout_s: float = TIMEOUT_S, what: str = "",
               interval_s: float = INTERVAL_S) -> T:
    """Poll `predicate` until it returns something truthy and return that."""
    poll = _Poll(predicate, timeout_s, what)
    while not (value := poll()):
        time.sleep(interval_s)
    return value


async def until(predicate: Callable[[], T], *, timeout_s: float = TIMEOUT_S, what: str = "",
                interval_s: float = INTERVAL_S) -> T:
    """`wait_until` inside an event loop: it yields to the loop between polls, so the
    components under test (in the same loop) make the progress it waits for."""
    poll = _Poll(predicate, timeout_s, what)
    while not (value := poll()):
        await asyncio.sleep(interval_s)
    return value
