"""The load generator's pure rules, by table: classification, messages, scheduling arithmetic,
the retry rule, percentiles and the summary numbers, flag parsing and config validation.
"""

from __future__ import annotations

import asyncio
import errno

import pytest

from probelab.commands.load import parse_duration
from probelab.errors import UsageError
from probelab.load.backlog import Backlog, worth_sending
from probelab.load.busy import client_bound
from probelab.load.client import retry_after_failure, retry_on_fresh_connection
from probelab.load.config import LoadConfig, parse_header, parse_url, request_bytes
from probelab.load.fdlimit import SPARE_FDS, connection_cap, fd_note
from probelab.load.outcome import (
    BadResponse,
    Outcome,
    ServerClosed,
    classify,
    client_side,
    describe,
)
from probelab.load.records import Record, RecordLog
from probelab.load.scheduler import Budget, due_count, open_limit
from probelab.load.summary import percentile, summarize


@pytest.mark.parametrize(
    ("status", "exc", "expected"),
    [
        (200, None, Outcome.OK),
        (204, None, Outcome.OK),
        (301, None, Outcome.OK),
        (399, None, Outcome.OK),
        (400, None, Outcome.HTTP_4XX),
        (404, None, Outcome.HTTP_4XX),
        (499, None, Outcome.HTTP_4XX),
        (500, None, Outcome.HTTP_5XX),
        (503, None, Outcome.HTTP_5XX),
        (101, None, Outcome.OTHER),
        (None, None, Outcome.OTHER),
        (None, ConnectionRefusedError(errno.ECONNREFUSED, "x"), Outcome.REFUSED),
        (None, OSError(errno.ECONNREFUSED, "x"), Outcome.REFUSED),
        (None, ConnectionResetError(errno.ECONNRESET, "x"), Outcome.RESET),
        (None, BrokenPipeError(errno.EPIPE, "x"), Outcome.RESET),
        (None, ConnectionAbortedError(errno.ECONNABORTED, "x"), Outcome.RESET),
        (None, OSError(errno.ECONNRESET, "x"), Outcome.RESET),
        (None, OSError(errno.EPIPE, "x"), Outcome.RESET),
        (None, ServerClosed(0), Outcome.CLOSED),
        (None, ServerClosed(17), Outcome.CLOSED),
        (None, TimeoutError("connect timed out"), Outcome.TIMEOUT),
        (None, OSError(errno.ETIMEDOUT, "x"), Outcome.TIMEOUT),
        (None, OSError(errno.EHOSTUNREACH, "x"), Outcome.UNREACHABLE),
        (None, OSError(errno.ENETUNREACH, "x"), Outcome.UNREACHABLE),
        (None, OSError(errno.EPROTO, "x"), Outcome.OTHER),
        (None, OSError("Multiple exceptions: ..."), Outcome.OTHER),
        (None, BadResponse("invalid HTTP response"), Outcome.OTHER),
        (None, ValueError("?"), Outcome.OTHER),
    ],
)
def test_classify(status, exc, expected) -> None:
    assert classify(status, exc) is expected


@pytest.mark.parametrize(
    ("status", "exc", "message"),
    [
        (200, None, None),
        (503, None, "HTTP 503"),
        (None, ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('1', 4242)"),
         "ECONNREFUSED: Connection refused"),
        (None, ConnectionResetError(errno.ECONNRESET, "x"), "ECONNRESET: Connection reset by peer"),
        (None, ServerClosed(0), "server closed the connection before any response byte"),
        (None, ServerClosed(12), "server closed the connection after 12 bytes"),
        (None, ServerClosed(0, reused=True),
         "server closed a reused keep-alive connection before any response byte"),
        (None, TimeoutError(), "timed out"),
        (None, BadResponse("invalid HTTP response: x"), "BadResponse: invalid HTTP response: x"),
    ],
)
def test_describe_is_stable(status, exc, message) -> None:
    assert describe(classify(status, exc), status, exc) == message


@pytest.mark.parametrize(
    ("reused", "closed_idle", "written", "retry"),
    [
        (True, True, False, True),  # the one case: pooled, died idle, nothing sent
        (True, True, True, False),  # sent: the server may have acted on it; report it
        (True, False, False, False),
        (False, True, False, False),  # a fresh connection failing is a real failure
        (False, False, True, False),
    ],
)
def test_retry_rule(reused, closed_idle, written, retry) -> None:
    assert retry_on_fresh_connection(reused, closed_idle, written) is retry


