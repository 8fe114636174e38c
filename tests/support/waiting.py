"""Waiting on a condition with a bound: `wait_until` in plain code, `until` in an event loop.

Tests wait for what they need to see, never for a fixed time: a fixed sleep is too short on a
loaded machine and wasted time on an idle one. Both poll the same way and fail the same way,
naming what they waited for and the last error the predicate raised.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

TIMEOUT_S = 20.0
INTERVAL_S = 0.02
# A server that is not up yet refuses or resets the connection; that is "not yet", not failure.
NOT_YET = (OSError, ConnectionError)


def _poll(predicate: Callable[[], T]) -> tuple[T | None, BaseException | None]:
    try:
        return predicate(), None
    except NOT_YET as exc:
        return None, exc


def _timed_out(predicate: Callable[[], object], timeout_s: float, what: str,
               last_exc: BaseException | None) -> AssertionError:
    detail = f": {last_exc!r}" if last_exc is not None else ""
    return AssertionError(f"timed out after {timeout_s}s waiting for {what or predicate}{detail}")


def wait_until(predicate: Callable[[], T], *, timeout_s: float = TIMEOUT_S, what: str = "",
               interval_s: float = INTERVAL_S) -> T:
    """Poll `predicate` until it returns something truthy and return that; the predicate is
    asked once more at the deadline, so a slow last poll cannot fail a condition that holds."""
    deadline = time.monotonic() + timeout_s
    while True:
        value, last_exc = _poll(predicate)
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _timed_out(predicate, timeout_s, what, last_exc)
        time.sleep(interval_s)


async def until(predicate: Callable[[], T], *, timeout_s: float = TIMEOUT_S, what: str = "",
                interval_s: float = INTERVAL_S) -> T:
    """`wait_until` inside an event loop: it yields to the loop between polls, so the
    components under test (in the same loop) make the progress it waits for."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value, last_exc = _poll(predicate)
        if value:
            return value
        if loop.time() >= deadline:
            raise _timed_out(predicate, timeout_s, what, last_exc)
        await asyncio.sleep(interval_s)
