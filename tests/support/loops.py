"""Running a test's coroutine on a fresh event loop of a chosen kind, with a bound.

Each test gets its own loop (nothing leaks between tests through a shared one), and the bound
turns a hang into a failure that names the test instead of a pytest-timeout kill.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

LOOPS = ["asyncio", "uvloop"]  # the proxy's data plane must work on both


def run(coro: Coroutine[Any, Any, None], loop: str = "asyncio", timeout_s: float = 120) -> None:
    factory = None
    if loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(asyncio.wait_for(coro, timeout_s))