@pytest.mark.parametrize(
    ("reused", "got", "exc", "again"),
    [
        (True, 0, ServerClosed(0, reused=True), True),  # the keep-alive race
        (True, 0, ConnectionResetError(errno.ECONNRESET, "reset"), True),
        (True, 0, BrokenPipeError(errno.EPIPE, "pipe"), True),
        (False, 0, ServerClosed(0), False),  # a new connection's first request: the server
        (False, 0, ConnectionResetError(errno.ECONNRESET, "reset"), False),
        (True, 120, ServerClosed(120, reused=True), False),  # part of a response came
        (True, 0, TimeoutError("no response"), False),  # a slow server is not a race
        (True, 0, ConnectionRefusedError(errno.ECONNREFUSED, "refused"), False),
        (True, 0, BadResponse("garbage"), False),
    ],
)
def test_resend_rule(reused, got, exc, again) -> None:
    assert retry_after_failure(reused, got, exc) is again


@pytest.mark.parametrize(
    ("elapsed", "rate", "sent", "limit", "due"),
    [
        (0.0, 10, 0, None, 1),  # request 0 is due at once
        (0.0, 10, 1, None, 0),
        (0.099, 10, 1, None, 0),
        (0.1, 10, 1, None, 1),  # request 1 at 1/rate
        (1.0, 10, 1, None, 10),  # a late wake-up sends everything that is due, at once
        (1.0, 10, 0, 5, 5),  # never past the limit
        (5.0, 10, 5, 5, 0),
        (-0.1, 10, 0, None, 0),
        (0.3, 500, 0, None, 151),
    ],
)
def test_due_count(elapsed, rate, sent, limit, due) -> None:
    assert due_count(elapsed, rate, sent, limit) == due


@pytest.mark.parametrize(
    ("requests", "duration", "rate", "limit"),
    [
        (None, 30.0, 500, 15000),
        (100, 30.0, 500, 100),
        (100, None, 500, 100),
        (None, 0.001, 10, 1),
        (None, 1.05, 10, 11),
    ],
)
def test_open_limit(requests, duration, rate, limit) -> None:
    assert open_limit(requests, duration, rate) == limit


@pytest.mark.parametrize(
    ("deadline", "now", "precision", "send"),
    [
        (10.0, 9.0, 0.25, True),
        (10.0, 9.75, 0.25, False),  # exactly one sweep left: it could only race its deadline
        (10.0, 9.5, 0.25, True),
        (10.0, 10.0, 0.25, False),
        (10.0, 10.5, 0.25, False),
    ],
)
def test_worth_sending(deadline, now, precision, send) -> None:
    assert worth_sending(deadline, now, precision) is send


def test_budget_stops_at_count_time_or_stop() -> None:
    stop = asyncio.Event()
    by_count = Budget(2, None, stop)
    assert [by_count.take(0.0) for _ in range(3)] == [True, True, False]
    by_time = Budget(None, 10.0, stop)
    assert (by_time.take(9.9), by_time.take(10.0)) == (True, False)
    stopped = Budget(None, None, stop)
    assert stopped.take(0.0)
    stop.set()
    assert not stopped.take(0.0)


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([], 50, None),
        ([5.0], 99, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([1.0, 2.0, 3.0, 4.0], 90, 4.0),
        (list(range(1, 101)), 99, 99),
        (list(range(1, 101)), 90, 90),
        (list(range(1, 101)), 100, 100),
    ],
)
def test_percentile_nearest_rank(values, p, expected) -> None:
    assert percentile(values, p) == expected


