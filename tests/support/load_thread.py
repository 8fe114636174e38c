"""`probelab load`'s own runner over real sockets, in a thread with its own event loop, so a
test sees every finished request while it acts (e.g. "the new version answers") and stops it
the way the demo does, by its stop event.

Records carry the pod that answered (the sample service's `X-Pod-Name`) and its version.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable

from probelab.load.config import LoadConfig
from probelab.load.outcome import Outcome
from probelab.load.records import Record
from probelab.load.runner import LoadResult, run_load
from support.waiting import wait_until


class LoadThread:
    """`run_load` in a thread, bounded by `duration_s` whatever the test does; `records` fill
    as requests end; `stop()` ends it and returns the result.

    `rate_rps` makes it an open model (the rate does not drop when pods fail); without it,
    `concurrency` workers send back to back. Entering waits for `warm_up` OK answers, so a test
    that then acts on the service knows the load reached it first.
    """

    def __init__(self, url: str, rate_rps: float | None = None, *, concurrency: int = 6,
                 duration_s: float = 120, timeout_s: float = 10, keepalive: bool = True,
                 warm_up: int = 0) -> None:
        self.config = LoadConfig(url=url, requests=None, duration_s=duration_s,
                                 rate_rps=rate_rps, concurrency=concurrency,
                                 timeout_s=timeout_s, disable_keepalive=not keepalive)
        self.warm_up = warm_up
        self.records: list[Record] = []  # appended on the load's thread, read here
        self.result: LoadResult | None = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="load", daemon=True)

    def __enter__(self) -> LoadThread:
        self._thread.start()
        wait_until(lambda: (self._stop is not None and self.ok_count() >= self.warm_up)
                   or not self._thread.is_alive(), timeout_s=15, what="the load's first answers")
        assert self._thread.is_alive(), f"the load ended early: {self.error!r}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self.result = await run_load(self.config, on_result=self.records.append,
                                         stop_event=self._stop)

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by stop(), not lost in the thread
            self.error = exc

    def wait_for(self, predicate: Callable[[list[Record]], bool], what: str,
                 timeout_s: float = 30) -> None:
        wait_until(lambda: predicate(list(self.records)), timeout_s=timeout_s, what=what)

    def stop(self) -> LoadResult:
        """End it; a load that reached its own bound first did not cover what the test did."""
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        if self.error is not None:
            raise self.error
        assert self.result is not None
        assert self.result.interrupted, "the load reached its bound before the actions ended"
        return self.result

    # ---- what it saw -----------------------------------------------------------------------
    def ok_count(self, since: int = 0) -> int:
        return sum(1 for r in self.records[since:] if r.outcome is Outcome.OK)

    def failures(self, since: int = 0) -> Counter[str]:
        return Counter(r.outcome.value for r in self.records[since:]
                       if r.outcome is not Outcome.OK)

    def versions(self, since: int = 0) -> Counter[str | None]:
        return Counter(r.version for r in self.records[since:] if r.outcome is Outcome.OK)

    def describe(self, since: int = 0) -> str:
        records = self.records[since:]
        failed = [r for r in records if r.outcome is not Outcome.OK]
        errors = {r.outcome.value: r.error for r in failed}
        when = [round(r.start_s, 2) for r in failed[:20]]
        resent = self.result.resent if self.result is not None else 0
        return (f"{len(records)} requests, {len(failed)} failed {dict(self.failures(since))} "
                f"{errors} (first at s {when}); {resent} resent after the keep-alive race")


def proof_load(url: str, rate_rps: float, keepalive: bool = True) -> LoadThread:
    """The load of the end-to-end proofs: an open model at `rate_rps` with room for slow
    answers (50 workers, 5 s timeout), bounded well past the longest proof, and started only
    once 50 requests have succeeded, so a failure later is the action's, not the start's."""
    return LoadThread(url, rate_rps, concurrency=50, duration_s=150, timeout_s=5,
                      keepalive=keepalive, warm_up=50)
