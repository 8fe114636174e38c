"""A small HTTP/1.1 client on asyncio Protocols: one request at a time per keep-alive connection.

Why not aiohttp: its per-request overhead caps a load generator at a fraction of what the
server can take. Here a request is one `transport.write` of pre-built bytes and a response is
parsed by httptools (llhttp, in C); only status, `X-App-Version` and `X-Pod-Name` are kept.
(A per-header callback that compares lengths first measured cheaper than scanning the header
block with `bytes.find`.)

Failures reach the caller as the socket exceptions the loop produced, or `ServerClosed` /
`BadResponse` / `TimeoutError`; `outcome.classify` turns them into classes. Timeouts are
enforced by one sweeper task per pool (precision: `sweep_interval_s`), not a timer per
request, which would cost more than the request itself.

Keep-alive rules (as browsers and Go's transport, and so hey, do):
* a kept connection the server closed while it sat idle (`idle_closed`) is detected before
  anything is written on it; the request then goes to a fresh connection, once, and the pool's
  `retries` counts it;
* a request written on a reused connection that the server closed or reset before any
  response byte came is sent again on a fresh connection, once, when its method is safe to
  repeat (`retry_after_failure`); the pool's `resent` counts it. The server saw that
  connection as idle and closed it as the request was on its way: the HTTP/1.1 keep-alive race
  (RFC 9112 §9.3.1). `resend_reused=False` turns this off and shows those races as failures.
Anything else that fails after the request was written is reported, never retried.
"""

from __future__ import annotations

import asyncio
import select
import socket
import time
from collections.abc import Callable
from enum import Enum
from time import perf_counter

import httptools

from probelab.errors import RuntimeFailure
from probelab.load.outcome import BadResponse, Outcome, ServerClosed, describe

_VERSION = b"x-app-version"
_POD = b"x-pod-name"
_FRAMING = (b"content-length", b"transfer-encoding")


def retry_on_fresh_connection(reused: bool, closed_while_idle: bool, written: bool) -> bool:
    """The one case a request is retried: its pooled connection died idle and nothing was sent."""
    return reused and closed_while_idle and not written


# What Go's transport sends again by itself (Request.isReplayable): the safe methods.
REPLAYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def retry_after_failure(reused: bool, got_bytes: int, exc: BaseException) -> bool:
    """Whether a failed request, already written, is the keep-alive race and may go again: on
    a reused connection, closed or reset before any response byte (Go's `shouldRetryRequest`:
    a reused connection, and the read of the first response byte failed). A first request on
    a connection, a partial response or a timeout says something about the server: reported.
    The caller also checks the method (`REPLAYABLE_METHODS`) and that it is the first try."""
    return reused and got_bytes == 0 and isinstance(
        exc, (ServerClosed, ConnectionResetError, BrokenPipeError))


class IdleState(Enum):
    OPEN = "open"
    CLOSED_BY_PEER = "closed_by_peer"  # end of stream, reset or error: the server's doing
    UNUSABLE = "unusable"  # the check itself failed (no such descriptor): the client's


# poll(), never select(): select() cannot watch descriptors ≥ FD_SETSIZE (1024) and raises for
# them, so any run with more than ~1000 connections used to mistake that error for a close.
_PEER_GONE = select.POLLIN | select.POLLHUP | select.POLLERR | getattr(select, "POLLRDHUP", 0)


def idle_socket_state(fd: int) -> IdleState:
    """What a zero-timeout poll says about an idle connection's socket."""
    if fd < 0:
        return IdleState.UNUSABLE
    poller = select.poll()
    poller.register(fd, _PEER_GONE)
    try:
        events = poller.poll(0)
    except OSError:
        return IdleState.UNUSABLE
    mask = events[0][1] if events else 0
    if mask & select.POLLNVAL:
        return IdleState.UNUSABLE
    return IdleState.CLOSED_BY_PEER if mask & _PEER_GONE else IdleState.OPEN


# Idle time after which a pooled connection is polled for a pending close before reuse.
IDLE_CHECK_S = 0.005

OnDone = Callable[["HttpConnection", BaseException | None], None]