def test_summarize_counts_everything_once() -> None:
    log = RecordLog()
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed")
    log.add(0.1, 0.010, 200, "1.0", "a", None)
    log.add(0.5, 0.020, 200, "1.0", "b", None)
    log.add(1.2, 0.030, 503, "1.0", "a", None)
    log.add(1.3, 0.001, None, None, None, refused)
    log.add(3.0, 0.040, 200, "2.0", "c", None)
    log.add(3.1, 0.005, 404, None, None, None)
    log.add(3.2, 0.005, 410, None, None, None)  # a second 4xx: its message is not the example
    s = summarize(log, 4.0, retries=2, connections=3)
    assert (s["requests"], s["ok"], s["failed"], s["rps"]) == (7, 3, 4, 1.8)
    assert s["by_class"] == {"ok": 3, "http_4xx": 2, "http_5xx": 1, "refused": 1, "reset": 0,
                             "closed": 0, "unreachable": 0, "timeout": 0, "other": 0}
    assert s["status_codes"] == {"200": 3, "404": 1, "410": 1, "503": 1}
    assert s["versions"] == {"1.0": 3, "2.0": 1}
    assert s["pods"] == {"a": 2, "b": 1, "c": 1}
    assert s["error_examples"] == {"http_4xx": "HTTP 404", "http_5xx": "HTTP 503",
                                   "refused": "ECONNREFUSED: Connection refused"}
    assert s["latency_ms"] == {"p50": 10.0, "p90": 40.0, "p99": 40.0, "max": 40.0}
    assert (s["retried_on_fresh_connection"], s["connections_opened"]) == (2, 3)
    assert [x["t"] for x in s["series"]] == [0, 1, 2, 3]
    assert s["series"][0] == {"t": 0, "requests": 2, "by_class": {"ok": 2},
                              "by_version": {"1.0": 2}, "p50_ms": 10.0, "p99_ms": 20.0}
    assert s["series"][1]["by_class"] == {"http_5xx": 1, "refused": 1}
    assert s["series"][1]["by_version"] == {"1.0": 1}
    assert s["series"][2] == {"t": 2, "requests": 0, "by_class": {}, "by_version": {},
                              "p50_ms": None, "p99_ms": None}
    assert s["series"][3]["by_class"] == {"ok": 1, "http_4xx": 2}
    assert s["series"][3]["by_version"] == {"2.0": 1}


def test_summarize_empty_run() -> None:
    s = summarize(RecordLog(), 0.0)
    assert (s["requests"], s["rps"], s["series"]) == (0, 0.0, [])
    assert s["latency_ms"] == {"p50": None, "p90": None, "p99": None, "max": None}


def test_record_log_round_trips_and_calls_back() -> None:
    seen: list[Record] = []
    log = RecordLog(seen.append)
    log.add(0.5, 0.01, 200, "1.0", "pod-a", None)
    log.add(0.7, 0.02, None, None, None, ConnectionResetError(errno.ECONNRESET, "x"))
    log.add(0.9, 0.03, 404, "2.0", None, None)
    assert len(log) == 3
    assert list(log) == seen
    assert log[0] == Record(0.5, 0.01, Outcome.OK, 200, "1.0", "pod-a", None)
    assert log[1] == Record(0.7, 0.02, Outcome.RESET, None, None, None,
                            "ECONNRESET: Connection reset by peer")
    assert log[2].outcome is Outcome.HTTP_4XX and log[2].error == "HTTP 404"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("2m", 120), ("45", 45), ("2.5", 2.5), ("1m30s", 90), ("500ms", 0.5),
     ("1h", 3600)],
)
def test_parse_duration(text, seconds) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5", "1x", "s", "2m junk", "nan", "inf", "0s"])
def test_parse_duration_rejects(text) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("url", "host", "port", "path", "host_header"),
    [
        ("http://127.0.0.1:8080/", "127.0.0.1", 8080, "/", "127.0.0.1:8080"),
        ("http://localhost", "localhost", 80, "/", "localhost"),
        ("http://[::1]:81/a/b?x=1&y=2", "::1", 81, "/a/b?x=1&y=2", "[::1]:81"),
    ],
)
def test_parse_url(url, host, port, path, host_header) -> None:
    t = parse_url(url)
    assert (t.host, t.port, t.path, t.host_header) == (host, port, path, host_header)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"url": "localhost:8080"}, "invalid URL"),
        ({"url": "https://example.invalid/"}, "https is not supported"),
        ({"url": "http://"}, "no host"),
        ({"url": "http://127.0.0.1:99999/"}, "invalid URL"),
        ({"url": "http://127.0.0.1/ x"}, "whitespace"),
        ({"url": "http://127.0.0.1/", "requests": 0}, "-n must be at least 1"),
        ({"url": "http://127.0.0.1/", "concurrency": 0}, "-c must be at least 1"),
        ({"url": "http://127.0.0.1/", "rate_rps": -1.0}, "--rate must be a positive"),
        ({"url": "http://127.0.0.1/", "rate_rps": 0.0}, "--rate must be a positive"),
        ({"url": "http://127.0.0.1/", "timeout_s": 0.0}, "timeout must be positive"),
        ({"url": "http://127.0.0.1/", "requests": None}, "give a bound"),
        ({"url": "http://127.0.0.1/", "method": "GE T"}, "invalid HTTP method"),
        ({"url": "http://127.0.0.1/", "headers": (("X-A", "b\r\nc"),)}, "line break"),
    ],
)
def test_config_rejects_bad_input(kw, message) -> None:
    with pytest.raises(UsageError, match=message.replace("-", r"\-").replace("(", r"\(")):
        LoadConfig(**kw)


