"""The load client against real sockets: every outcome class from a tiny server that causes it,
response framing, and the keep-alive retry rule (only a request never sent is retried).
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter

import pytest
import uvloop

from probelab.load.client import ConnectionPool
from probelab.load.config import LoadConfig
from probelab.load.outcome import Outcome
from probelab.load.runner import run_load
from support.faulty_http import Behaviour, LoopServer
from support.sockets import free_port


@pytest.fixture(autouse=True, params=["asyncio", "uvloop"])
def loop_kind(request) -> str:  # type: ignore[no-untyped-def]
    """Every test runs on both loops: the CLI uses uvloop, the demo whatever loop it runs on."""
    global LOOP_FACTORY
    LOOP_FACTORY = uvloop.new_event_loop if request.param == "uvloop" else None
    return request.param


LOOP_FACTORY = None


def arun(coro):  # type: ignore[no-untyped-def]
    with asyncio.Runner(loop_factory=LOOP_FACTORY) as runner:
        return runner.run(coro)


def load(url: str, **kw):  # type: ignore[no-untyped-def]
    return arun(_load(url, **kw))


async def _load(url: str, **kw) -> tuple:  # type: ignore[no-untyped-def]
    kw.setdefault("requests", 6)
    kw.setdefault("concurrency", 3)
    result = await run_load(LoadConfig(url=url, **kw))
    return result


def run_against(behaviour: Behaviour, status: int = 200, **kw):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        server = LoopServer(behaviour, status=status)
        await server.start()
        try:
            result = await _load(server.url, **kw)
        finally:
            await server.stop()
        return result, server

    return arun(main())


@pytest.mark.parametrize(
    ("behaviour", "status", "expected"),
    [
        (Behaviour.ANSWER, 200, Outcome.OK),
        (Behaviour.ANSWER, 302, Outcome.OK),
        (Behaviour.ANSWER, 404, Outcome.HTTP_4XX),
        (Behaviour.ANSWER, 503, Outcome.HTTP_5XX),
        (Behaviour.RESET, 200, Outcome.RESET),
        (Behaviour.CLOSE, 200, Outcome.CLOSED),
        (Behaviour.GARBAGE, 200, Outcome.OTHER),
        (Behaviour.CHUNKED, 200, Outcome.OK),
        (Behaviour.UNTIL_EOF, 200, Outcome.OK),
        (Behaviour.CONNECTION_CLOSE, 200, Outcome.OK),
    ],
)
def test_each_server_behaviour_gives_its_class(behaviour, status, expected) -> None:
    result, server = run_against(behaviour, status)
    classes = Counter(r.outcome for r in result.records)
    assert classes == {expected: 6}
    if expected is Outcome.CLOSED:  # every connection closed at its first request
        assert {r.error for r in result.records} == {
            "server closed the connection before any response byte"}
    assert server.requests == 6  # every request reached the server exactly once


def test_refused_on_a_closed_port() -> None:
    result = load(f"http://127.0.0.1:{free_port()}/", requests=4, concurrency=2)
    assert [r.outcome for r in result.records] == [Outcome.REFUSED] * 4
    assert all(r.error == "ECONNREFUSED: Connection refused" for r in result.records)
    assert all(r.status is None for r in result.records)


def test_timeout_when_the_server_never_answers() -> None:
    result, server = run_against(Behaviour.HANG, requests=3, concurrency=3, timeout_s=0.3)
    assert [r.outcome for r in result.records] == [Outcome.TIMEOUT] * 3
    assert server.requests == 3 and server.answered == 0
    assert all(r.latency_s >= 0.3 for r in result.records)  # causal: not before the deadline


def test_version_pod_and_status_are_recorded() -> None:
    result, _ = run_against(Behaviour.ANSWER, 503, requests=2, concurrency=1)
    r = result.records[0]
    assert (r.status, r.version, r.pod, r.error) == (503, "1.0", "pod-a", "HTTP 503")
    assert result.connections == 1  # keep-alive: both requests on one connection


def test_keepalive_reuses_and_disable_keepalive_does_not() -> None:
    kept, server = run_against(Behaviour.ANSWER, requests=10, concurrency=2)
    assert (kept.connections, server.connections) == (2, 2)
    fresh, server = run_against(Behaviour.ANSWER, requests=10, concurrency=2,
                                disable_keepalive=True)
    assert (fresh.connections, server.connections) == (10, 10)
    assert Counter(r.outcome for r in fresh.records) == {Outcome.OK: 10}


def test_connection_close_responses_are_not_reused() -> None:
    result, server = run_against(Behaviour.CONNECTION_CLOSE, requests=5, concurrency=1)
    assert server.connections == 5 and result.retries == 0


def test_idle_connection_closed_by_server_is_retried_once_on_a_fresh_one() -> None:
    """Steps: open model, one connection, 100 ms between requests; the server closes each
    connection once it is idle after answering. Every next request finds its kept connection
    closed before writing, goes to a fresh one, and is counted; nothing fails."""
    async def main():  # type: ignore[no-untyped-def]
        server = LoopServer(Behaviour.CLOSE_IDLE)
        server.close_idle.set()
        await server.start()
        try:
            result = await run_load(LoadConfig(url=server.url, requests=3, rate_rps=10,
                                               concurrency=1))
        finally:
            await server.stop()
        return result, server

    result, server = arun(main())
    assert [r.outcome for r in result.records] == [Outcome.OK] * 3
    assert result.retries == 2 and result.connections == 3
    assert server.per_connection == [1, 1, 1]  # nothing was written on a dead connection


def test_kept_idle_connection_is_reused_when_the_server_keeps_it() -> None:
    result, server = run_against(Behaviour.CLOSE_IDLE, requests=3, rate_rps=10, concurrency=1)
    assert result.retries == 0 and server.per_connection == [3]


@pytest.mark.parametrize("behaviour", [Behaviour.CLOSE_SECOND, Behaviour.RESET_SECOND])
def test_the_keep_alive_race_is_sent_again_once_on_a_new_connection(behaviour) -> None:
    """The server takes the second request of each connection and closes (or resets) it
    without a byte: the race of an idle close meeting a reused connection. Each such request
    goes once more on a new connection, whose first request the server answers."""
    result, server = run_against(behaviour, requests=4, concurrency=1)
    assert [r.outcome for r in result.records] == [Outcome.OK] * 4
    assert (result.resent, result.retries) == (3, 0)
    assert server.per_connection == [2, 2, 2, 1]  # each raced request was read twice


@pytest.mark.parametrize(("behaviour", "failed"), [(Behaviour.CLOSE_SECOND, Outcome.CLOSED),
                                                   (Behaviour.RESET_SECOND, Outcome.RESET)])
def test_with_no_resend_the_race_is_reported(behaviour, failed) -> None:
    result, server = run_against(behaviour, requests=2, concurrency=1, resend_reused=False)
    assert [r.outcome for r in result.records] == [Outcome.OK, failed]
    if failed is Outcome.CLOSED:
        assert result.records[1].error == (
            "server closed a reused keep-alive connection before any response byte")
    assert (result.resent, result.retries) == (0, 0)
    assert server.connections == 1 and server.per_connection == [2]


def test_a_method_not_safe_to_repeat_is_never_sent_again() -> None:
    result, server = run_against(Behaviour.CLOSE_SECOND, requests=2, concurrency=1,
                                 method="POST")
    assert [r.outcome for r in result.records] == [Outcome.OK, Outcome.CLOSED]
    assert result.resent == 0 and server.per_connection == [2]


def test_failures_on_fresh_connections_are_never_retried() -> None:
    result, server = run_against(Behaviour.RESET, requests=3, concurrency=1)
    assert result.retries == 0 and server.connections == 3 and server.requests == 3


def test_head_request_completes_without_a_body() -> None:
    result, server = run_against(Behaviour.ANSWER, requests=3, concurrency=1, method="HEAD")
    assert Counter(r.outcome for r in result.records) == {Outcome.OK: 3}
    assert server.connections == 1


def test_a_name_with_several_addresses_uses_the_one_that_accepts() -> None:
    """Like `localhost` resolving to ::1 first while the server listens on 127.0.0.1 only."""

    async def main() -> None:
        server = LoopServer(Behaviour.ANSWER)
        await server.start()
        loop = asyncio.get_running_loop()

        async def two_addresses(host, port, **kw):  # type: ignore[no-untyped-def]
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0)),
                    (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

        loop.getaddrinfo = two_addresses  # type: ignore[method-assign]
        pool = ConnectionPool("localhost", server.port, b"GET / HTTP/1.1\r\n\r\n")
        try:
            await pool.start()
            assert pool.address == (socket.AF_INET, "127.0.0.1")
        finally:
            pool.close()
            await server.stop()

    arun(main())


class _Wire:
    """A transport stand-in: the protocol-level tests below feed bytes by hand."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    abort = close


