"""simpleweb's own HTTP/1.1 server: what it has to get right now that no framework does it.

Pure rules first (tests of http1.py, no sockets), then the real `probelab web` process spoken to
over raw sockets: keep-alive, pipelining, HEAD, request bodies (Content-Length and chunked),
malformed requests (400 and the connection closed), request smuggling shapes (refused, and the
smuggled request never answered), versions, Expect, Upgrade. RFC sections are cited per test.
"""

from __future__ import annotations

import email.utils
import signal
import socket
import threading
from collections.abc import Iterator

import pytest

from probelab.web import protocol
from probelab.web.app import parse_ms
from probelab.web.http1 import (
    Request,
    Response,
    connection_line,
    framing_problem,
    header_problem,
    http_date,
    identity_lines,
    response_bytes,
    route,
    version_problem,
)
from probelab.web.protocol import target
from support.waiting import wait_until
from test_web import HOST, Web, read_response, serving, web


# ---- pure rules --------------------------------------------------------------------------------
@pytest.mark.parametrize(("version", "status"), [
    ("1.1", None), ("1.0", None), ("2.0", 505), ("3.0", 505), ("0.9", 400),
])
def test_only_http_1x_is_spoken(version: str, status: int | None) -> None:
    assert version_problem(version) == status


@pytest.mark.parametrize(("version", "hosts", "chunked", "length", "status"), [
    ("1.1", 1, False, 0, None),
    ("1.1", 0, False, 0, 400),  # RFC 9112 §3.2: Host is required in HTTP/1.1
    ("1.1", 2, False, 0, 400),  # ... and only once
    ("1.0", 0, False, 0, None),
    ("1.0", 2, False, 0, 400),
    ("1.0", 1, True, 0, 400),  # RFC 9112 §6.1: Transfer-Encoding in 1.0 is faulty framing
    ("1.1", 1, True, 0, None),
    ("1.1", 1, False, 64 * 1024, None),
    ("1.1", 1, False, 64 * 1024 + 1, 413),  # RFC 9110 §15.5.14
])
def test_framing(version: str, hosts: int, chunked: bool, length: int,
                 status: int | None) -> None:
    assert framing_problem(version, hosts, chunked, length) == status


def test_header_limits() -> None:
    assert header_problem(64, b"X", b"y") is None
    assert header_problem(65, b"X", b"y") == 400
    assert header_problem(1, b"X", b"y" * 8187) is None  # 8190 bytes with ": "
    assert header_problem(1, b"X", b"y" * 8188) == 400


@pytest.mark.parametrize(("keep", "http10", "line"), [
    (True, False, b""),
    (True, True, b"Connection: keep-alive\r\n"),
    (False, False, b"Connection: close\r\n"),
    (False, True, b"Connection: close\r\n"),
])
def test_connection_header(keep: bool, http10: bool, line: bytes) -> None:
    assert connection_line(keep, http10) == line


def test_date_is_imf_fixdate() -> None:
    for epoch in (0, 1_700_000_000, 1_796_224_471.9):
        assert http_date(epoch).decode() == email.utils.formatdate(int(epoch), usegmt=True)


def test_identity_header_values_cannot_inject_lines() -> None:
    lines = identity_lines("1.0", "pod\r\nSet-Cookie: x")
    assert lines == b"X-App-Version: 1.0\r\nX-Pod-Name: pod??Set-Cookie: x\r\n"


def test_head_response_has_the_get_headers_and_no_body() -> None:
    response = Response(200, b"hello\n")
    get = response_bytes(response, b"D", b"X-App-Version: 1\r\n", b"", head_only=False)
    head = response_bytes(response, b"D", b"X-App-Version: 1\r\n", b"", head_only=True)
    assert get == head + b"hello\n"
    assert head == (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    b"Content-Length: 6\r\nDate: D\r\nX-App-Version: 1\r\n\r\n")


def test_routing() -> None:
    routes = {"/": lambda request: Response(200, b"page")}

    def status(method: str, path: str) -> int:
        result = route(routes, Request(method, path, "", "", True))
        assert isinstance(result, Response)
        return result.status

    assert (status("GET", "/"), status("HEAD", "/")) == (200, 200)
    assert status("POST", "/") == 405  # RFC 9110 §15.5.6 (with Allow: GET,HEAD)
    assert status("GET", "/nope") == 404
    assert status("POST", "/nope") == 404


