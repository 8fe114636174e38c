"""Runs as a whole: the open model keeps its schedule when the server stalls, latency counts
from the scheduled time, bounds and the stop event end runs, and the demo's driver API works.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from probelab.load.config import LoadConfig
from probelab.load.outcome import Outcome
from probelab.load.runner import run_load
from probelab.load.scheduler import BACKLOG_TIMEOUT
from probelab.report.model import RunRecord
from probelab.scenario.loaddriver import LoadRun, fill_record
from support.faulty_http import Behaviour, LoopServer
from support.waiting import until


def test_open_model_keeps_sending_while_the_server_holds_every_response() -> None:
    """Steps: rate 200/s, 20 requests, a server that answers nothing until released; all 20
    reach the server while none is answered (a closed model would stop at -c); release."""

    async def main() -> None:
        server = LoopServer(Behaviour.HOLD)
        await server.start()
        try:
            config = LoadConfig(url=server.url, requests=20, rate_rps=200, concurrency=50)
            run = asyncio.ensure_future(run_load(config))
            await until(lambda: server.requests == 20, what="all 20 requests sent")
            assert server.answered == 0
            server.release.set()
            result = await run
        finally:
            await server.stop()
        assert Counter(r.outcome for r in result.records) == {Outcome.OK: 20}
        assert server.connections == 20  # every one needed its own connection: none was free

    asyncio.run(main())


def test_closed_model_waits_for_responses() -> None:
    async def main() -> None:
        server = LoopServer(Behaviour.HOLD)
        await server.start()
        try:
            run = asyncio.ensure_future(
                run_load(LoadConfig(url=server.url, requests=20, concurrency=3)))
            await until(lambda: server.requests == 3, what="3 workers sent")
            for _ in range(5):  # give the loop a few turns: nothing more may be sent
                await asyncio.sleep(0)
            assert server.requests == 3
            server.release.set()
            result = await run
        finally:
            await server.stop()
        assert len(result.records) == 20 and server.requests == 20

    asyncio.run(main())


def test_open_model_latency_counts_from_the_scheduled_time() -> None:
    """With one connection and held responses, requests queue; each keeps its scheduled start
    offset (i / rate) and its latency includes the queueing, so start + latency is never
    before the moment the test released the server."""

    async def main() -> None:
        server = LoopServer(Behaviour.HOLD)
        await server.start()
        try:
            config = LoadConfig(url=server.url, requests=5, rate_rps=100, concurrency=1)
            run = asyncio.ensure_future(run_load(config))
            await until(lambda: server.requests == 1, what="the first request")
            first = time.perf_counter()  # the run started before this
            await until(lambda: time.perf_counter() - first > 0.1, what="all 5 are due")
            assert server.requests == 1
            released = time.perf_counter() - first  # a lower bound of release - run start
            server.release.set()
            result = await run
        finally:
            await server.stop()
        starts = sorted(r.start_s for r in result.records)
        assert starts == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04])
        assert all(r.start_s + r.latency_s >= released for r in result.records)

    asyncio.run(main())


def test_duration_bound_and_stop_event() -> None:
    async def main() -> None:
        server = LoopServer(Behaviour.ANSWER)
        await server.start()
        try:
            timed = await run_load(LoadConfig(url=server.url, requests=None, duration_s=0.3,
                                              rate_rps=50))
            assert len(timed.records) == 15 and not timed.interrupted
            before = server.answered  # the timed run's 15: the 50 below are the next run's
            stop = asyncio.Event()
            run = asyncio.ensure_future(run_load(
                LoadConfig(url=server.url, requests=None, duration_s=3600, concurrency=4),
                stop_event=stop))
            await until(lambda: server.answered - before >= 50, what="some load")
            stop.set()
            stopped = await run
            assert stopped.interrupted and len(stopped.records) >= 50
            assert Counter(r.outcome for r in stopped.records) == {Outcome.OK: len(
                stopped.records)}
        finally:
            await server.stop()

    asyncio.run(main())


def _stopped_run(behaviour: Behaviour, ready, **kw):  # type: ignore[no-untyped-def]
    """A run against a server behaving so, stopped once `await ready(server)` returns."""

    async def main():  # type: ignore[no-untyped-def]
        server = LoopServer(behaviour)
        await server.start()
        try:
            stop = asyncio.Event()
            run = asyncio.ensure_future(run_load(
                LoadConfig(url=server.url, requests=None, duration_s=60, **kw),
                stop_event=stop))
            await ready(server)
            stop.set()
            return await run
        finally:
            await server.stop()

    return asyncio.run(main())


def test_stop_abandons_requests_that_outlive_the_grace() -> None:
    async def ready(server: LoopServer) -> None:
        await until(lambda: server.requests == 3, what="3 hanging requests")

    result = _stopped_run(Behaviour.HANG, ready, concurrency=3, timeout_s=60)
    assert result.interrupted and result.abandoned == 3 and len(result.records) == 0


def test_demo_driver_collects_per_second_buckets() -> None:
    async def main() -> RunRecord:
        server = LoopServer(Behaviour.ANSWER, status=200, version="2.0")
        await server.start()
        try:
            driver = LoadRun(server.url, rate_rps=100, keepalive=True, timeout_s=2, max_s=30)
            stop = asyncio.Event()
            run = asyncio.ensure_future(driver.run(stop))
            await until(lambda: driver.counters()["requests"] >= 30, what="30 results")
            stop.set()
            await run
        finally:
            await server.stop()
        assert driver.counters()["failed"] == 0
        record = RunRecord(variant="v", scenario="s", keepalive=True, rate_rps=100)
        fill_record(record, driver.result)
        return record

    record = asyncio.run(main())
    assert record.totals["ok"] >= 30 and set(record.totals) == {"ok"}
    assert record.seconds[0].by_version == {"2.0": record.seconds[0].by_class["ok"]}
    assert record.seconds[0].p50_ms is not None and record.seconds[0].p99_ms is not None
    assert set(record.latency_ms) == {"p50", "p90", "p99", "max"}
    assert record.failure_times == {} and record.error_examples == {}


@pytest.mark.parametrize("rate", [1000, 100])
def test_open_model_requests_waiting_for_a_connection_time_out_too(rate) -> None:
    """One connection, a server that never answers, 5 requests 1 ms (10 ms) apart: the first
    times out in flight; those queued behind it expire in the backlog. When the connection
    frees (at most one sweep interval, 50 ms, after the first one's deadline), they have less
    than that left: none is sent, whatever the timing. It used to be a race: 2 failures in 12
    runs 1 ms apart, and nearly always 10 ms apart (the connection went to one of them)."""

    async def main():  # type: ignore[no-untyped-def]
        server = LoopServer(Behaviour.HANG)
        await server.start()
        try:
            return await run_load(LoadConfig(url=server.url, requests=5, rate_rps=rate,
                                             concurrency=1, timeout_s=0.5)), server
        finally:
            await server.stop()

    result, server = asyncio.run(main())
    assert [r.outcome for r in result.records] == [Outcome.TIMEOUT] * 5
    assert server.requests == 1
    errors = Counter(r.error for r in result.records)
    assert errors == {"no complete response within the timeout": 1,
                      "no free connection within the timeout (raise -c)": 4}


def test_open_model_stops_at_the_duration_and_counts_what_the_client_did_not_send() -> None:
    """--rate 1000000 for 0.3 s: far more than this client can send. The run ends at the
    duration, not a timeout later; the requests it could not send are counted as not sent
    (the client's), never as the server's timeouts. It used to run on for the timeout and
    report the client's own queue as timeouts."""

    async def main():  # type: ignore[no-untyped-def]
        server = LoopServer(Behaviour.ANSWER)
        await server.start()
        try:
            return await run_load(LoadConfig(url=server.url, requests=None, duration_s=0.3,
                                             rate_rps=1_000_000, concurrency=20, timeout_s=5))
        finally:
            await server.stop()

    result = asyncio.run(main())
    outcomes = Counter(r.outcome for r in result.records)
    assert set(outcomes) == {Outcome.OK}
    assert result.scheduled == 300_000
    assert 0 < result.not_sent == result.scheduled - len(result.records)
    assert result.elapsed_s < result.config.timeout_s  # did not wait out the timeout


def test_stop_during_a_stall_still_accounts_for_every_due_request() -> None:
    """Open model, a server that holds every response, -c 3: three requests hang in flight and
    the next due ones wait for a connection. Stopping then reports all of them: the three as
    abandoned, the waiting ones as not sent; nothing due disappears silently."""

    async def ready(server: LoopServer) -> None:
        await until(lambda: server.requests == 3, what="3 held requests")
        first = time.perf_counter()
        await until(lambda: time.perf_counter() - first > 0.05, what="more due requests")

    result = _stopped_run(Behaviour.HOLD, ready, rate_rps=200, concurrency=3, timeout_s=30)
    assert result.interrupted and result.abandoned == 3 and len(result.records) == 0
    assert result.not_sent >= 7  # at 200/s, at least 10 came due in those 50 ms
    assert len(result.records) + result.abandoned + result.not_sent == result.scheduled


def test_a_client_that_cannot_keep_the_rate_does_not_report_its_queue_as_timeouts() -> None:
    """--rate 1000000 -n 200000 (no duration): the requests this client could not send wait
    in its queue past their timeout. The client was the limit (never idle), so they are not
    sent, the client's, not the server's `no free connection` timeouts (it reported 192,200
    of those). Requests it did send, late, keep their deadline from the schedule: on a busy
    machine a few may still time out (connecting or in flight), which the run's client_bound
    tells apart."""

    async def main():  # type: ignore[no-untyped-def]
        server = LoopServer(Behaviour.ANSWER)
        await server.start()
        try:
            return await run_load(LoadConfig(url=server.url, requests=200_000,
                                             rate_rps=1_000_000, concurrency=20,
                                             timeout_s=0.5))
        finally:
            await server.stop()

    result = asyncio.run(main())
    errors = Counter(r.error for r in result.records)
    assert errors[BACKLOG_TIMEOUT] == 0 and errors[None] > 0
    assert {r.outcome for r in result.records} <= {Outcome.OK, Outcome.TIMEOUT}  # sent late
    assert result.client_bound and result.not_sent > 0
    assert len(result.records) + result.not_sent == result.scheduled == 200_000