def test_request_bytes() -> None:
    config = LoadConfig(url="http://127.0.0.1:8080/x?q=1", method="POST",
                        headers=(parse_header("X-Test:  yes "),), disable_keepalive=True)
    assert request_bytes(config) == (
        b"POST /x?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: probelab-load\r\n"
        b"X-Test: yes\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    own_host = LoadConfig(url="http://127.0.0.1/", headers=(("Host", "svc.local"),))
    assert request_bytes(own_host).startswith(b"GET / HTTP/1.1\r\nUser-Agent: probelab-load\r\n"
                                              b"Host: svc.local\r\n")


@pytest.mark.parametrize("text", ["no colon", ": empty", "Bad Name: x"])
def test_parse_header_rejects(text) -> None:
    with pytest.raises(UsageError):
        parse_header(text)


@pytest.mark.parametrize(
    ("concurrency", "limit", "in_use", "used"),
    [
        (50, 1024, 10, 50),
        (2000, 1024, 10, 1024 - 10 - SPARE_FDS),
        (2000, 20000, 10, 2000),
        (5, 20, 30, 1),  # never zero: one connection still shows what the server does
    ],
)
def test_connection_cap(concurrency, limit, in_use, used) -> None:
    assert connection_cap(concurrency, limit, in_use) == used
    assert (fd_note(concurrency, used, limit) is None) is (used == concurrency)


@pytest.mark.parametrize(
    ("exc", "ours"),
    [
        (OSError(errno.EMFILE, "Too many open files"), True),
        (OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"), True),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), False),
        (ServerClosed(0, True), False),
        (TimeoutError("x"), False),
        (None, False),
    ],
)
def test_client_side_errors_are_the_clients(exc, ours) -> None:
    assert client_side(exc) is ours


def test_backlog_is_a_fifo_of_scheduled_times_with_deadlines() -> None:
    """Rate 10/s from t=100, timeout 1 s, precision 0.25 s: request i is due at 100 + i/10."""
    backlog = Backlog(100.0, 10.0, 1.0, 0.25)
    backlog.due = 5
    assert len(backlog) == 5
    assert backlog.next_sendable(100.5) == 100.0  # 0.5 s left: worth sending
    # at 100.9: request 1 (deadline 101.1) has less than 0.25 s left, request 2 has 0.3 s
    assert backlog.next_sendable(100.9) == pytest.approx(100.2)
    assert list(backlog.doomed) == pytest.approx([100.1]) and len(backlog) == 3
    assert backlog.expired(101.05) == []
    assert backlog.expired(101.15) == pytest.approx([100.1])  # the doomed: at their deadline
    assert backlog.expired(101.45) == pytest.approx([100.3, 100.4])
    assert len(backlog) == 0
    backlog.due = 1_000_000  # far behind: a count, not a million floats
    assert len(backlog) == 1_000_000 - 5
    assert backlog.drop() == 999_995 and len(backlog) == 0


@pytest.mark.parametrize(
    ("busy", "wall", "bound"),
    [(1.0, 1.0, True), (0.9, 1.0, True), (0.89, 1.0, False), (0.0, 1.0, False), (0.0, 0.0, False)],
)
def test_client_bound(busy, wall, bound) -> None:
    """Busy (on a CPU or queued for one) at least 90% of the window: the client is the limit."""
    assert client_bound(busy, wall) is bound



def test_every_outcome_survives_the_record_log() -> None:
    """A record packs its class into a few bits of one number: each class must come back as
    itself (three bits held eight classes; the ninth, unreachable, turned `other` into `ok`)."""
    cases = [
        (200, None, Outcome.OK), (404, None, Outcome.HTTP_4XX), (999, None, Outcome.HTTP_5XX),
        (None, ConnectionRefusedError(errno.ECONNREFUSED, "x"), Outcome.REFUSED),
        (None, ConnectionResetError(errno.ECONNRESET, "x"), Outcome.RESET),
        (None, ServerClosed(0), Outcome.CLOSED),
        (None, OSError(errno.EHOSTUNREACH, "x"), Outcome.UNREACHABLE),
        (None, TimeoutError("connect timed out"), Outcome.TIMEOUT),
        (None, BadResponse("not HTTP"), Outcome.OTHER),
    ]
    assert {c[2] for c in cases} == set(Outcome)
    log = RecordLog()
    for status, exc, _ in cases:
        log.add(0.0, 0.001, status, None, None, exc)
    assert [(r.outcome, r.status) for r in log] == [(c[2], c[0]) for c in cases]
