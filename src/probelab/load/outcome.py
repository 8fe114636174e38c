"""How one request ended: the outcome classes and the pure rule that picks one.

The client (`client.py`) raises ordinary socket exceptions plus the two below; the runner asks
`classify` for the class and `describe` for a short, stable message (no local ports, so that
the error table groups identical failures). Nothing here does I/O, so the rules are tested
with tables in `tests/test_load_rules.py`.
"""

from __future__ import annotations

import errno
import os
from enum import Enum


class Outcome(Enum):
    """Every request ends in exactly one of these."""

    OK = "ok"  # a 2xx or 3xx response
    HTTP_4XX = "http_4xx"  # a complete 4xx response
    HTTP_5XX = "http_5xx"  # a complete 5xx response (e.g. 503 from a draining pod)
    REFUSED = "refused"  # connect() got ECONNREFUSED: nothing listens there (any more)
    RESET = "reset"  # ECONNRESET / EPIPE: the peer aborted the connection
    CLOSED = "closed"  # the server closed the connection before a complete response
    UNREACHABLE = "unreachable"  # EHOSTUNREACH / ENETUNREACH: the address answers no more
    TIMEOUT = "timeout"  # no connection or no complete response within the timeout
    OTHER = "other"  # anything else (bad response, DNS, ...), with the message


OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)
FAILURES: tuple[Outcome, ...] = tuple(o for o in Outcome if o is not Outcome.OK)


class ServerClosed(ConnectionError):
    """The server closed the connection (FIN) before the response was complete.

    `reused`: the request was not the connection's first. Worth telling apart: a close on a
    reused keep-alive connection before any byte is the race of a server closing a connection
    it saw as idle just as the request went out; on a new connection it is not."""

    def __init__(self, got_bytes: int = 0, reused: bool = False) -> None:
        self.got_bytes = got_bytes
        self.reused = reused
        what = "before any response byte" if got_bytes == 0 else f"after {got_bytes} bytes"
        which = "a reused keep-alive connection" if reused else "the connection"
        super().__init__(f"server closed {which} {what}")


class BadResponse(Exception):
    """The bytes the server sent are not an HTTP/1.x response we can parse."""


_REFUSED = {errno.ECONNREFUSED}
_RESET = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED}
_TIMEOUT = {errno.ETIMEDOUT}
# The kernel found no way to the address: no route (ENETUNREACH), or an ICMP host unreachable,
# which Linux also raises itself when neighbour resolution (ARP) for a next hop on the link
# fails (EHOSTUNREACH). A client sees this when a Service still sends it to a pod whose network
# is gone: the kubelet stops the pod sandbox right after its containers
# (pkg/kubelet/kuberuntime/kuberuntime_manager.go, killPodWithSyncResult) and the runtime's
# CNI DEL removes the pod's veth and address, while the proxy may still DNAT to it.
_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH}


def classify(status: int | None, exc: BaseException | None) -> Outcome:
    """The class of one finished request: from the status when a response came, else the error.

    Order matters: the errno subclasses of OSError come first, so that ConnectionResetError and
    ServerClosed (both ConnectionError) land in different classes.
    """
    if exc is None:
        if status is None:
            return Outcome.OTHER
        if status >= 500:
            return Outcome.HTTP_5XX
        if status >= 400:
            return Outcome.HTTP_4XX
        return Outcome.OK if status >= 200 else Outcome.OTHER
    if isinstance(exc, ServerClosed):
        return Outcome.CLOSED
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is TimeoutError since 3.11
        return Outcome.TIMEOUT
    if isinstance(exc, ConnectionRefusedError):
        return Outcome.REFUSED
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return Outcome.RESET
    if isinstance(exc, OSError) and exc.errno is not None:
        return _by_errno(exc.errno)
    return Outcome.OTHER


def _by_errno(code: int) -> Outcome:
    if code in _REFUSED:
        return Outcome.REFUSED
    if code in _RESET:
        return Outcome.RESET
    if code in _TIMEOUT:
        return Outcome.TIMEOUT
    if code in _UNREACHABLE:
        return Outcome.UNREACHABLE
    return Outcome.OTHER


# The client's own resources ran out: too many open files (process or system), no buffer
# memory, no local port left. Such a request was never sent: it says nothing about the server.
_CLIENT_SIDE = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EADDRNOTAVAIL}


def client_side(exc: BaseException | None) -> bool:
    """Whether a failure is the client's own (its limits), not an outcome of the server: such
    requests are counted apart (`not sent: client error`), never put in a class."""
    return isinstance(exc, OSError) and exc.errno in _CLIENT_SIDE


def describe(outcome: Outcome, status: int | None, exc: BaseException | None) -> str | None:
    """A short message for the error table and CSV, identical for identical failures."""
    if exc is None:
        return None if outcome is Outcome.OK else f"HTTP {status}"
    if isinstance(exc, ServerClosed):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return str(exc) or "timed out"
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, str(exc.errno))
        return f"{name}: {os.strerror(exc.errno)}"  # the loop's text may hold addresses
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
