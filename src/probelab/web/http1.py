"""HTTP/1.1 messages as simpleweb reads and writes them: pure rules, no sockets.

`protocol.py` feeds bytes to httptools (llhttp, which already refuses the classic smuggling
shapes: Content-Length together with Transfer-Encoding, two Content-Lengths, a Transfer-Encoding
whose last coding is not chunked, obs-fold, bare LF, bad characters) and asks these functions
what to do with what it parsed; the answers are table-tested in tests/test_web_http1.py.

Sources: RFC 9110 (HTTP semantics) and RFC 9112 (HTTP/1.1 message syntax), cited by section.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from probelab.web.config import MAX_BODY_BYTES, MAX_HEADERS, MAX_LINE_BYTES

REASONS = {
    200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
    413: "Content Too Large", 500: "Internal Server Error", 503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}
TEXT = b"text/plain; charset=utf-8"
HTML = b"text/html; charset=utf-8"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"  # RFC 9110 §10.1.1: the client may send its body


class Request:
    """One parsed request: only what a route or the connection needs."""

    __slots__ = ("accept", "http10", "keep_alive", "method", "path", "query")

    def __init__(self, method: str, path: str, query: str, accept: str, keep_alive: bool,
                 http10: bool = False) -> None:
        self.method = method
        self.path = path  # percent-decoded, like the routes see it
        self.query = query  # raw, still percent-encoded
        self.accept = accept
        self.keep_alive = keep_alive  # the client's wish, from version and Connection (§9.3)
        self.http10 = http10


class Response:
    """Status, body and the few headers a route chooses; the connection adds the rest."""

    __slots__ = ("body", "content_type", "extra", "status")

    def __init__(self, status: int, body: bytes, content_type: bytes = TEXT,
                 extra: bytes = b"") -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.extra = extra  # whole header lines, e.g. b"Allow: GET,HEAD\r\n"


Handler = Callable[[Request], "Response | Awaitable[Response]"]


def text(body: str, status: int = 200) -> Response:
    return Response(status, body.encode())


def not_found() -> Response:
    return Response(404, b"404: Not Found")


def method_not_allowed() -> Response:
    """RFC 9110 §15.5.6: a 405 names the methods the target supports in Allow."""
    return Response(405, b"405: Method Not Allowed", extra=b"Allow: GET,HEAD\r\n")


def route(routes: dict[str, Handler], request: Request) -> Response | Awaitable[Response]:
    """GET (and HEAD, RFC 9110 §9.3.2) on a known path; 405 for another method; else 404."""
    handler = routes.get(request.path)
    if handler is None:
        return not_found()
    if request.method != "GET" and request.method != "HEAD":
        return method_not_allowed()
    return handler(request)


# ---- what the parser saw, judged ---------------------------------------------------------------
def version_problem(version: str) -> int | None:
    """The status for a request whose HTTP version we do not speak, else None. llhttp accepts
    `GET /` (HTTP/0.9) and `HTTP/2.0` in a request line; neither is HTTP/1.x (RFC 9110 §6.2,
    §15.6.6: 505 for a major version the server does not support)."""
    if version in ("1.1", "1.0"):
        return None
    return 505 if version[:1] not in ("0", "1") else 400


def header_problem(count: int, name: bytes, value: bytes) -> int | None:
    """A header line beyond the limits (config.py), as the 400 that ends the connection."""
    if count > MAX_HEADERS or len(name) + len(value) + 2 > MAX_LINE_BYTES:
        return 400
    return None


def framing_problem(version: str, hosts: int, chunked: bool, content_length: int) -> int | None:
    """What the headers as a whole say about the message, once they are complete.

    - RFC 9112 §3.2: an HTTP/1.1 request without a Host, or with more than one, is a 400.
    - RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing (a 1.0
      intermediary would not have decoded it): refuse it rather than guess its length.
    - RFC 9110 §15.5.14: a body larger than we accept is a 413, said before reading it.
    """
    if (version == "1.1" and hosts != 1) or hosts > 1:
        return 400
    if chunked and version == "1.0":
        return 400
    if content_length > MAX_BODY_BYTES:
        return 413
    return None


def content_length(value: bytes) -> int:
    """The value of a Content-Length line llhttp has already checked (digits only, one line)."""
    return int(value) if value.isdigit() else 0


# ---- what we write ---------------------------------------------------------------------------
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(epoch_s: float) -> bytes:
    """IMF-fixdate (RFC 9110 §5.6.7), for the Date header an origin server with a clock MUST
    send (§6.6.1). By hand rather than strftime, whose day and month names follow the locale."""
    t = time.gmtime(epoch_s)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT").encode()


def identity_lines(app_version: str, pod_name: str) -> bytes:
    """`X-App-Version` and `X-Pod-Name`, sent on every response. A field value may not hold
    CR, LF or NUL (RFC 9110 §5.5), so such a character (never in a real pod name) becomes `?`."""
    def clean(value: str) -> bytes:
        safe = "".join("?" if c in "\r\n\0" else c for c in value)
        return safe.encode("latin-1", "replace")

    return (b"X-App-Version: " + clean(app_version) + b"\r\nX-Pod-Name: " + clean(pod_name)
            + b"\r\n")


def connection_line(keep_alive: bool, http10: bool) -> bytes:
    """RFC 9112 §9.3/§9.6: `Connection: close` on the last response of a connection; an HTTP/1.0
    client that asked for keep-alive is told it got it; an HTTP/1.1 client assumes it."""
    if not keep_alive:
        return b"Connection: close\r\n"
    return b"Connection: keep-alive\r\n" if http10 else b""


def response_bytes(response: Response, date: bytes, identity: bytes, connection: bytes,
                   head_only: bool) -> bytes:
    """The whole response: status line, headers in the order the aiohttp service sent them,
    the body unless the request was HEAD (RFC 9110 §9.3.2: same headers, no content).
    The status line says HTTP/1.1 whatever 1.x the client spoke (RFC 9110 §6.2)."""
    body = response.body
    key = (response.status, response.content_type, response.extra)
    start = _STARTS.get(key)
    if start is None:
        start = _STARTS[key] = _start_lines(*key)
    head = b"%s%d\r\nDate: %s\r\n%s%s\r\n" % (start, len(body), date, connection, identity)
    return head if head_only else head + body


# Status line to `Content-Length: ` per (status, content type, extra lines): a handful of
# combinations, each formatted once instead of per response.
_STARTS: dict[tuple[int, bytes, bytes], bytes] = {}


def _start_lines(status: int, content_type: bytes, extra: bytes) -> bytes:
    return (b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%sContent-Length: "
            % (status, REASONS.get(status, "Unknown").encode(), content_type, extra))
