"""When requests start: the closed model (`-c` workers back to back) and the open model (`--rate`).

Open model: request i is due at `i / rate_rps` seconds after the start, whatever the server
does; its latency is measured from that scheduled time, so a stalled server shows up as
latency instead of silently lowering the rate (the "coordinated omission" trap). At most
`concurrency` requests are in flight; a due request that finds none free waits, and the wait
counts. Closed model: `concurrency` workers, each sending its next request when the previous
one ended.

Both stop starting requests at the first bound reached (requests, duration, stop event) and
let the requests in flight finish (each is bounded by the timeout). The arithmetic is in pure
functions (`due_count`, `Budget`) tested with tables.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from time import perf_counter

from probelab.load.client import ConnectionPool, HttpConnection
from probelab.load.config import LoadConfig
from probelab.load.records import RecordLog

MAX_TICK_S = 0.05  # the open-model loop wakes at least this often to notice a stop


def due_count(elapsed_s: float, rate_rps: float, sent: int, limit: int | None) -> int:
    """How many requests must start now: those scheduled at or before `elapsed_s`, not yet sent.

    `limit` is the total the run may send (from -n and/or the duration), None for no limit.
    """
    if elapsed_s < 0:
        return 0
    scheduled = math.floor(elapsed_s * rate_rps + 1e-9) + 1
    if limit is not None:
        scheduled = min(scheduled, limit)
    return max(0, scheduled - sent)


def open_limit(requests: int | None, duration_s: float | None, rate_rps: float) -> int | None:
    """Requests an open-model run sends: -n, or those scheduled strictly inside the duration."""
    by_time = None if duration_s is None else max(1, math.ceil(duration_s * rate_rps - 1e-9))
    if requests is None:
        return by_time
    return requests if by_time is None else min(requests, by_time)


class Budget:
    """Closed model: hands out permission for the next request until a bound is reached."""

    __slots__ = ("end", "halted", "left", "stop")

    def __init__(self, requests: int | None, end_time: float | None, stop: asyncio.Event) -> None:
        self.left = requests
        self.end = end_time
        self.stop = stop
        self.halted = False  # the run was cancelled: results arriving now are not recorded

    def take(self, now: float) -> bool:
        if self.halted or self.stop.is_set() or (self.end is not None and now >= self.end):
            return False
        if self.left is None:
            return True
        if self.left <= 0:
            return False
        self.left -= 1
        return True


async def closed_model(
    config: LoadConfig, pool: ConnectionPool, log: RecordLog, stop: asyncio.Event, start: float
) -> None:
    loop = asyncio.get_running_loop()
    end = None if config.duration_s is None else start + config.duration_s
    budget = Budget(config.requests, end, stop)
    count = config.concurrency
    if config.requests is not None:
        count = min(count, config.requests)
    finished = loop.create_future()
    running = [count]

    def worker_done() -> None:
        running[0] -= 1
        if running[0] == 0 and not finished.done():
            finished.set_result(None)

    workers = [_Worker(pool, log, budget, config.timeout_s, start, worker_done)
               for _ in range(count)]
    try:
        for worker in workers:
            worker.next()
        await finished
    finally:
        budget.halted = True
        for worker in workers:
            if worker.connecting is not None:
                worker.connecting.cancel()


class _Worker:
    """One closed-model slot with its own connection; sends the next request from the previous
    one's completion.

    No coroutine per request: `next` writes on the worker's connection and `on_done` (called by
    the connection) records the result and calls `next` again, so a connection is never idle
    and the pool's idle-retry rule has nothing to do here. Only connecting needs a task.
    """

    __slots__ = ("budget", "conn", "connecting", "finished", "log", "pool", "request", "start",
                 "t0", "timeout_s")

    def __init__(self, pool: ConnectionPool, log: RecordLog, budget: Budget, timeout_s: float,
                 start: float, finished: Callable[[], None]) -> None:
        self.pool, self.log, self.budget = pool, log, budget
        self.timeout_s, self.start, self.finished = timeout_s, start, finished
        self.request = pool.request_bytes
        self.t0 = 0.0
        self.conn: HttpConnection | None = None
        self.connecting: asyncio.Task[None] | None = None

    def next(self, now: float | None = None) -> None:
        if now is None:
            now = perf_counter()
        if not self.budget.take(now):
            if self.conn is not None:
                self.conn.close()
            self.finished()
            return
        self.t0 = now
        conn = self.conn
        if conn is None or conn.closed:
            self.conn = None
            self.connecting = asyncio.get_running_loop().create_task(self._connect_and_send())
        else:
            conn.send(self.request, now + self.timeout_s, self.on_done)

    async def _connect_and_send(self) -> None:
        deadline = self.t0 + self.timeout_s
        try:
            conn = await self.pool.connect(deadline)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.connecting = None
            self.on_done(None, exc)
            return
        self.connecting = None
        self.conn = conn
        conn.send(self.request, deadline, self.on_done)

    def on_done(self, conn: HttpConnection | None, exc: BaseException | None) -> None:
        if self.budget.halted:
            return
        t0 = self.t0
        now = perf_counter()
        if exc is None and conn is not None:
            self.log.add(t0 - self.start, now - t0, conn.status, conn.version, conn.pod, None)
            if not self.pool.keepalive:
                conn.close()
        else:
            self.log.add(t0 - self.start, now - t0, None, None, None, exc)
        self.next(now)


async def open_model(
    config: LoadConfig, pool: ConnectionPool, log: RecordLog, stop: asyncio.Event, start: float
) -> None:
    loop = asyncio.get_running_loop()
    rate = config.rate_rps
    assert rate is not None
    limit = open_limit(config.requests, config.duration_s, rate)
    slots = asyncio.Semaphore(config.concurrency)
    tasks: set[asyncio.Task[None]] = set()
    sent = 0
    try:
        while not stop.is_set() and (limit is None or sent < limit):
            for _ in range(due_count(perf_counter() - start, rate, sent, limit)):
                scheduled = start + sent / rate
                task = loop.create_task(_one(pool, log, slots, scheduled, config.timeout_s, start))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            wait = start + sent / rate - perf_counter()
            if wait > 0:
                await asyncio.sleep(min(wait, MAX_TICK_S))
            else:
                await asyncio.sleep(0)
        if tasks:
            await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


async def _one(
    pool: ConnectionPool,
    log: RecordLog,
    slots: asyncio.Semaphore,
    scheduled: float,
    timeout_s: float,
    start: float,
) -> None:
    time = perf_counter
    deadline = scheduled + timeout_s
    try:
        if slots.locked():
            try:
                async with asyncio.timeout(max(0.0, deadline - time())):
                    await slots.acquire()
            except TimeoutError:
                raise TimeoutError("no free connection within the timeout (-c too low?)") from None
        else:
            await slots.acquire()
        try:
            conn = await pool.request(deadline)
        finally:
            slots.release()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.add(scheduled - start, time() - scheduled, None, None, None, exc)
    else:
        log.add(scheduled - start, time() - scheduled, conn.status, conn.version, conn.pod, None)
