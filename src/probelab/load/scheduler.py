"""When requests start: the closed model (`-c` workers back to back) and the open model (`--rate`).

Open model: request i is due at `i / rate_rps` seconds after the start, whatever the server
does; its latency is measured from that scheduled time, so a stalled server shows up as
latency instead of silently lowering the rate (the "coordinated omission" trap). At most
`concurrency` requests are in flight; a due request that finds no free connection waits in a
FIFO backlog, and the wait counts. Closed model: `concurrency` workers, each sending its next
request when the previous one ended.

Both run on `Slot`s: one connection's worth of concurrency that sends a request, records it,
and asks its model for the next one from the completion callback, with no task or future per
request. Both stop starting requests at the first bound reached (requests, duration, stop
event) and let the requests in flight finish (each is bounded by the timeout). The arithmetic
is in pure functions (`due_count`, `open_limit`, `Budget`) tested with tables.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter

from probelab.load.backlog import Backlog
from probelab.load.busy import ClientLoad
from probelab.load.client import (
    IDLE_CHECK_S,
    ConnectionPool,
    HttpConnection,
    retry_after_failure,
    retry_on_fresh_connection,
)
from probelab.load.config import LoadConfig
from probelab.load.outcome import client_side
from probelab.load.records import RecordLog

MAX_TICK_S = 0.05  # the open-model loop wakes at least this often to notice a stop
MIN_TICK_S = 0.001  # and at most this often: due requests go out in batches (each keeps its
# own scheduled time), instead of a busy loop competing with the responses for the CPU
BACKLOG_TIMEOUT = "no free connection within the timeout (raise -c)"


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

    __slots__ = ("end", "left", "stop")

    def __init__(self, requests: int | None, end_time: float | None, stop: asyncio.Event) -> None:
        self.left = requests
        self.end = math.inf if end_time is None else end_time
        self.stop = stop

    def take(self, now: float) -> bool:
        if now >= self.end or self.stop.is_set():
            return False
        left = self.left
        if left is None:
            return True
        if left <= 0:
            return False
        self.left = left - 1
        return True


class Slot:
    """One connection's worth of concurrency: sends one request at a time and records it.

    `run(t0)` starts a request whose latency counts from `t0`; when it ends, `on_done` records
    it and calls `after(slot, now)`, which starts the next one or parks the slot. A slot keeps
    its connection between requests; if the server closed it meanwhile (only possible while
    parked, in the open model), the request goes to a fresh connection and the pool counts a
    retry: nothing had been written on the dead one.
    """

    __slots__ = ("after", "callback", "close_after", "conn", "connecting", "halted", "log",
                 "pool", "request", "resent", "start", "t0", "timeout_s")

    def __init__(self, pool: ConnectionPool, log: RecordLog, timeout_s: float, start: float,
                 after: Callable[[Slot, float], None]) -> None:
        self.pool, self.log, self.after = pool, log, after
        self.timeout_s, self.start = timeout_s, start
        self.request = pool.request_bytes
        self.t0 = 0.0
        self.conn: HttpConnection | None = None
        self.connecting: asyncio.Task[None] | None = None
        self.halted = False  # the run was cancelled: results arriving now are not recorded
        self.resent = False  # the current request already went again (keep-alive race)
        self.callback = self.on_done  # bound once, not once per request
        self.close_after = not pool.keepalive  # --disable-keepalive: one request a connection

    def run(self, t0: float, now: float) -> None:
        """Start a request whose latency counts from `t0`; `now` is the caller's clock reading
        (one per request is enough: the slot never reads the clock twice)."""
        self.t0 = t0
        self.resent = False
        conn = self.conn
        if conn is not None and (conn.closed or (now - conn.done_at >= IDLE_CHECK_S
                                                 and conn.closed_while_idle(now))):
            if retry_on_fresh_connection(conn.requests > 0, conn.idle_closed, False):
                self.pool.retries += 1
            conn = self.conn = None
        if conn is None:
            self.connecting = asyncio.get_running_loop().create_task(self._connect_and_send())
        else:
            conn.send(self.request, t0 + self.timeout_s, self.callback)

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
        conn.send(self.request, deadline, self.callback)

    def on_done(self, conn: HttpConnection | None, exc: BaseException | None) -> None:
        if exc is None and conn is not None and not self.halted:  # a response: the hot path
            now = conn.done_at
            t0 = self.t0
            self.log.add(t0 - self.start, now - t0, conn.status, conn.version, conn.pod, None)
            if self.close_after:
                conn.close()
            self.after(self, now)
        elif not self.halted:
            self._failed(conn, exc)

    def _failed(self, conn: HttpConnection | None, exc: BaseException | None) -> None:
        if exc is not None and conn is not None and self.pool.resend_reused \
                and not self.resent and retry_after_failure(conn.requests > 1, conn.got, exc):
            # The keep-alive race: the same request on a fresh connection, within its deadline
            # (its latency still counts from t0).
            self.resent = True
            self.pool.resent += 1
            self.conn = None
            self.connecting = asyncio.get_running_loop().create_task(self._connect_and_send())
            return
        t0 = self.t0
        now = conn.done_at if conn is not None else perf_counter()
        if exc is not None and client_side(exc):  # never sent: counted apart, in no class
            self.pool.count_client_error(exc)
            self.conn = None
            self.after(self, now)
            return
        self.log.add(t0 - self.start, now - t0, None, None, None, exc)
        self.after(self, now)

    def halt(self) -> None:
        self.halted = True
        if self.connecting is not None:
            self.connecting.cancel()
        if self.conn is not None:
            self.conn.close()


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

    def after(slot: Slot, now: float) -> None:
        if budget.take(now):
            slot.run(now, now)
            return
        if slot.conn is not None:
            slot.conn.close()
        running[0] -= 1
        if running[0] == 0 and not finished.done():
            finished.set_result(None)

    slots = [Slot(pool, log, config.timeout_s, start, after) for _ in range(count)]
    try:
        now = perf_counter()
        for slot in slots:
            after(slot, now)
        await finished
    finally:
        for slot in slots:
            slot.halt()


@dataclass(frozen=True)
class Share:
    """This process's part of an open-model run spread over `count` processes (--workers):
    request k of the whole schedule is this one's when k % count == index, so together they
    send exactly the schedule one process would (due at k / rate), from one common start."""

    index: int = 0
    count: int = 1

    def limit(self, total: int | None) -> int | None:
        """How many of the run's first `total` requests are this share's."""
        return None if total is None else max(0, -(-(total - self.index) // self.count))


@dataclass
class Schedule:
    """What the open model owed and did not do: requests that came due, and those of them it
    never sent: still waiting for a connection when the run ended or was stopped, or past
    their timeout in the queue while the client itself was the limit. Not sent is not a
    failure of the server: those requests are counted here, in no class."""

    scheduled: int = 0
    not_sent: int = 0
    client_bound: bool = False  # the client was the limit at some point (busy.ClientLoad)


async def open_model(
    config: LoadConfig, pool: ConnectionPool, log: RecordLog, stop: asyncio.Event, start: float,
    schedule: Schedule | None = None, share: Share | None = None,
) -> None:
    """Send on schedule until the limit, the end of the duration or the stop, whichever first.

    At the end of the duration (or at the stop) the requests still waiting for a connection
    are not sent and are counted in `schedule.not_sent`: the run ends when asked, not a
    timeout later, and a client that cannot keep up with `--rate` does not report its own
    queue as the server's timeouts. With only -n, the last ones wait as usual. A queued
    request past its timeout is the server's `no free connection` timeout when the client was
    not the limit meanwhile (`busy.ClientLoad`), else one more request not sent.
    """
    loop = asyncio.get_running_loop()
    rate = config.rate_rps
    assert rate is not None
    tally = schedule if schedule is not None else Schedule()
    timeout_s = config.timeout_s
    share = share if share is not None else Share()
    limit = share.limit(open_limit(config.requests, config.duration_s, rate))
    end = math.inf if config.duration_s is None else start + config.duration_s
    first = start + share.index / rate  # this share's requests: first + j * count / rate
    rate /= share.count
    backlog = Backlog(first, rate, timeout_s, pool.sweep_interval_s)
    idle: list[Slot] = []
    busy = [0]
    drained = loop.create_future()

    load = ClientLoad(perf_counter())

    def expire(now: float) -> None:
        late = backlog.expired(now)
        if not late:
            return
        if load.bound:  # the client could not send them on time: its own doing, in no class
            tally.not_sent += len(late)
            return
        for scheduled in late:  # every connection was held by the server all along
            log.add(scheduled - start, now - scheduled, None, None, None,
                    TimeoutError(BACKLOG_TIMEOUT))

    def dispatch(now: float) -> None:
        while idle and (scheduled := backlog.next_sendable(now)) is not None:
            busy[0] += 1
            idle.pop().run(scheduled, now)

    def after(slot: Slot, now: float) -> None:
        if backlog.due > backlog.head or backlog.doomed:
            expire(now)
            if now < end and not stop.is_set():
                scheduled = backlog.next_sendable(now)
                if scheduled is not None:
                    slot.run(scheduled, now)
                    return
        busy[0] -= 1
        idle.append(slot)  # LIFO: the most recently used connection is the warmest
        if busy[0] == 0 and done_scheduling and not drained.done():
            drained.set_result(None)

    slots = [Slot(pool, log, timeout_s, start, after) for _ in range(config.concurrency)]
    idle.extend(reversed(slots))
    done_scheduling = False
    try:
        while not stop.is_set() and (limit is None or backlog.due < limit):
            now = perf_counter()
            backlog.due += due_count(now - first, rate, backlog.due, limit)
            tally.scheduled = backlog.due
            tally.client_bound |= load.update(now)
            expire(now)
            dispatch(now)
            wait = backlog.scheduled(backlog.due) - perf_counter()
            await asyncio.sleep(min(max(wait, MIN_TICK_S), MAX_TICK_S))
        done_scheduling = True
        while backlog and not stop.is_set():  # the last due requests still waiting
            now = perf_counter()
            if now >= end:
                break
            tally.client_bound |= load.update(now)
            expire(now)
            dispatch(now)
            await asyncio.sleep(min(MAX_TICK_S, max(MIN_TICK_S, end - now)))
        tally.not_sent += backlog.drop()
        if busy[0] > 0:
            await drained
    finally:
        tally.not_sent += backlog.drop()  # cancelled (stop grace over): still accounted
        for slot in slots:
            slot.halt()
