"""A pooled connection that the server closed while idle is noticed before a request is written
on it, even when the event loop has not yet delivered the server's FIN (real sockets)."""

import asyncio
import select
import socket
import threading
import time

from probelab.load.client import IDLE_CHECK_S, ConnectionPool, IdleState, idle_socket_state

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
REQUEST = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


class OneShotServer:
    """Answers one request with keep-alive, then holds the connection until told to close it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.close_now, self.closed = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(RESPONSE)
            self.close_now.wait(30)
        self.closed.set()

    def stop(self) -> None:
        self.close_now.set()
        self.sock.close()
        self.thread.join(10)


async def _one_request(pool: ConnectionPool):
    done = asyncio.get_running_loop().create_future()
    conn = await pool.connect(time.perf_counter() + 5)
    conn.send(REQUEST, time.perf_counter() + 5, lambda c, exc: done.set_result(exc))
    assert await done is None
    return conn


def _after_one_request(inspect):  # type: ignore[no-untyped-def]
    """One request on a pooled connection to a OneShotServer, then `inspect(server, conn)`
    inside the loop; its value is returned. The pool and the server are always stopped."""
    server = OneShotServer()

    async def main():  # type: ignore[no-untyped-def]
        pool = ConnectionPool("127.0.0.1", server.port, REQUEST)
        await pool.start()
        try:
            return inspect(server, await _one_request(pool))
        finally:
            pool.close()

    try:
        return asyncio.run(main())
    finally:
        server.stop()


def test_pending_close_is_seen_without_the_event_loop() -> None:
    def inspect(server: OneShotServer, conn) -> tuple[bool, bool, bool]:  # type: ignore[no-untyped-def]
        later = time.perf_counter() + IDLE_CHECK_S * 2
        still_open = conn.closed_while_idle(later)  # the server keeps it: reusable
        server.close_now.set()
        assert server.closed.wait(10)
        # Wait for the FIN in the kernel while blocking the loop on purpose (a bounded
        # select, not a fixed sleep): asyncio gets no chance to deliver it.
        sock = conn.transport.get_extra_info("socket")
        assert select.select([sock], [], [], 10)[0], "the server's FIN never arrived"
        loop_knew = conn.closed
        return still_open, loop_knew, conn.closed_while_idle(later)

    still_open, loop_knew, seen = _after_one_request(inspect)
    assert not still_open
    assert not loop_knew  # the situation of the race: asyncio has not processed the FIN
    assert seen  # ... and the poll before reuse still sees it


def _fds_above_1024() -> list[socket.socket]:
    """Open sockets until the next file descriptor is past 1023, as `-c 1100` does: select()
    cannot watch those. Raises the soft RLIMIT_NOFILE for this test process if needed."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1200, hard), hard))
    pads = []
    while True:
        s = socket.socket()
        pads.append(s)
        if s.fileno() > 1030:
            return pads


def test_idle_check_works_on_descriptors_past_1024() -> None:
    """The idle check on a kept connection whose descriptor is ≥ 1024 (any run with -c > ~1000)
    must say "still open", not mistake its own error for a close by the server."""

    def inspect(server: OneShotServer, conn) -> tuple[int, bool, bool]:  # type: ignore[no-untyped-def]
        fd = conn.transport.get_extra_info("socket").fileno()
        seen = conn.closed_while_idle(time.perf_counter() + IDLE_CHECK_S * 2)
        return fd, seen, conn.idle_closed

    pads = _fds_above_1024()
    try:
        fd, seen, idle_closed = _after_one_request(inspect)
    finally:
        for s in pads:
            s.close()
    assert fd >= 1024
    assert not seen and not idle_closed  # the server closed nothing


def test_idle_socket_state_tells_the_peer_from_the_client() -> None:
    """A peer's close is the server's doing; a descriptor that is not valid is the client's."""
    ours, theirs = socket.socketpair()
    try:
        assert idle_socket_state(ours.fileno()) is IdleState.OPEN
        theirs.close()
        assert idle_socket_state(ours.fileno()) is IdleState.CLOSED_BY_PEER
        gone = ours.fileno()
    finally:
        ours.close()
    assert idle_socket_state(gone) is IdleState.UNUSABLE  # closed here: nothing to poll
    assert idle_socket_state(-1) is IdleState.UNUSABLE


def test_a_completed_response_marks_when_the_connection_went_idle() -> None:
    """`done_at` is when the last response completed: the idle check skips connections idle for
    less than IDLE_CHECK_S, so back-to-back requests cost no extra system call."""
    before = time.perf_counter()
    done_at, after = _after_one_request(lambda server, conn: (conn.done_at, time.perf_counter()))
    assert before <= done_at <= after