def _feed(chunks: list[bytes], head_only: bool = False):  # type: ignore[no-untyped-def]
    from probelab.load.client import HttpConnection

    conn = HttpConnection(head_only)
    wire = _Wire()
    conn.connection_made(wire)  # type: ignore[arg-type]
    done: list = []
    conn.send(b"GET / HTTP/1.1\r\n\r\n", 1e18, lambda c, exc: done.append(exc))
    for chunk in chunks:
        conn.data_received(chunk)
    return conn, wire, done


@pytest.mark.parametrize(
    ("chunks", "status", "version", "pod", "closed"),
    [
        ([b"HTTP/1.1 200 OK\r\nx-app-version: 3.0\r\nX-POD-NAME: p-1\r\n",
          b"Content-Length: 2\r\n\r\nok"], 200, "3.0", "p-1", False),
        ([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nX-App-Version: 2.0\r\n"
          b"Content-Length: 0\r\n\r\n"], 201, "2.0", None, False),
        ([b"HTTP/1.1 503 X\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
          b"1\r\na\r\n0\r\n\r\n"], 503, None, None, True),
        ([b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"], 200, None, None, True),
    ],
)
def test_response_framing_and_headers(chunks, status, version, pod, closed) -> None:
    conn, wire, done = _feed(chunks)
    assert done == [None]
    assert (conn.status, conn.version, conn.pod, wire.closed) == (status, version, pod, closed)


def test_a_partial_response_then_eof_is_closed_and_a_body_until_eof_is_complete() -> None:
    from probelab.load.outcome import ServerClosed

    partial = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"
    conn, _, done = _feed([partial])
    assert done == []
    conn.eof_received()
    assert isinstance(done[0], ServerClosed) and f"after {len(partial)} bytes" in str(done[0])
    conn, _, done = _feed([b"HTTP/1.1 200 OK\r\n\r\nbody until the end"])
    conn.eof_received()
    assert done == [None] and conn.status == 200
