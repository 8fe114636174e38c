"""simpleweb's HTTP/1.1 server: an asyncio protocol on httptools, and the connections of a port.

Why its own small server rather than aiohttp or uvicorn (docs/web.md, "Why this server"): the
drain contract needs, per connection, to know whether it is idle, to put `Connection: close` on
the response being written and close after it, to close idle ones with a FIN, and to bound a
request's unfinished headers (slow loris). Each of those is a few lines here and is tested
against the real process (tests/test_web.py, tests/test_web_http1.py).

One connection answers its requests in order (RFC 9112 §9.3.2, pipelining): a route that
answers at once (`/`, `/healthz`) is answered inside `data_received`; one that waits (`/slow`,
`/prestop`) runs as a task, and the connection stops reading until it is answered, so requests
pipelined behind it wait in the kernel's buffer (only what one read brought in is queued here).
Reading also stops while the transport's write buffer is full (a client that pipelines without
reading).

How a connection ends — with a FIN, never a reset from unread data: `write_eof()` after the
last response, then whatever the client still sends is read and dropped until it closes or
LINGER_S passes (RFC 9112 §9.6, "the TCP reset problem"). Only a client that stops reading gets
a reset, once --idle-timeout and LINGER_S are over: no connection is held longer than that.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser, parse_url

from probelab.web.config import MAX_BODY_BYTES, MAX_LINE_BYTES
from probelab.web.http1 import (
    CONTINUE,
    REASONS,
    Handler,
    Request,
    Response,
    connection_line,
    content_length,
    framing_problem,
    header_problem,
    http_date,
    response_bytes,
    version_problem,
)

LINGER_S = 2.0  # after our FIN, how long to read and drop what a client still sends
NO_LINGER = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset (socket(7))
METHODS = {b"GET": "GET", b"HEAD": "HEAD"}  # the common ones, without a decode per request


class _Rejected(Exception):
    """Raised inside a parser callback to stop parsing; the status is on the connection."""


class HttpServer:
    """The connections of one port: the protocol factory, and what shutdown asks of them."""

    def __init__(self, dispatch: Handler, identity: bytes, idle_timeout_s: float,
                 draining: Callable[[], bool]) -> None:
        self.dispatch = dispatch
        self.identity = identity
        self.idle_timeout_s = idle_timeout_s
        self.draining = draining  # every response closes its connection while this is true
        self.closing = False  # the listener is closed: busy connections close after answering
        self.loop = asyncio.get_running_loop()
        self.connections: set[Connection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.date = b""
        self._clock: asyncio.TimerHandle | None = None
        self._tick()

    def _tick(self) -> None:
        """The Date header changes once a second; computing it per response would cost more."""
        now = time.time()
        self.date = http_date(now)
        self._clock = self.loop.call_later(1.0 - now % 1.0, self._tick)

    def __call__(self) -> Connection:
        return Connection(self)

    def close_idle(self) -> None:
        """Shutdown step 4: idle connections get their FIN now, busy ones after answering."""
        self.closing = True
        for conn in list(self.connections):
            conn.close_if_idle()

    async def wait_tasks(self, timeout_s: float) -> int:
        """Wait for running handlers at most `timeout_s`; how many are still running."""
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=timeout_s)
            return len(pending)
        return 0

    async def cancel_tasks(self, unwind_s: float) -> None:
        """Cancel what still runs; each cancelled handler closes its own connection."""
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=unwind_s)

    def close_all(self) -> None:
        """The end: every connection closed, lingering ones included; the clock stopped."""
        if self._clock is not None:
            self._clock.cancel()
        for conn in list(self.connections):
            conn.abandon()


class Connection(asyncio.Protocol):
    """One client connection: parse with httptools, answer in order, close with a FIN."""

    __slots__ = (
        "_accept", "_body", "_busy", "_chunked", "_done", "_ended", "_expect", "_headers", "_hosts",
        "_http10", "_idle_since", "_length", "_linger", "_loop", "_parser", "_problem",
        "_queue", "_reading", "_server", "_timer", "_upgrade", "_url", "_write_paused",
        "transport",
    )

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._loop = server.loop
        self._parser = HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self._queue: deque[Request | int] = deque()  # parsed, waiting for the one being answered
        self._busy = False  # a task is answering a request of this connection
        self._done = False  # the last response is written (or none will be): only dropping input
        self._ended = False  # a parsed request ends the connection: later ones are not processed
        self._reading = True  # the transport is reading
        self._write_paused = False
        self._idle_since: float | None = None  # waiting for a request since then
        self._timer: asyncio.TimerHandle | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._problem = 0  # the status a parser callback refused the request with
        self._start_request()

    # -- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._server.connections.add(self)
        self._become_idle()

    def data_received(self, data: bytes) -> None:
        if self._ended:
            return  # nothing after the connection's last request is processed (RFC 9112 §9.6)
        try:
            self._parser.feed_data(data)
        except HttpParserUpgrade:
            pass  # the request is answered with Connection: close (`_upgrade`); nothing follows
        except HttpParserError:  # malformed, smuggling-shaped, or over a limit
            if not self._ended:  # else: llhttp's "Data after `Connection: close`", ignored
                self._refuse(self._problem or 400)

    def eof_received(self) -> bool | None:
        return None  # the client is done sending: close our side too (after pending writes)

    def connection_lost(self, exc: Exception | None) -> None:
        self._done = self._ended = True
        self._server.connections.discard(self)
        for timer in (self._timer, self._linger):
            if timer is not None:
                timer.cancel()
        self._queue.clear()

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update_reading()

    # -- httptools callbacks (names fixed by httptools) -------------------------------------
    # No on_message_begin: each callback is a call from C into Python, so the per-request
    # fields are reset once a request is complete (and at the start) instead.
    def _start_request(self) -> None:
        self._url = b""
        self._headers = 0
        self._hosts = 0
        self._accept = b""
        self._expect = False
        self._chunked = False
        self._length = 0
        self._body = 0
        self._upgrade = False
        self._http10 = False

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_LINE_BYTES:
            self._reject(400)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers += 1
        if header_problem(self._headers, name, value):
            self._reject(400)
        lname = name.lower()
        if lname == b"host":
            self._hosts += 1
        elif lname == b"accept":
            self._accept = value
        elif lname == b"content-length":
            self._length = content_length(value)
        elif lname == b"transfer-encoding":
            self._chunked = True  # llhttp refuses any Transfer-Encoding not ending in chunked
        elif lname == b"expect":
            self._expect = value.lower() == b"100-continue"

    def on_headers_complete(self) -> None:
        parser = self._parser
        version = parser.get_http_version()
        # The common request (HTTP/1.1, one Host, no body) passes both rules: skip the calls.
        if not (version == "1.1" and self._hosts == 1 and not self._chunked
                and not self._length):
            status = version_problem(version) or framing_problem(
                version, self._hosts, self._chunked, self._length)
            if status:
                self._reject(status)
        self._upgrade = parser.should_upgrade()
        self._http10 = version == "1.0"
        if (self._expect and (self._length or self._chunked) and not self._busy
                and not self._queue and self.transport is not None):
            self.transport.write(CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body += len(body)  # no route reads a body: it is counted and dropped
        if self._body > MAX_BODY_BYTES:
            self._reject(413)

    def on_message_complete(self) -> None:
        if self._ended:
            return
        parser = self._parser
        self._idle_since = None
        url = self._url
        path, query = _TARGETS.get(url) or _target(url)
        method = parser.get_method()
        request = Request(METHODS.get(method) or method.decode("ascii", "replace"), path, query,
                          self._accept.decode("latin-1"),
                          parser.should_keep_alive() and not self._upgrade, self._http10)
        self._ended = not request.keep_alive
        self._start_request()
        if self._busy or self._queue:
            self._queue.append(request)
        else:
            self._answer(request)

    # -- answering ------------------------------------------------------------------------
    def _reject(self, status: int) -> None:
        self._problem = status
        raise _Rejected(status)

    def _answer(self, request: Request) -> None:
        try:
            result = self._server.dispatch(request)
        except Exception:
            result = Response(500, b"500: Internal Server Error")
        if isinstance(result, Response):
            self._send(request, result)
            return
        self._busy = True
        self._update_reading()
        task = self._loop.create_task(self._wait_for(request, result))
        self._server.tasks.add(task)
        task.add_done_callback(self._server.tasks.discard)

    async def _wait_for(self, request: Request, result: Awaitable[Response]) -> None:
        try:
            response = await result
        except asyncio.CancelledError:  # --shutdown-timeout: no answer, close the connection
            self._busy = False
            self._finish()
            raise
        except Exception:
            response = Response(500, b"500: Internal Server Error")
        self._busy = False
        self._send(request, response)
        self._answer_queued()
        self._update_reading()

    def _send(self, request: Request, response: Response) -> None:
        transport = self.transport
        if self._done or transport is None or transport.is_closing():
            return  # the client left while the handler ran, or the connection was ended
        server = self._server
        keep = request.keep_alive and not server.closing and not server.draining()
        connection = b"" if keep and not request.http10 else connection_line(keep, request.http10)
        transport.write(response_bytes(response, server.date, server.identity, connection,
                                       request.method == "HEAD"))
        if not keep:
            self._finish()
        elif not self._queue:
            self._become_idle()

    def _answer_queued(self) -> None:
        """The requests parsed while an earlier one was being answered, in order, until one
        waits in its turn. A loop, not a recursion through `_send`: a pipeline can hold
        thousands of requests."""
        queue = self._queue
        while queue and not self._busy and not self._done:
            item = queue.popleft()
            if isinstance(item, Request):
                self._answer(item)
            else:
                self._refuse(item)

    def _refuse(self, status: int) -> None:
        """A request we will not process: its status, `Connection: close`, and the end. After
        earlier pipelined requests are answered, if any still are."""
        if self._done:
            return
        self._ended = True
        if self._busy or self._queue:
            self._queue.append(status)
            return
        server, transport = self._server, self.transport
        if transport is not None and not transport.is_closing():
            response = Response(status, f"{status}: {REASONS[status]}".encode())
            transport.write(response_bytes(response, server.date, server.identity,
                                           connection_line(False, False), head_only=False))
        self._finish()

    # -- idle time, reading and the end -------------------------------------------------------
    def _become_idle(self) -> None:
        """Waiting for a request from now: it must arrive whole within --idle-timeout."""
        self._idle_since = self._loop.time()
        if self._server.closing:
            self._finish()
        elif self._timer is None:
            self._timer = self._loop.call_at(self._idle_since + self._server.idle_timeout_s,
                                             self._on_timer)

    def _on_timer(self) -> None:
        """One timer per connection, moved lazily instead of re-armed on every request."""
        self._timer = None
        since = self._idle_since
        if since is None or self._done:
            return  # busy: `_become_idle` arms it again
        deadline = since + self._server.idle_timeout_s
        if self._loop.time() < deadline:
            self._timer = self._loop.call_at(deadline, self._on_timer)
        else:
            self._finish()  # idle too long, or its headers never finished (slow loris)

    def close_if_idle(self) -> None:
        if not self._busy and not self._queue:
            self._finish()

    def _update_reading(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        want = self._done or not (self._busy or self._write_paused)
        if want != self._reading:
            self._reading = want
            if want:
                transport.resume_reading()
            else:
                transport.pause_reading()

    def _finish(self) -> None:
        """No more responses on this connection: FIN now (after what is buffered), drop what
        the client still sends, close when it closes or after LINGER_S."""
        if self._done:
            return
        self._done = self._ended = True
        self._queue.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if transport.can_write_eof():
            transport.write_eof()
            self._update_reading()
            self._linger = self._loop.call_later(LINGER_S, self.abandon)
        else:
            transport.close()

    def abandon(self) -> None:
        """Close now. A client that has not read what we wrote by then (a slow reader holding
        the connection, or one gone silent) gets a reset: a close that waits for the buffer to
        drain would wait for it forever."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size():
            sock = transport.get_extra_info("socket")
            if sock is not None:  # a reset now, not an orphan socket probing a closed window
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, NO_LINGER)
            transport.abort()
        else:
            transport.close()


_TARGETS: dict[bytes, tuple[str, str]] = {}  # the last targets seen, parsed (a load asks for
_TARGETS_KEPT = 256  # the same few again and again); emptied when it holds this many


def _target(url: bytes) -> tuple[str, str]:
    """`target`, remembered (the caller looks in `_TARGETS` first)."""
    if len(_TARGETS) >= _TARGETS_KEPT:
        _TARGETS.clear()
    found = _TARGETS[url] = target(url)
    return found


def target(url: bytes) -> tuple[str, str]:
    """Path (percent-decoded, as routes match it) and raw query of a request target: the
    origin form `/path?query` directly, the absolute form (RFC 9112 §3.2.2) through httptools."""
    if not url.startswith(b"/"):
        if url == b"*":
            return "*", ""
        try:
            parsed = parse_url(url)
        except HttpParserError:
            return "", ""  # not a route: 404
        url = (parsed.path or b"/") + (b"?" + parsed.query if parsed.query else b"")
    path, _, query = url.partition(b"?")
    text_path = path.decode("latin-1")
    if "%" in text_path:
        text_path = unquote(text_path, errors="replace")
    return text_path, query.decode("latin-1")
