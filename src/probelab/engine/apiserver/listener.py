"""The API server's TCP listener: what a connection may do before it has proved it holds the
token.

aiohttp on its own waits for a request's headers for as long as the client keeps sending
bytes, so a few hundred connections that each send one header byte every few seconds hold the
engine's file descriptors for good, without any token. kube-apiserver bounds that with Go's
`http.Server{ReadHeaderTimeout: 32 s, IdleTimeout: 90 s}`
(`staging/src/k8s.io/apiserver/pkg/server/secure_serving.go`); Go also bounds the TLS
handshake by the same timeout and answers a plain-HTTP request on the TLS port with
`400 Bad Request` "Client sent an HTTP request to an HTTPS server." (`net/http/server.go`,
`tlsRecordHeaderLooksLikeHTTP`). This listener does the same, and in addition caps how many
connections may be open without having sent a request with the valid token: at the cap the
oldest such connection is dropped, so a flood of idle connections cannot keep kubectl out.

Pure decisions (`looks_like_plain_http`, `Limits`) are separate from the accept loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler

from probelab.engine.apiserver.status import status_body

log = logging.getLogger("probelab.engine.apiserver.listener")

PLAIN_HTTP_ANSWER = (b"HTTP/1.0 400 Bad Request\r\n\r\n"
                     b"Client sent an HTTP request to an HTTPS server.\n")
# Go's `tlsRecordHeaderLooksLikeHTTP`: the first five bytes of the usual plain requests.
PLAIN_HTTP_PREFIXES = (b"GET /", b"HEAD ", b"POST ", b"PUT /", b"OPTIO")
TLS_HANDSHAKE_RECORD = 0x16
SNIFF_BYTES = 5
SNIFF_POLL_S = 0.02  # while fewer than five bytes have arrived


@dataclass(frozen=True)
class Limits:
    """How long and how many: kube-apiserver's timeouts, and this engine's cap."""

    header_timeout_s: float = 32.0  # accept -> TLS -> first request's headers
    idle_timeout_s: float = 90.0  # between requests on a kept-alive connection
    max_unauthenticated: int = 64  # open connections that have not yet shown the token
    max_url_bytes: int = 32 * 1024  # request line; longer gets a 414 Status
    max_header_bytes: int = 16 * 1024  # one header field; longer gets a 431 Status


def looks_like_plain_http(prefix: bytes) -> bool:
    """Whether the first bytes of a connection to the TLS port are a plain HTTP request."""
    return prefix[:SNIFF_BYTES] in PLAIN_HTTP_PREFIXES


def parse_error_status(exc: BaseException | None, limits: Limits) -> tuple[int, str, str]:
    """(code, reason, message) of the Status for a request aiohttp could not parse."""
    if isinstance(exc, LineTooLong) and exc.args[1:2] == (limits.max_url_bytes,):
        return (414, "RequestURITooLong",
                f"the request line is longer than {limits.max_url_bytes} bytes")
    if isinstance(exc, LineTooLong):
        return (431, "RequestHeaderFieldsTooLarge",
                f"a request header is longer than {limits.max_header_bytes} bytes")
    text = getattr(exc, "message", None) or str(exc or "malformed request")
    return 400, "BadRequest", f"malformed HTTP request: {text}"


class ApiConnection(RequestHandler):
    """aiohttp's per-connection protocol, plus what the listener needs: whether a request has
    arrived and whether the connection has authenticated, and parse errors as Status JSON."""

    def __init__(self, server: web.Server, limits: Limits, on_lost: Callable[[], None],
                 **kwargs: Any) -> None:
        super().__init__(server, keepalive_timeout=limits.idle_timeout_s,
                         max_line_size=limits.max_url_bytes,
                         max_field_size=limits.max_header_bytes, **kwargs)
        self.limits = limits
        self.request_seen = False
        self.authenticated = False
        self._on_lost = on_lost

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self._on_lost()

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status != 400:
            # Not a parse error: a handler failure, which ApiServer._dispatch never lets out.
            return super().handle_error(request, status, exc, message)
        code, reason, text = parse_error_status(exc, self.limits)
        log.debug("unparsable request: %s", text)
        response = web.json_response(status_body(code, reason, text), status=code)
        response.force_close()
        return response


class Listener:
    """Accepts connections on a bound socket and hands each, once TLS is up, to aiohttp."""

    def __init__(self, server: web.Server, ssl_context: ssl.SSLContext, limits: Limits) -> None:
        self.server = server
        self.ssl_context = ssl_context
        self.limits = limits
        self.sock: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        # Connections that have not authenticated, oldest first: the setup task until aiohttp
        # owns the connection, then the connection.
        self._pending: dict[int, _Pending] = {}
        self._next_id = 0

    @property
    def unauthenticated(self) -> int:
        return len(self._pending)

    def start(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._accepting = asyncio.get_running_loop().create_task(self._accept_loop())

    async def stop(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
            self._accepting = None
        if self.sock is not None:
            self.sock.close()
        entries = list(self._pending.values())
        self._pending.clear()
        for entry in entries:
            self._drop(entry)
        tasks = [e.task for e in entries if e.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)  # let each close its socket

    def authenticated(self, connection: Any) -> None:
        """A request on `connection` carried the valid token: it no longer counts."""
        if isinstance(connection, ApiConnection) and not connection.authenticated:
            connection.authenticated = True
            for key, entry in list(self._pending.items()):
                if entry.handler is connection:
                    del self._pending[key]
                    if entry.expiry is not None:
                        entry.expiry.cancel()

    # ---- accepting ---------------------------------------------------------------------------
    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self.sock is not None
        while True:
            try:
                conn, _ = await loop.sock_accept(self.sock)
            except OSError as exc:  # EMFILE and the like: wait rather than spin
                log.warning("accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            if len(self._pending) >= self.limits.max_unauthenticated:
                oldest = next(iter(self._pending))
                self._drop(self._pending.pop(oldest))
            key = self._next_id
            self._next_id += 1
            entry = _Pending(key, conn)
            entry.task = loop.create_task(self._setup(entry))
            entry.task.add_done_callback(entry.finished)
            self._pending[key] = entry

    def _drop(self, entry: _Pending) -> None:
        if entry.expiry is not None:
            entry.expiry.cancel()
        if entry.task is not None and not entry.task.done():
            entry.task.cancel()  # its socket is closed when it has finished (`finished`)
        elif entry.handler is not None and entry.handler.transport is not None:
            entry.handler.transport.abort()

    async def _setup(self, entry: _Pending) -> None:
        """Sniff and TLS handshake, then hand the connection to aiohttp; the first request's
        headers must arrive within `header_timeout_s` of the accept, else it is closed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.header_timeout_s
        conn = entry.conn
        try:
            async with asyncio.timeout_at(deadline):
                conn.setblocking(False)
                prefix = await _sniff(conn)
                if not prefix:
                    return
                if looks_like_plain_http(prefix):
                    _answer_plain_http(conn)
                    return

                def make() -> ApiConnection:
                    entry.handler = ApiConnection(self.server, self.limits,
                                                  lambda: self._forget(entry), loop=loop,
                                                  access_log=None)
                    return entry.handler

                await loop.connect_accepted_socket(
                    make, conn, ssl=self.ssl_context,
                    ssl_handshake_timeout=max(0.1, deadline - loop.time()))
            entry.expiry = loop.call_at(deadline, self._expire, entry)
        except asyncio.CancelledError:
            _close(conn, entry.handler)
            raise
        except (TimeoutError, OSError, ssl.SSLError, ConnectionError) as exc:
            log.debug("connection closed before its first request: %r", exc)
            _close(conn, entry.handler)
            self._forget(entry)
        finally:
            if entry.handler is None:  # never reached aiohttp: nothing left to count
                self._forget(entry)

    def _expire(self, entry: _Pending) -> None:
        """The header deadline of a connection aiohttp owns."""
        if entry.handler is not None and not entry.handler.request_seen:
            log.debug("closing a connection that sent no request headers in time")
            self._drop(entry)
            self._forget(entry)

    def _forget(self, entry: _Pending) -> None:
        if self._pending.get(entry.key) is entry:
            del self._pending[entry.key]