@pytest.mark.parametrize(("url", "path", "query"), [
    (b"/slow?ms=5", "/slow", "ms=5"),
    (b"/", "/", ""),
    (b"/%73low?ms=%35", "/slow", "ms=%35"),
    (b"http://example/slow?ms=2", "/slow", "ms=2"),  # RFC 9112 §3.2.2, absolute form
    (b"*", "*", ""),
])
def test_request_target(url: bytes, path: str, query: str) -> None:
    assert target(url) == (path, query)


@pytest.mark.parametrize(("query", "result"), [
    ("ms=5", 5), ("ms=%35", 5), ("ms=1&ms=2", 1), ("x=1&ms=0", 0), ("ms=600000", 600000),
])
def test_parse_ms(query: str, result: int) -> None:
    assert parse_ms(query) == result


@pytest.mark.parametrize(("query", "message"), [
    ("", "missing query parameter ms (e.g. /slow?ms=3000)\n"),
    ("ms=", "ms must be a whole number, got ''\n"),
    ("ms=abc", "ms must be a whole number, got 'abc'\n"),
    ("ms=600001", "ms must be between 0 and 600000\n"),
])
def test_parse_ms_errors(query: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_ms(query)
    assert str(info.value) == message


# ---- the real process --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[Web]:
    """One process for the raw-socket tests; at the end it must stop cleanly, and nothing the
    tests sent may have raised inside it (an exception in a protocol callback is only logged)."""
    with web(env={"POD_NAME": "http1-pod"}) as w:
        serving(w)
        yield w
        w.proc.send_signal(signal.SIGTERM)
        code, log = w.finish()
    assert code == 0
    assert "Traceback" not in log and "Error" not in log, log


class Responses:
    """Reads responses one by one from a connection that may hold several (pipelining)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, f"connection closed with {self.buffer!r} unread"
        self.buffer += chunk

    def next(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
        length = int(headers["content-length"])
        while len(rest) < length:
            self._fill()
            rest = self.buffer.partition(b"\r\n\r\n")[2]
        self.buffer = rest[length:]
        return int(lines[0].split()[1]), headers, rest[:length]


def connect(w: Web) -> socket.socket:
    return socket.create_connection((HOST, w.port), timeout=15)


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (FIN); a reset fails the test."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def statuses(raw: bytes) -> list[int]:
    return [int(line.split()[1]) for line in raw.split(b"\r\n") if line.startswith(b"HTTP/1.")]


def exchange(w: Web, raw: bytes) -> bytes:
    """Send `raw` on a new connection and read until the server closes it."""
    with connect(w) as sock:
        sock.sendall(raw)
        return read_all(sock)


GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def test_keepalive_serves_many_requests_on_one_connection(server: Web) -> None:
    with connect(server) as sock:
        for _ in range(3):
            sock.sendall(GET)
            status, headers, body = read_response(sock)
            assert status == 200 and b"simpleweb 1.0" in body
            assert "connection" not in headers  # HTTP/1.1 keeps it open without saying so
            assert set(headers) >= {"content-type", "content-length", "date", "x-app-version",
                                    "x-pod-name"}
            assert headers["x-pod-name"] == "http1-pod"
            assert "server" not in headers


def test_pipelined_requests_are_answered_in_order(server: Web) -> None:
    """RFC 9112 §9.3.2: a slow request first does not let the later ones overtake it."""
    with connect(server) as sock:
        sock.sendall(b"GET /slow?ms=200 HTTP/1.1\r\nHost: t\r\n\r\n" + GET
                     + b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
        responses = Responses(sock)
        first, second, third = (responses.next() for _ in range(3))
    assert (first[0], first[2]) == (200, b"slept 200 ms\n")
    assert second[0] == 200 and b"simpleweb" in second[2]
    assert (third[0], third[2]) == (404, b"404: Not Found")


def test_a_long_pipeline_is_answered_whole_and_in_order(server: Web) -> None:
    """500 requests in one send, read only afterwards: every one answered, in order, nothing
    lost between the parser's queue, the handler and the write buffer."""
    count = 500
    with connect(server) as sock:
        sock.sendall((GET + b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n") * (count // 2))
        responses = Responses(sock)
        got = [responses.next()[0] for _ in range(count)]
    assert got == [200, 404] * (count // 2)


def test_a_long_pipeline_behind_a_slow_request_is_answered_whole(server: Web) -> None:
    """2,000 requests queued while /slow runs are answered, in order, once it is done."""
    count = 2_000
    with connect(server) as sock:
        sock.sendall(b"GET /slow?ms=100 HTTP/1.1\r\nHost: t\r\n\r\n" + GET * count)
        responses = Responses(sock)
        first = responses.next()
        rest = [responses.next() for _ in range(count)]
    assert (first[0], first[2]) == (200, b"slept 100 ms\n")
    assert all(status == 200 for status, _, _ in rest)


def test_nothing_after_connection_close_is_processed(server: Web) -> None:
    """RFC 9112 §9.6: after a request with `Connection: close`, the server answers it and
    closes; a request pipelined behind it is not processed."""
    raw = exchange(server, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                   b"GET /slow?ms=1 HTTP/1.1\r\nHost: t\r\n\r\n")
    assert statuses(raw) == [200]
    assert b"Connection: close\r\n" in raw and b"slept" not in raw


def test_head_sends_the_headers_of_get_and_no_body(server: Web) -> None:
    """RFC 9110 §9.3.2; the next response on the connection proves no body bytes were sent."""
    with connect(server) as sock:
        sock.sendall(b"HEAD /slow?ms=1 HTTP/1.1\r\nHost: t\r\n\r\n"
                     b"GET /slow?ms=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(b"slept 1 ms\n"):
            chunk = sock.recv(4096)
            assert chunk
            data += chunk
    head, get = data.split(b"HTTP/1.1 ")[1:]
    assert b"Content-Length: 11\r\n" in head and head.endswith(b"\r\n\r\n")
    assert get.endswith(b"\r\n\r\nslept 1 ms\n")


def test_request_bodies_are_read_and_dropped_content_length_and_chunked(server: Web) -> None:
    """A body, sized by Content-Length or chunked (RFC 9112 §6.3, §7.1), is consumed so that
    the next request on the connection is read from the right place."""
    with connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n"
                     b"GET /nope H"  # looks like a request, is the body
                     b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nGET /\r\n0\r\n\r\n" + GET)
        responses = Responses(sock)
        answers = [responses.next() for _ in range(3)]
    assert [a[0] for a in answers] == [405, 200, 200]
    assert answers[0][1]["allow"] == "GET,HEAD"
    assert answers[0][2] == b"405: Method Not Allowed"


def test_expect_100_continue_gets_an_interim_response(server: Web) -> None:
    """RFC 9110 §10.1.1: a client that waits for 100 before its body is not left waiting."""
    with connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        assert sock.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"abc")
        assert read_response(sock)[0] == 405


def test_body_over_the_limit_is_413_before_it_is_sent(server: Web) -> None:
    raw = exchange(server, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 70000\r\n\r\n")
    assert statuses(raw) == [413]


def test_chunked_body_over_the_limit_is_413(server: Web) -> None:
    chunk = b"8000\r\n" + b"x" * 0x8000 + b"\r\n"
    with connect(server) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + chunk * 3)
        raw = read_all(sock)
    assert statuses(raw) == [413]


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\nHost: t\n\n",  # bare LF (RFC 9112 §2.2 allows refusing it)
    b"GET / HTTP/1.1\r\nHost: t\r\n Folded: x\r\n\r\n",  # obs-fold, RFC 9112 §5.2
    b"GET / HTTP/1.1\r\nHost : t\r\n\r\n",  # whitespace before the colon, RFC 9112 §5.1
    b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n",  # NUL in a value, RFC 9110 §5.5
    b"GET / HTTP/1.2\r\nHost: t\r\n\r\n",
    b"GET /a b HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n",  # request line over 8190
    b"GET / HTTP/1.1\r\n\r\n",  # no Host
    b"GET /\r\n\r\n",  # HTTP/0.9
], ids=["method", "bare-lf", "obs-fold", "space-colon", "nul", "version", "space-in-target",
        "long-target", "no-host", "http09"])
def test_malformed_requests_get_400_and_the_connection_closes(server: Web, raw: bytes) -> None:
    answer = exchange(server, raw)
    assert statuses(answer) == [400], answer[:200]
    assert b"Connection: close\r\n" in answer
    assert answer.endswith(b"\r\n\r\n400: Bad Request")


SMUGGLED = b"GET /slow?ms=1 HTTP/1.1\r\nHost: t\r\n\r\n"  # must never be answered


@pytest.mark.parametrize("head", [
    b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +4\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n",
    b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
], ids=["cl-te", "te-cl", "two-cl", "signed-cl", "te-not-chunked", "te-chunked-not-last",
        "te-space-colon", "te-in-http10", "two-hosts"])
def test_smuggling_shapes_are_refused_and_nothing_behind_them_runs(server: Web,
                                                                   head: bytes) -> None:
    """RFC 9112 §6.1, §6.3, §11.2: ambiguous framing is a 400 and the connection closes, so a
    request hidden in the body is never seen as a request of its own."""
    answer = exchange(server, head + b"0\r\n\r\n" + SMUGGLED)
    assert statuses(answer) == [400], answer[:300]
    assert b"slept" not in answer


def test_http2_request_line_is_505(server: Web) -> None:
    answer = exchange(server, b"GET / HTTP/2.0\r\nHost: t\r\n\r\n")
    assert statuses(answer) == [505]


def test_http10_closes_unless_it_asks_for_keepalive(server: Web) -> None:
    """RFC 9112 §9.3: an HTTP/1.0 connection persists only with `Connection: keep-alive`."""
    answer = exchange(server, b"GET / HTTP/1.0\r\n\r\n")
    assert statuses(answer) == [200] and b"Connection: close\r\n" in answer
    with connect(server) as sock:
        for _ in range(2):
            sock.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            status, headers, _ = read_response(sock)
            assert (status, headers["connection"]) == (200, "keep-alive")


def test_upgrade_is_ignored_and_the_connection_closes_after_the_answer(server: Web) -> None:
    """RFC 9110 §7.8: a server may ignore Upgrade; it answers in HTTP/1.1 and, since nothing
    after an upgrade request can be read as HTTP, closes."""
    answer = exchange(server, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
                      b"Upgrade: websocket\r\n\r\n" + SMUGGLED)
    assert statuses(answer) == [200]
    assert b"Connection: close\r\n" in answer and b"slept" not in answer


def test_a_client_that_sends_after_the_close_sees_a_clean_close(server: Web) -> None:
    """After its last response the server half-closes and drops what still arrives, so a late
    request meets a FIN, not a reset that could destroy the response (RFC 9112 §9.6)."""
    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        read_response(sock)
        sock.sendall(GET * 50)
        assert read_all(sock) == b""


def test_server_answers_a_fresh_connection_after_all_of_the_above(server: Web) -> None:
    assert server.get("/").status == 200
    assert server.proc.poll() is None


def test_a_pipelining_client_that_reads_slowly_gets_everything(server: Web) -> None:
    """2,000 HTML pages (about 3 MiB) pipelined by a client with a small receive buffer, sent
    from another thread while this one reads: the server's write buffer fills, it stops reading
    until the client catches up (no unbounded buffering), and every answer arrives in order."""
    count = 2_000
    html = b"GET / HTTP/1.1\r\nHost: t\r\nAccept: text/html\r\n\r\n"
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(15)
        sock.connect((HOST, server.port))
        sender = threading.Thread(target=sock.sendall, args=(html * count,), daemon=True)
        sender.start()
        responses = Responses(sock)
        pages = [responses.next() for _ in range(count)]
        sender.join(15)
    assert all(status == 200 and body.startswith(b"<!doctype html>")
               for status, _, body in pages)
    served = [int(body.split(b"<dt>Requests served</dt><dd>")[1].split(b"<")[0])
              for _, _, body in pages]
    assert served == sorted(served) and len(set(served)) == count  # in order, none twice


def test_bytes_after_the_last_request_are_dropped_without_an_error() -> None:
    """llhttp reports anything after a `Connection: close` request as a parse error; that
    must neither answer it (a 400 after the final response) nor fail in the server."""
    with web() as w:
        serving(w)
        for tail in (b"GARBAGE\r\n\r\n", GET, b"GET /slow?ms=1 HTTP/1.1\r\nHost: t\r\n\r\n"):
            for first in (b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                          b"GET /slow?ms=50 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"):
                assert statuses(exchange(w, first + tail)) == [200]
        w.proc.send_signal(signal.SIGTERM)
        code, log = w.finish()
    assert code == 0
    assert "Traceback" not in log and "Error" not in log, log


def tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of a socket (tcp_info's first byte; 7 is TCP_CLOSE)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def test_a_client_that_stops_reading_is_dropped_after_the_idle_timeout() -> None:
    """A slow-read attack: pipelined requests, never read. The server stops reading when its
    write buffer is full; after --idle-timeout and the linger it resets the connection
    instead of waiting forever for a buffer the client will never drain."""
    html = b"GET / HTTP/1.1\r\nHost: t\r\nAccept: text/html\r\n\r\n"
    with web("--idle-timeout", "1") as w:
        serving(w)
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((HOST, w.port))
            sock.setblocking(False)
            sent = 0
            for _ in range(5_000):  # bounded: stop once the server no longer takes more
                try:
                    sent += sock.send(html * 100)
                except BlockingIOError:
                    break
            assert sent > 0
            wait_until(lambda: tcp_state(sock) == 7, timeout_s=30, what="connection reset")
        assert w.get("/").status == 200


def test_shutdown_closes_a_connection_with_unfinished_headers_at_once() -> None:
    """A client in the middle of its headers is not a request in flight: at the listener's
    close it gets its FIN with the idle ones, and the shutdown does not wait for it."""
    with web("--idle-timeout", "300", "--shutdown-timeout", "300") as w:
        serving(w)
        with socket.create_connection((HOST, w.port), timeout=15) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")  # never finished
            w.proc.send_signal(signal.SIGTERM)
            assert sock.recv(1) == b""
            code, log = w.finish(timeout_s=30)  # far less than either 300 s
    assert code == 0
    assert "closing 1 connections, 0 requests in flight" in log


def test_a_request_pipelined_behind_a_busy_one_at_shutdown_is_not_answered() -> None:
    """The listener closes while /slow runs on a keep-alive connection with a second request
    queued behind it: /slow is answered with Connection: close, the queued one is dropped
    (RFC 9112 §9.6: nothing after the last response), and the connection closes cleanly."""
    with web("--shutdown-timeout", "30") as w:
        serving(w)
        with socket.create_connection((HOST, w.port), timeout=15) as sock:
            sock.sendall(b"GET /slow?ms=1500 HTTP/1.1\r\nHost: t\r\n\r\n" + GET)
            wait_until(lambda: w.in_flight() == 1, what="request in flight")
            w.proc.send_signal(signal.SIGTERM)
            wait_until(w.refuses, what="listener closed")
            answer = read_all(sock)
        code, log = w.finish()
    assert statuses(answer) == [200]
    assert b"Connection: close\r\n" in answer and answer.endswith(b"slept 1500 ms\n")
    assert code == 0 and "1 finished, 0 cancelled" in log


def test_admin_port_answers_while_in_flight_requests_finish() -> None:
    """The kubelet's probes keep working through the whole shutdown: with the public listener
    closed and /slow still running, /healthz answers 503 `closing` and /metrics still counts."""
    with web("--shutdown-timeout", "30") as w:
        serving(w)
        with socket.create_connection((HOST, w.port), timeout=15) as sock:
            sock.sendall(b"GET /slow?ms=3000 HTTP/1.1\r\nHost: t\r\n\r\n")
            wait_until(lambda: w.in_flight() == 1, what="request in flight")
            w.proc.send_signal(signal.SIGTERM)
            wait_until(w.refuses, what="listener closed")
            health = w.get("/healthz", admin=True)
            in_flight = w.in_flight()
            assert Responses(sock).next()[2] == b"slept 3000 ms\n"
        code, _ = w.finish()
    assert (health.status, health.body, in_flight) == (503, "closing\n", 1)
    assert code == 0


def test_remembered_targets_parse_as_the_rule_and_stay_bounded() -> None:
    """The connection remembers the targets it parsed last (a load asks for the same few);
    what it remembers is what `target` says, and the memory is emptied when full."""
    urls = [f"/p{i}?q=%2F{i}".encode() for i in range(protocol._TARGETS_KEPT + 50)]
    urls += [b"/a%20b", b"http://h/x?y", b"*", b"/"]
    for url in urls + urls[::-1]:
        assert (protocol._TARGETS.get(url) or protocol._target(url)) == protocol.target(url)
        assert len(protocol._TARGETS) <= protocol._TARGETS_KEPT
    assert protocol.target(b"/a%20b") == ("/a b", "")
    assert protocol.target(b"http://h/x?y") == ("/x", "y")
