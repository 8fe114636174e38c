"""`probelab web` as a real process: real sockets, real signals (issue 2, behaviours 1-7).

Each test starts `python -m probelab web` on free loopback ports, talks to it with http.client or
raw sockets (to see exactly what a keep-alive client sees), signals it by PID and waits on
conditions, never on fixed sleeps. The process is always stopped and reaped (`started`).
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from support.processes import probelab_cmd, run_probelab, started
from support.sockets import free_port, port_open
from support.waiting import wait_until

HOST = "127.0.0.1"


@dataclass
class Web:
    proc: subprocess.Popen[str]
    port: int
    admin_port: int

    def get(self, path: str, admin: bool = False, **headers: str) -> Response:
        return get(self.admin_port if admin else self.port, path, headers)

    def in_flight(self) -> int:
        text = self.get("/metrics", admin=True).body
        match = re.search(r"^simpleweb_requests_in_flight (\S+)$", text, re.M)
        assert match, text
        return int(float(match.group(1)))

    def refuses(self) -> bool:
        try:
            socket.create_connection((HOST, self.port), timeout=2).close()
        except ConnectionRefusedError:
            return True
        return False

    def finish(self, timeout_s: float = 30) -> tuple[int, str]:
        """Wait for the process to exit on its own; its exit code and log, which must show no
        exception (one raised in a protocol callback is only logged, never seen by a client)."""
        code = self.proc.wait(timeout_s)
        assert self.proc.stderr is not None
        log = self.proc.stderr.read()
        assert "Traceback" not in log, log
        return code, log


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str


def get(port: int, path: str, headers: dict[str, str] | None = None) -> Response:
    """One request on a fresh connection."""
    conn = http.client.HTTPConnection(HOST, port, timeout=15)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read().decode()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
    finally:
        conn.close()


@contextmanager
def web(*flags: str, env: dict[str, str] | None = None) -> Iterator[Web]:
    port, admin_port = free_port(), free_port()
    argv = probelab_cmd("web", "--host", HOST, "--port", str(port),
                        "--admin-port", str(admin_port), *flags)
    with started(argv, env={**os.environ, **(env or {})}) as proc:
        wait_until(lambda: proc.poll() is not None or port_open(HOST, admin_port),
                   what="admin port")
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        yield Web(proc, port, admin_port)


def serving(w: Web) -> None:
    wait_until(lambda: w.get("/healthz", admin=True).status == 200, what="ready")


def in_thread(fn) -> tuple[threading.Thread, dict]:
    """Run `fn` in a thread; its result (or exception) and end time land in the dict."""
    out: dict = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # reported by the test through `out`
            out["error"] = exc
        out["done_at"] = time.monotonic()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


# ---- raw keep-alive connections -------------------------------------------------------------
def send_request(sock: socket.socket, path: str) -> None:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read exactly one response with a Content-Length body from a keep-alive socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed before a full response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(4096)
        assert chunk, "connection closed in the middle of a body"
        body += chunk
    assert len(body) == length, "more bytes than one response"
    return status, headers, body


def keepalive_connection(w: Web) -> socket.socket:
    """A connection that has served one keep-alive request and now sits idle."""
    sock = socket.create_connection((HOST, w.port), timeout=15)
    send_request(sock, "/")
    status, headers, _ = read_response(sock)
    assert status == 200
    assert headers.get("connection", "").lower() != "close"
    return sock


# ---- 1. startup ------------------------------------------------------------------------------
def test_healthz_is_503_until_the_public_port_listens() -> None:
    with web("--startup-delay", "3") as w:
        first = w.get("/healthz", admin=True)
        public_open_then = port_open(HOST, w.port)
        assert first.status == 503
        assert not public_open_then  # readiness gating is only useful if this window exists
        serving(w)
        assert w.get("/").status == 200


# ---- 2. /prestop -----------------------------------------------------------------------------
def test_prestop_drains_at_once_and_answers_after_the_delay() -> None:
    with web("--prestop-delay", "2") as w:
        serving(w)
        asked_at = time.monotonic()
        thread, out = in_thread(lambda: w.get("/prestop", admin=True))
        wait_until(lambda: w.get("/healthz", admin=True).status == 503, what="healthz 503")
        page = w.get("/")
        assert "done_at" not in out  # the hook is still being held
        assert page.status == 200
        assert page.headers["connection"].lower() == "close"
        thread.join(15)
        assert out["value"].status == 200
        assert out["done_at"] - asked_at >= 2.0
        assert w.get("/").status == 200  # after the hook, still serving until the signal


# ---- 3. SIGTERM with a request in flight -----------------------------------------------------
def test_sigterm_lets_the_in_flight_request_finish_and_refuses_new_ones() -> None:
    with web("--shutdown-timeout", "30") as w:
        serving(w)
        thread, out = in_thread(lambda: w.get("/slow?ms=3000"))
        wait_until(lambda: w.in_flight() == 1, what="request in flight")
        w.proc.send_signal(signal.SIGTERM)
        wait_until(w.refuses, what="listener closed")
        refused_while_in_flight = "done_at" not in out
        thread.join(15)
        assert out["value"].status == 200, out
        assert refused_while_in_flight
        code, log = w.finish()
    assert code == 0
    assert "1 finished, 0 cancelled" in log  # it did not need the --shutdown-timeout


# ---- 4. keep-alive connections at shutdown ---------------------------------------------------
def test_idle_keepalive_connection_is_closed_cleanly() -> None:
    with web() as w:
        serving(w)
        sock = keepalive_connection(w)
        with sock:
            w.proc.send_signal(signal.SIGTERM)
            assert sock.recv(1) == b""  # FIN, not RST (a reset raises ConnectionResetError)
            send_request(sock, "/")  # the next request, sent after the close
            assert sock.recv(4096) == b""  # a clean close, not a reset
        code, _ = w.finish()
    assert code == 0


def test_request_in_flight_on_keepalive_connection_gets_connection_close() -> None:
    with web() as w:
        serving(w)
        sock = keepalive_connection(w)
        with sock:
            send_request(sock, "/slow?ms=1500")
            wait_until(lambda: w.in_flight() == 1, what="request in flight")
            w.proc.send_signal(signal.SIGTERM)
            status, headers, body = read_response(sock)
            assert (status, body) == (200, b"slept 1500 ms\n")
            assert headers["connection"].lower() == "close"
            assert sock.recv(1) == b""
        code, _ = w.finish()
    assert code == 0


# ---- 5. drain delay --------------------------------------------------------------------------
def test_drain_delay_keeps_serving_with_connection_close() -> None:
    with web("--drain-delay", "2") as w:
        serving(w)
        sock = keepalive_connection(w)
        with sock:
            w.proc.send_signal(signal.SIGTERM)
            wait_until(lambda: w.get("/healthz", admin=True).status == 503, what="healthz 503")
            fresh = w.get("/")  # a new connection, during the drain delay
            send_request(sock, "/")  # and the old keep-alive one
            status, headers, _ = read_response(sock)
            assert sock.recv(1) == b""  # closed by the server after that response
            still_accepting = not w.refuses()
        assert fresh.status == 200
        assert fresh.headers["connection"].lower() == "close"
        assert status == 200
        assert headers["connection"].lower() == "close"
        assert still_accepting
        wait_until(w.refuses, what="listener closed after the drain delay")
        code, log = w.finish()
    assert code == 0
    assert "drain delay of 2 s over" in log


# ---- 6. admin endpoints are not on the public port --------------------------------------------
def test_public_port_serves_no_admin_endpoint() -> None:
    with web() as w:
        serving(w)
        for path in ("/prestop", "/healthz", "/livez", "/metrics"):
            assert w.get(path).status == 404, path
        assert w.get("/healthz", admin=True).status == 200  # /prestop above drained nothing
        for path in ("/", "/slow?ms=1"):
            assert w.get(path, admin=True).status == 404, path


# ---- 7. bad flags ----------------------------------------------------------------------------
@pytest.mark.parametrize("flags", [
    ("--prestop-delay", "-1"),
    ("--drain-delay", "-0.5"),
    ("--shutdown-timeout", "-3"),
    ("--startup-delay", "nan"),
    ("--port", "70000"),
    ("--admin-port", "-1"),
    ("--port", "http"),
    ("--port", "8181", "--admin-port", "8181"),
])
def test_bad_flags_are_one_line_exit_2(flags: tuple[str, ...]) -> None:
    result = run_probelab("web", "--host", HOST, *flags, timeout=30)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("probelab: error: --")


def test_port_in_use_is_one_line_exit_2_and_harms_nothing() -> None:
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_probelab("web", "--host", HOST, "--port", str(port),
                              "--admin-port", str(free_port()), timeout=30)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert f"{port}" in result.stderr and "in use" in result.stderr
        with socket.create_connection((HOST, port), timeout=5):  # the holder still listens
            conn, _ = holder.accept()
            conn.close()


def test_bad_environment_variable_is_one_line_exit_2() -> None:
    env = {**os.environ, "PROBELAB_WEB_PRESTOP_DELAY": "-5"}
    result = run_probelab("web", "--host", HOST, timeout=30, env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == "probelab: error: --prestop-delay must be zero or more " \
        "seconds, got '-5'"


# ---- the public contract ---------------------------------------------------------------------
def test_stats_page_text_for_curl_html_for_browsers_and_identity_headers() -> None:
    env = {"POD_NAME": "simpleprobe-abc12", "PROBELAB_WEB_APP_VERSION": "2.0"}
    with web(env=env) as w:
        serving(w)
        text = w.get("/", Accept="*/*")
        page = w.get("/", Accept="text/html,application/xhtml+xml")
        missing = w.get("/nope")
        for resp in (text, page, missing, w.get("/healthz", admin=True)):
            assert resp.headers["x-app-version"] == "2.0"
            assert resp.headers["x-pod-name"] == "simpleprobe-abc12"
        assert missing.status == 404
        assert text.headers["content-type"].startswith("text/plain")
        assert re.search(r"^Version:\s+2\.0$", text.body, re.M)
        assert re.search(r"^Pod:\s+simpleprobe-abc12$", text.body, re.M)
        assert re.search(r"^Requests served:\s+\d+$", text.body, re.M)
        assert page.headers["content-type"].startswith("text/html")
        assert '<meta http-equiv="refresh"' in page.body
        assert "simpleprobe-abc12" in page.body


def test_slow_validates_ms_and_metrics_count_requests() -> None:
    with web() as w:
        serving(w)
        assert w.get("/slow?ms=5").body == "slept 5 ms\n"
        for bad in ("/slow", "/slow?ms=abc", "/slow?ms=-1", "/slow?ms=99999999"):
            assert w.get(bad).status == 400, bad
        metrics = w.get("/metrics", admin=True)
        assert metrics.status == 200
        assert 'simpleweb_requests_total{code="200",route="/slow"} 1.0' in metrics.body
        assert 'simpleweb_requests_total{code="400",route="/slow"} 4.0' in metrics.body
        assert "simpleweb_ready 1.0" in metrics.body
        assert "process_resident_memory_bytes" in metrics.body
        assert w.get("/livez", admin=True).status == 200


# ---- limits (issue 8: security) --------------------------------------------------------------
def test_oversized_requests_are_rejected_and_slow_loris_is_dropped() -> None:
    with web("--idle-timeout", "1") as w:
        serving(w)
        many = {f"X-H{i}": "x" for i in range(100)}
        assert w.get("/", **many).status in (400, 431)
        assert w.get("/", **{"X-Big": "y" * 20_000}).status in (400, 431)
        with socket.create_connection((HOST, w.port), timeout=15) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n")  # headers never finished
            assert sock.recv(1) == b""  # the server gave up on it (after --idle-timeout)
        assert w.get("/").status == 200


# ---- Ctrl-C twice ----------------------------------------------------------------------------
def test_second_sigint_exits_at_once() -> None:
    with web("--shutdown-timeout", "60") as w:
        serving(w)
        thread, out = in_thread(lambda: w.get("/slow?ms=60000"))
        wait_until(lambda: w.in_flight() == 1, what="request in flight")
        w.proc.send_signal(signal.SIGINT)
        wait_until(w.refuses, what="graceful shutdown started")
        w.proc.send_signal(signal.SIGINT)
        code, log = w.finish(timeout_s=15)
        thread.join(15)
    assert code == 130
    assert "second SIGINT: exiting now" in log
    assert "error" in out  # the 60 s request was abandoned, not answered


# ---- the Kubernetes order: preStop, then SIGTERM ----------------------------------------------
def test_sigterm_after_prestop_skips_the_drain_delay() -> None:
    with web("--prestop-delay", "1", "--drain-delay", "300") as w:
        serving(w)
        assert w.get("/prestop", admin=True).status == 200  # the kubelet waits for the hook
        w.proc.send_signal(signal.SIGTERM)
        code, log = w.finish(timeout_s=30)  # far less than the 300 s drain delay
    assert code == 0
    assert "no drain delay (/prestop already drained)" in log


def test_sigterm_during_startup_delay_exits_without_listening() -> None:
    with web("--startup-delay", "300") as w:
        assert w.get("/healthz", admin=True).status == 503
        w.proc.send_signal(signal.SIGTERM)
        code, log = w.finish(timeout_s=30)
    assert code == 0
    assert "startup delay of 300 s over (interrupted)" in log
    assert "public port listening" not in log


def test_foreign_address_is_one_line_exit_2() -> None:
    result = run_probelab("web", "--host", "192.0.2.1", "--port", "0", "--admin-port", "0",
                          timeout=30)  # TEST-NET-1: never an address of this machine
    assert result.returncode == 2
    assert result.stderr == "probelab: error: --host 192.0.2.1: not an address of this machine\n"


def test_shutdown_timeout_cancels_what_is_left_and_still_exits_0() -> None:
    with web("--shutdown-timeout", "1") as w:
        serving(w)
        thread, out = in_thread(lambda: w.get("/slow?ms=120000"))
        wait_until(lambda: w.in_flight() == 1, what="request in flight")
        w.proc.send_signal(signal.SIGTERM)
        code, log = w.finish(timeout_s=30)
        thread.join(15)
    assert code == 0
    assert "--shutdown-timeout 1 s reached: 1 requests cancelled, 0 finished" in log
    assert isinstance(out.get("error"), (http.client.RemoteDisconnected, ConnectionError))
