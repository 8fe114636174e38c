"""`probelab load` as a user runs it (a subprocess against loopback test servers): the JSON and
CSV files, exit codes, bad input as one line with exit 2, and Ctrl-C still printing the summary.
"""

from __future__ import annotations

import csv
import json
import signal
import time

import pytest

from support.faulty_http import Behaviour, thread_server
from support.processes import probelab_cmd, run_probelab, started
from support.sockets import free_port
from support.waiting import wait_until


def test_json_summary_and_series(tmp_path) -> None:
    out = tmp_path / "run.json"
    with thread_server(Behaviour.ANSWER, status=503, version="2.0", pod="web-1") as server:
        proc = run_probelab("load", "-n", "30", "-c", "3", "--json", str(out), server.url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no progress bar when not on a terminal
    doc = json.loads(out.read_text())
    assert (doc["requests"], doc["ok"], doc["failed"]) == (30, 0, 30)
    assert doc["by_class"]["http_5xx"] == 30
    assert sum(doc["by_class"].values()) == 30
    assert doc["status_codes"] == {"503": 30}
    assert doc["versions"] == {"2.0": 30} and doc["pods"] == {"web-1": 30}
    assert doc["error_examples"] == {"http_5xx": "HTTP 503"}
    assert (doc["model"], doc["concurrency"], doc["keepalive"]) == ("closed", 3, True)
    assert doc["connections_opened"] == 3
    assert doc["client_cpu_s"] > 0 and doc["interrupted"] is False
    assert sum(s["requests"] for s in doc["series"]) == 30
    assert sum(s["by_version"].get("2.0", 0) for s in doc["series"]) == 30
    assert set(doc["latency_ms"]) == {"p50", "p90", "p99", "max"}
    assert "http_5xx" in proc.stdout and "web-1: 30" in proc.stdout


def test_keep_alive_race_is_resent_and_told_or_with_no_resend_reported(tmp_path) -> None:
    out = tmp_path / "run.json"
    with thread_server(Behaviour.CLOSE_SECOND) as server:
        proc = run_probelab("load", "-n", "3", "-c", "1", "--json", str(out), server.url)
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(out.read_text())
        assert (doc["ok"], doc["resent_after_keepalive_race"]) == (3, 2)
        assert "2 requests met the keep-alive race" in " ".join(proc.stdout.split())
        proc = run_probelab("load", "-n", "2", "-c", "1", "--no-resend", "--json", str(out),
                            server.url)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert (doc["by_class"]["closed"], doc["resent_after_keepalive_race"]) == (1, 0)
    assert doc["error_examples"]["closed"] == (
        "server closed a reused keep-alive connection before any response byte")


def test_csv_has_one_row_per_request_failures_included(tmp_path) -> None:
    out = tmp_path / "run.csv"
    proc = run_probelab("load", "-n", "7", "-c", "2", "--csv", str(out),
                        f"http://127.0.0.1:{free_port()}/")
    assert proc.returncode == 0, proc.stderr
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 7
    assert list(rows[0]) == ["start_s", "latency_ms", "class", "status", "version", "pod",
                             "error"]
    assert {r["class"] for r in rows} == {"refused"}
    assert {r["error"] for r in rows} == {"ECONNREFUSED: Connection refused"}
    assert all(r["status"] == "" and float(r["latency_ms"]) >= 0 for r in rows)


def test_open_model_from_the_cli(tmp_path) -> None:
    out = tmp_path / "run.json"
    with thread_server(Behaviour.ANSWER) as server:
        proc = run_probelab("load", "-z", "0.5s", "--rate", "40", "--json", str(out),
                            server.url)
        answered = server.answered
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["model"] == "open" and doc["rate_rps"] == 40
    assert doc["requests"] == doc["ok"] == 20 == answered


def test_fail_on_error_exits_1_with_one_line() -> None:
    with thread_server(Behaviour.ANSWER, status=404) as server:
        plain = run_probelab("load", "-n", "4", "-c", "1", server.url)
        strict = run_probelab("load", "-n", "4", "-c", "1", "--fail-on-error", server.url)
    with thread_server(Behaviour.ANSWER) as server:
        clean = run_probelab("load", "-n", "4", "-c", "1", "--fail-on-error", server.url)
    assert plain.returncode == 0 and clean.returncode == 0
    assert strict.returncode == 1
    assert strict.stderr.strip() == "probelab: error: 4 of 4 requests failed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not-a-url"], "invalid URL"),
        (["https://127.0.0.1/"], "https is not supported"),
        (["-n", "0", "http://127.0.0.1/"], "-n must be at least 1"),
        (["--rate", "-5", "http://127.0.0.1/"], "--rate must be a positive"),
        (["-c", "0", "http://127.0.0.1/"], "-c must be at least 1"),
        (["-z", "soon", "http://127.0.0.1/"], "invalid duration"),
        (["-t", "0", "http://127.0.0.1/"], "timeout must be positive"),
        (["-H", "NoColon", "http://127.0.0.1/"], "invalid header"),
        (["--json", "/nonexistent-dir/x.json", "http://127.0.0.1/"], "cannot write"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message) -> None:
    proc = run_probelab("load", *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and message in proc.stderr
    assert proc.stderr.startswith("probelab: error:")


def test_unknown_flag_and_bad_number_exit_2() -> None:
    for args in (["--bogus", "http://127.0.0.1/"], ["-n", "many", "http://127.0.0.1/"]):
        proc = run_probelab("load", *args)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("probelab load: error:"), proc.stderr


def test_ctrl_c_stops_and_still_prints_the_summary(tmp_path) -> None:
    out = tmp_path / "run.json"
    with thread_server(Behaviour.ANSWER) as server, started(probelab_cmd(
            "load", "-z", "10m", "-c", "2", "--json", str(out), server.url)) as proc:
        wait_until(lambda: server.answered >= 100, what="load reached the server")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "interrupted" in stdout and "Outcomes" in stdout
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True and doc["requests"] >= 100
    assert doc["by_class"]["ok"] == doc["requests"]


def _low_fd_limit() -> None:  # runs in the child before exec
    import resource
    resource.setrlimit(resource.RLIMIT_NOFILE, (100, 300))


def test_concurrency_beyond_the_fd_limit_is_capped_and_said_never_a_failure(tmp_path) -> None:
    """-c 400 in a process whose soft descriptor limit is 100 (hard 300): the client raises
    its soft limit to the hard one, uses as many connections as fit and says so. Running out
    of its own descriptors (EMFILE) is the client's problem: never a failed request."""
    out = tmp_path / "run.json"
    with thread_server(Behaviour.ANSWER) as server:
        proc = run_probelab("load", "-n", "1200", "-c", "400", "--json", str(out), server.url,
                            preexec_fn=_low_fd_limit)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert (doc["ok"], doc["failed"]) == (1200, 0), doc["error_examples"]
    assert doc["fd_limit"] == 300 and doc["concurrency"] == 400
    assert 100 < doc["connections_opened"] == doc["concurrency_used"] < 300
    said = " ".join(proc.stdout.split())
    assert "-c 400 exceeds the file descriptors this process may open (300, its hard" in said
    assert "-c 400 exceeds" in proc.stderr  # also said at the start, on stderr


def test_a_rate_the_client_cannot_keep_is_said_and_not_blamed_on_the_server(tmp_path) -> None:
    out = tmp_path / "run.json"
    with thread_server(Behaviour.ANSWER) as server:
        proc = run_probelab("load", "--rate", "1000000", "-z", "0.3s", "-c", "20", "-t", "5",
                            "--json", str(out), server.url)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["failed"] == 0 and doc["scheduled"] == 300_000
    assert doc["not_sent"] == 300_000 - doc["requests"] > 0
    said = " ".join(proc.stdout.split())
    assert f"the client could not keep the schedule: {doc['not_sent']} of 300000" in said


def test_ctrl_c_during_a_stall_reports_the_stalled_requests(tmp_path) -> None:
    """The server holds every response: Ctrl-C still prints a summary that accounts for the
    requests in flight (abandoned) and those waiting for a connection (not sent)."""
    out = tmp_path / "run.json"
    with thread_server(Behaviour.HOLD) as server, started(probelab_cmd(
            "load", "-z", "10m", "--rate", "1000", "-c", "3", "--json", str(out),
            server.url)) as proc:
        wait_until(lambda: server.requests == 3, what="3 held requests")
        since = time.monotonic()
        wait_until(lambda: time.monotonic() - since > 0.1, what="more requests due")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    doc = json.loads(out.read_text())
    assert doc["interrupted"] and doc["abandoned_in_flight"] == 3 and doc["requests"] == 0
    assert doc["not_sent"] > 0 and doc["not_sent"] + 3 == doc["scheduled"]
    said = " ".join(stdout.split())
    assert "3 requests still in flight at the stop were abandoned" in said
    assert f"{doc['not_sent']} of {doc['scheduled']} requests due were still waiting" in said
