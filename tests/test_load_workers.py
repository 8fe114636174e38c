"""`--workers N`: the parts add up to exactly the run asked, and the merged result reads as one
run's (real processes, real sockets, a loopback test server)."""

from __future__ import annotations

import asyncio
import csv
import json
import signal
import time

import pytest

from probelab.errors import UsageError
from probelab.load.config import LoadConfig
from probelab.load.records import RecordLog
from probelab.load.runner import run_load
from probelab.load.scheduler import Share
from probelab.load.workers import merge_results, split, worker_configs
from support.faulty_http import Behaviour, LoopServer, thread_server
from support.processes import descendants, probelab_cmd, run_probelab, started
from support.waiting import wait_until

URL = "http://127.0.0.1:9/"


def test_closed_model_splits_concurrency_and_requests() -> None:
    parts = worker_configs(LoadConfig(url=URL, requests=11, concurrency=5), 2)
    assert [(c.concurrency, c.requests, share) for c, share in parts] == [
        (3, 6, None), (2, 5, None)]
    assert [split(10, 3, i) for i in range(3)] == [4, 3, 3]


def test_open_model_deals_the_schedule_out() -> None:
    parts = worker_configs(LoadConfig(url=URL, requests=10, rate_rps=100, concurrency=4), 3)
    assert [(c.concurrency, c.requests, c.rate_rps) for c, _ in parts] == [
        (2, 10, 100), (1, 10, 100), (1, 10, 100)]  # -n and --rate stay totals: the share cuts
    assert [share.limit(10) for _, share in parts] == [4, 3, 3]  # type: ignore[union-attr]
    assert Share(1, 3).limit(None) is None and Share(2, 3).limit(2) == 0


@pytest.mark.parametrize(
    ("kw", "workers", "message"),
    [
        ({"concurrency": 2}, 3, "--workers 3 needs -c 3 or more"),
        ({"requests": 2, "concurrency": 8}, 3, "--workers 3 needs -n 3 or more"),
        ({}, 0, "--workers must be at least 1"),
    ],
)
def test_bad_worker_counts(kw, workers, message) -> None:
    with pytest.raises(UsageError, match=message):
        worker_configs(LoadConfig(url=URL, **kw), workers)


def test_shares_started_together_send_exactly_the_one_process_schedule() -> None:
    """Two shares of --rate 200 -n 20 from one common start: together every request k is
    sent once, due at k / 200, as one process would."""

    async def main():  # type: ignore[no-untyped-def]
        server = LoopServer(Behaviour.ANSWER)
        await server.start()
        try:
            config = LoadConfig(url=server.url, requests=20, rate_rps=200, concurrency=4)
            start_at = time.perf_counter() + 0.1
            return await asyncio.gather(*(
                run_load(config, share=Share(i, 2), start_at=start_at) for i in range(2)))
        finally:
            await server.stop()

    results = asyncio.run(main())
    merged = merge_results(results[0].config, results)
    starts = sorted(r.start_s for r in merged.records)
    assert starts == pytest.approx([k / 200 for k in range(20)], abs=1e-9)
    assert merged.scheduled == 20 and len(merged.records) == 20


def test_record_logs_merge_with_their_origins_and_messages() -> None:
    a, b = RecordLog(), RecordLog()
    a.add(0.0, 0.1, 200, "1.0", "p", None)
    b.add(0.5, 0.2, 503, "2.0", "q", None)
    b.add(0.6, 0.3, None, None, None, TimeoutError("t"))
    a.extend(b)
    assert [(r.version, r.pod, r.status, r.error) for r in a] == [
        ("1.0", "p", 200, None), ("2.0", "q", 503, "HTTP 503"), (None, None, None, "t")]
    assert a.failed == 2


def test_workers_from_the_cli_make_one_summary(tmp_path) -> None:
    out, rows = tmp_path / "run.json", tmp_path / "run.csv"
    with thread_server(Behaviour.ANSWER, version="2.0") as server:
        closed = run_probelab("load", "-n", "40", "-c", "4", "--workers", "2", "--json",
                              str(out), server.url)
        assert closed.returncode == 0, closed.stderr
        doc = json.loads(out.read_text())
        assert (doc["requests"], doc["ok"], doc["connections_opened"]) == (40, 40, 4)
        assert doc["versions"] == {"2.0": 40} and doc["concurrency_used"] == 4
        opened = run_probelab("load", "--rate", "100", "-n", "20", "-c", "4", "--workers",
                              "2", "--json", str(out), "--csv", str(rows), server.url)
    assert opened.returncode == 0, opened.stderr
    doc = json.loads(out.read_text())
    assert (doc["requests"], doc["ok"], doc["scheduled"], doc["model"]) == (20, 20, 20, "open")
    with rows.open(newline="") as f:
        starts = sorted(float(r["start_s"]) for r in csv.DictReader(f))
    assert starts == pytest.approx([k / 100 for k in range(20)], abs=1e-5)


def test_ctrl_c_with_workers_still_prints_the_merged_summary(tmp_path) -> None:
    out = tmp_path / "run.json"
    with thread_server(Behaviour.ANSWER) as server, started(probelab_cmd(
            "load", "-z", "10m", "-c", "4", "--workers", "2", "--json", str(out),
            server.url)) as proc:
        wait_until(lambda: server.answered >= 100, what="load reached the server")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True and doc["requests"] >= 100
    assert doc["by_class"]["ok"] == doc["requests"] and "interrupted" in stdout


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_workers_stop_when_the_parent_is_killed() -> None:
    """A parent killed outright (SIGKILL: no chance to pass a stop on) leaves no worker
    running on alone for the rest of a -z 10m."""
    with thread_server(Behaviour.ANSWER) as server, started(probelab_cmd(
            "load", "-z", "10m", "-c", "4", "--workers", "2", server.url)) as proc:
        wait_until(lambda: server.answered >= 100, what="load reached the server")
        workers = descendants(proc.pid)
        assert len(workers) == 2
        proc.kill()
        proc.wait(10)
        wait_until(lambda: not any(_running(pid) for pid in workers), what="workers gone")
