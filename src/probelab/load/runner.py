"""One load run, wired: pool + scheduler + record log, stopped by bounds or by a stop event.

`run_load` is what the CLI and the demo (`scenario/loaddriver.py`) call, on their own event
loop. A stop event ends the run early: no new requests start, those in flight get
`STOP_GRACE_S` to finish, the rest are abandoned (counted, not recorded as failures: they
did not fail, we stopped waiting).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from probelab.load.client import REPLAYABLE_METHODS, ConnectionPool
from probelab.load.config import LoadConfig, request_bytes
from probelab.load.fdlimit import connection_cap, fd_note, open_fds, raise_fd_limit
from probelab.load.records import Record, RecordLog
from probelab.load.scheduler import Schedule, Share, closed_model, open_model

STOP_GRACE_S = 1.0


@dataclass
class LoadResult:
    config: LoadConfig
    records: RecordLog
    started_at: float  # wall clock (epoch seconds) of the start
    elapsed_s: float  # from the start until the last request ended or was abandoned
    retries: int  # requests moved to a fresh connection: their pooled one died idle
    resent: int  # requests sent again on a fresh connection after the keep-alive race
    connections: int  # connections opened
    interrupted: bool  # stopped by the stop event (Ctrl-C, the demo) before its bounds
    abandoned: int  # requests in flight when the stop grace ran out
    cpu_s: float = 0.0  # CPU time this process used during the run (all threads)
    concurrency_used: int = 0  # -c, or fewer when that many descriptors are not allowed
    fd_limit: int = 0  # the soft RLIMIT_NOFILE the run had (raised to the hard limit)
    client_errors: int = 0  # requests not sent because of the client's own limits
    client_error_example: str | None = None
    scheduled: int = 0  # open model: requests that came due
    not_sent: int = 0  # open model: due, still waiting for a connection at the end or stop
    client_bound: bool = False  # open model: the client itself was the limit at some point


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (a dependency on Linux): it roughly doubles the request rate."""
    try:
        import uvloop
    except ImportError:  # not on Linux: the standard loop works, just slower
        return None
    return uvloop.new_event_loop


async def run_load(
    config: LoadConfig,
    on_result: Callable[[Record], object] | None = None,
    stop_event: asyncio.Event | None = None,
    log: RecordLog | None = None,
    notify: Callable[[str], object] | None = None,
    share: Share | None = None,
    start_at: float | None = None,
) -> LoadResult:
    """Run the load described by `config` until its bounds or `stop_event`; never raises for
    request failures (they are records). Raises RuntimeFailure if the host cannot be resolved.
    `notify` hears, before the run, what the user should know about the client's own limits
    (`-c` beyond the file-descriptor limit). `share` and `start_at` (a `perf_counter` time,
    the same in every process on Linux) make this one of several processes (`workers`).
    """
    fd_limit = raise_fd_limit()
    asked = config.concurrency
    used = connection_cap(asked, fd_limit, open_fds())
    note = fd_note(asked, used, fd_limit)
    if note is not None:
        config = replace(config, concurrency=used)
        if notify is not None:
            notify(note)
    loop = asyncio.get_running_loop()
    stop = stop_event if stop_event is not None else asyncio.Event()
    if log is None:
        log = RecordLog(on_result)
    elif on_result is not None:
        log.on_result = on_result
    target = config.target
    pool = ConnectionPool(
        target.host,
        target.port,
        request_bytes(config),
        keepalive=not config.disable_keepalive,
        head_only=config.method == "HEAD",
        resend_reused=config.resend_reused and config.method in REPLAYABLE_METHODS,
        sweep_interval_s=min(0.05, config.timeout_s / 10),
    )
    await pool.start()
    if start_at is not None:  # the other workers start at the same moment
        await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
    schedule = Schedule()
    started_at, cpu_start = time.time(), time.process_time()
    start = time.perf_counter() if start_at is None else start_at
    model = (open_model(config, pool, log, stop, start, schedule, share)
             if config.rate_rps is not None else closed_model(config, pool, log, stop, start))
    main = loop.create_task(model, name="load-scheduler")
    stopped = loop.create_task(stop.wait(), name="load-stop-watch")
    abandoned = 0
    try:
        await asyncio.wait({main, stopped}, return_when=asyncio.FIRST_COMPLETED)
        interrupted = stop.is_set()  # now, not at the end: a later stop changes nothing
        if not main.done():
            done, _ = await asyncio.wait({main}, timeout=STOP_GRACE_S)
            if not done:
                abandoned = pool.in_flight
                main.cancel()
                await asyncio.wait({main})
        if main.done() and not main.cancelled() and main.exception() is not None:
            raise main.exception()  # type: ignore[misc]  # a bug, not a request failure
    finally:
        for task in (main, stopped):
            task.cancel()
        pool.close()
    return LoadResult(
        config=replace(config, concurrency=asked),
        records=log,
        started_at=started_at,
        elapsed_s=time.perf_counter() - start,
        retries=pool.retries,
        resent=pool.resent,
        connections=pool.opened,
        interrupted=interrupted,
        abandoned=abandoned,
        cpu_s=time.process_time() - cpu_start,
        concurrency_used=used,
        fd_limit=fd_limit,
        client_errors=pool.client_errors,
        client_error_example=pool.client_error_example,
        scheduled=schedule.scheduled,
        not_sent=schedule.not_sent,
        client_bound=schedule.client_bound,
    )