class HttpConnection(asyncio.Protocol):
    """One TCP connection; `send` writes a request and calls `on_done(conn, exc)` once when the
    response is complete (`exc` None) or the request failed; `done_at` is then the time it ended.

    After a successful `on_done`, `status`, `version` and `pod` describe that response until
    the next `send`. Callbacks rather than futures: in the closed model the next request is
    written straight from the completion callback, with no task switch in between.
    """

    __slots__ = (
        "_framed",
        "_head_only",
        "_headers_done",
        "_parser",
        "closed",
        "deadline",
        "done_at",
        "got",
        "idle_closed",
        "on_done",
        "pod",
        "requests",
        "status",
        "transport",
        "version",
    )

    def __init__(self, head_only: bool = False) -> None:
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._head_only = head_only
        self.on_done: OnDone | None = None  # set while a request is in flight
        self.status = 0
        self.version: str | None = None
        self.pod: str | None = None
        self.got = 0  # bytes of the current response so far
        self._headers_done = False
        self._framed = False  # Content-Length or Transfer-Encoding seen (else body ends at EOF)
        self.closed = False  # the server closed it, or we did; never reuse
        self.idle_closed = False  # the server closed it while no request was in flight
        self.requests = 0  # requests written on this connection
        self.deadline = 0.0  # perf_counter time by which the response must be complete
        self.done_at = 0.0  # perf_counter time the last response completed (idle since then)

    # -- used by the pool and the schedulers --------------------------------------------------
    def send(self, data: bytes, deadline: float, on_done: OnDone) -> None:
        self.on_done = on_done
        self.status = 0
        self.version = self.pod = None
        self.got = 0
        self._headers_done = self._framed = False
        self.requests += 1
        self.deadline = deadline
        self.transport.write(data)  # type: ignore[union-attr]

    def closed_while_idle(self, now: float) -> bool:
        """Whether this idle connection is unusable: the server has already closed it, though
        the event loop has not delivered its FIN yet (a zero-timeout poll of the socket, as
        urllib3 does before reusing a pooled connection: idle connections have nothing to read,
        so a readable socket means end of stream or a reset). Only checked after
        `IDLE_CHECK_S` of idleness, so back-to-back requests pay no system call. Marks the
        connection closed, and `idle_closed` only when the server closed it: a failure of the
        check itself is the client's and blames nobody (the request just takes a new one)."""
        if self.closed or now - self.done_at < IDLE_CHECK_S or self.transport is None:
            return self.closed
        sock = self.transport.get_extra_info("socket")
        state = idle_socket_state(-1 if sock is None else sock.fileno())
        if state is IdleState.OPEN:
            return False
        self.idle_closed = state is IdleState.CLOSED_BY_PEER
        self.close()
        return True

    def fail(self, exc: BaseException) -> None:
        """End the current request (if any) with `exc` and drop the connection at once."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        self._finish(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.on_done is None:  # bytes nobody asked for: the connection is out of step
            self.close()
            return
        self.got += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.fail(BadResponse("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self.fail(BadResponse(f"invalid HTTP response: {exc}"))

    def eof_received(self) -> bool:
        if self.on_done is None and not self.closed:
            self.idle_closed = True
        self.closed = True
        if self.on_done is not None:
            if self._headers_done and not self._framed:
                self._complete()  # a body delimited by the end of the connection
            else:
                self._finish(ServerClosed(self.got, self.requests > 1))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.on_done is None and not self.closed:
            self.idle_closed = True
        self.closed = True
        if self.on_done is not None:
            self._finish(exc if exc is not None else ServerClosed(self.got, self.requests > 1))

    # -- httptools callbacks ------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        # Called for every header of every response: decide on the first letter, lower-case
        # only the few candidates.
        first = name[0] | 0x20
        if first == 0x78:  # x
            lowered = name.lower()
            if lowered == _VERSION:
                self.version = value.decode("latin-1")
            elif lowered == _POD:
                self.pod = value.decode("latin-1")
        elif (first == 0x63 or first == 0x74) and name.lower() in _FRAMING:  # c, t
            self._framed = True

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self._headers_done = True
        if self._head_only and self.status >= 200:
            # A HEAD response announces a body it never sends; llhttp cannot know that here,
            # so this response ends now and the next one gets a fresh parser.
            keep = self._parser.should_keep_alive()
            self._parser = httptools.HttpResponseParser(self)
            self._complete(keep)

    def on_message_complete(self) -> None:
        if self.status < 200:  # 1xx informational: the real response follows
            self.version = self.pod = None
            self._headers_done = self._framed = False
            return
        on_done = self.on_done
        if on_done is not None:  # _complete(), inlined: this runs once per request
            self.on_done = None
            self.done_at = perf_counter()  # idle from now; the slot reads it as "now" too
            if not self.closed and not self._parser.should_keep_alive():
                self.close()
            on_done(self, None)

    # -- internals ----------------------------------------------------------------------------
    def _complete(self, keep: bool | None = None) -> None:
        on_done, self.on_done = self.on_done, None
        self.done_at = perf_counter()
        if keep is None:
            keep = self._parser.should_keep_alive()
        if not self.closed and not keep:
            self.close()
        if on_done is not None:
            on_done(self, None)

    def _finish(self, exc: BaseException) -> None:
        on_done, self.on_done = self.on_done, None
        self.done_at = perf_counter()
        if on_done is not None:
            on_done(self, exc)


class ConnectionPool:
    """Connections to one address: opens them, times out their requests, counts them.

    The schedulers' slots (`scheduler.Slot`) each keep one connection and apply the keep-alive
    rules with `retry_on_fresh_connection` and `retry_after_failure`; `retries` and `resent`
    count what they sent again.
    """

    def __init__(
        self,
        host: str,
        port: int,
        request: bytes,
        *,
        keepalive: bool = True,
        head_only: bool = False,
        resend_reused: bool = True,
        sweep_interval_s: float = 0.05,
    ) -> None:
        self.host, self.port = host, port
        self.request_bytes = request
        self.keepalive = keepalive
        self.head_only = head_only
        self.sweep_interval_s = sweep_interval_s
        self.resend_reused = resend_reused  # the request's method is replayable, and allowed
        self.retries = 0  # requests moved to a fresh connection (pooled one closed while idle)
        self.resent = 0  # requests sent again after the keep-alive race (retry_after_failure)
        self.opened = 0  # connections opened
        self.client_errors = 0  # requests not sent: the client's own limits (outcome.client_side)
        self.client_error_example: str | None = None
        self._open: set[HttpConnection] = set()  # every connection not yet seen closed
        self._address: tuple[int, str] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Resolve the host once (every connection goes to the same address) and start sweeping.

        When the name has several addresses (`localhost`: ::1 and 127.0.0.1), the first that
        accepts a connection is used, as browsers do; if none does, the first, so that the
        requests report what happens there.
        """
        self._loop = loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise RuntimeFailure(f"cannot resolve {self.host!r}: {exc}") from None
        addresses = list(dict.fromkeys((family, sockaddr[0]) for family, *_, sockaddr in infos))
        self._address = addresses[0]
        if len(addresses) > 1:
            for family, address in addresses:
                try:
                    async with asyncio.timeout(1.0):
                        transport, _ = await loop.create_connection(
                            asyncio.Protocol, address, self.port, family=family)
                except (OSError, TimeoutError):
                    continue
                transport.close()
                self._address = (family, address)
                break
        self._sweeper = loop.create_task(self._sweep(), name="load-timeout-sweeper")

    async def connect(self, deadline: float) -> HttpConnection:
        """A fresh connection; raises the connect error (refused, timeout, ...).

        `deadline` is a `time.perf_counter()` value, like every deadline here.
        """
        loop = self._loop
        family, address = self._address  # type: ignore[misc]
        try:
            async with asyncio.timeout(max(0.0, deadline - time.perf_counter())):
                _, conn = await loop.create_connection(  # type: ignore[union-attr]
                    self._new_protocol, address, self.port, family=family
                )
        except TimeoutError:
            raise TimeoutError("connect timed out") from None
        self.opened += 1
        self._open.add(conn)
        return conn

    def count_client_error(self, exc: BaseException) -> None:
        """A request the client could not send (its own limits): counted, in no class."""
        self.client_errors += 1
        if self.client_error_example is None:
            self.client_error_example = describe(Outcome.OTHER, None, exc)

    def _new_protocol(self) -> HttpConnection:
        return HttpConnection(self.head_only)

    async def _sweep(self) -> None:
        """Fail requests past their deadline; forget connections that closed."""
        while True:
            await asyncio.sleep(self.sweep_interval_s)
            now = time.perf_counter()
            for conn in list(self._open):
                if conn.on_done is not None:
                    if conn.deadline <= now:
                        conn.fail(TimeoutError("no complete response within the timeout"))
                elif conn.closed:
                    self._open.discard(conn)

    @property
    def address(self) -> tuple[int, str] | None:
        """(address family, IP) every connection goes to, once started."""
        return self._address

    @property
    def in_flight(self) -> int:
        return sum(1 for conn in self._open if conn.on_done is not None)

    def close(self) -> None:
        """Close every connection and stop the sweeper; safe to call twice."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._open):
            conn.fail(ServerClosed(conn.got, conn.requests > 1))
        self._open.clear()