@dataclass(eq=False)
class _Pending:
    """A connection that has not authenticated: its socket, its setup task, and aiohttp's
    protocol once TLS is up."""

    key: int
    conn: socket.socket
    task: asyncio.Task[None] | None = None
    handler: ApiConnection | None = None
    expiry: asyncio.TimerHandle | None = None  # the header deadline, once aiohttp owns it

    def finished(self, _task: asyncio.Task[None]) -> None:
        """Close the socket of a setup that ended before aiohttp owned it (a task cancelled
        before its first step runs none of its own cleanup)."""
        if self.handler is None:
            self.conn.close()


async def _sniff(conn: socket.socket) -> bytes:
    """The first bytes the client sent, left in the socket for the TLS layer (MSG_PEEK):
    enough to tell a TLS ClientHello from a plain request, or b"" when it closed."""
    loop = asyncio.get_running_loop()
    fd = conn.fileno()
    while True:
        readable: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, _set_once, readable)
        try:
            await readable
        finally:
            loop.remove_reader(fd)
        try:
            prefix = conn.recv(SNIFF_BYTES, socket.MSG_PEEK)
        except BlockingIOError:
            continue
        if not prefix or prefix[0] == TLS_HANDSHAKE_RECORD or len(prefix) >= SNIFF_BYTES:
            return prefix
        await asyncio.sleep(SNIFF_POLL_S)  # a partial prefix stays readable: do not spin


def _answer_plain_http(conn: socket.socket) -> None:
    """Send Go's answer and close. What the client sent is read first: closing a socket with
    unread data resets the connection, and the client would lose the answer."""
    with contextlib.suppress(OSError):
        conn.send(PLAIN_HTTP_ANSWER)
        conn.shutdown(socket.SHUT_WR)
        for _ in range(16):  # the request's headers, at most; the rest may reset
            if not conn.recv(64 * 1024):
                break
    conn.close()


def _set_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _close(conn: socket.socket, handler: ApiConnection | None) -> None:
    if handler is not None and handler.transport is not None:
        handler.transport.abort()
    else:
        conn.close()
