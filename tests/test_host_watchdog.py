"""The watchdog (engine/host/watchdog.py) on its own: no API server or kubelet needed.

When the engine ends, however it ends, the pods' sessions must not outlive it; the sweep must
never kill a process that only reuses a noted pid. The end-to-end variant, with a real engine
and real pods, is in test_cluster_cli.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

import pytest

from probelab.engine.core import procfs
from probelab.engine.host import watchdog
from support.paths import PYTHON
from support.processes import descendants, pid_alive, stop_process
from support.waiting import wait_until

FAKE_ENGINE = """
import subprocess, sys, time
from probelab.engine.core import procfs
from probelab.engine.host import watchdog
pod = subprocess.Popen(["sh", "-c", "sleep 902; true"], start_new_session=True)
guard = watchdog.start()  # returns once it has seen the pod
print(guard.pid, pod.pid, flush=True)
if sys.argv[1] == "close":
    sys.stdin.readline()  # the test has seen the pod's sleep: only now end the watchdog
    guard.close()
    print("closed", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("mode", ["kill", "close"])
def test_watchdog_sweeps_pod_sessions_when_the_engine_ends(mode) -> None:
    """Steps: a fake engine starts a 'pod' (a shell with a sleep child, in its own session and
    without a parent-death signal) and the watchdog -> the engine is killed with SIGKILL, or
    closes the pipe as at the end of a stop -> the shell and its sleep are killed, and the
    watchdog exits."""
    proc = subprocess.Popen([PYTHON, "-c", FAKE_ENGINE, mode], stdout=subprocess.PIPE,
                            stdin=subprocess.PIPE, text=True, start_new_session=True)
    try:
        guard_pid, shell_pid = map(int, proc.stdout.readline().split())
        sleep_pid = wait_until(lambda: next(iter(descendants(shell_pid)), 0), what="the sleep")
        if mode == "kill":
            proc.kill()
        else:
            proc.stdin.write("go\n")
            proc.stdin.flush()
            assert proc.stdout.readline() == "closed\n"
        wait_until(lambda: not pid_alive(sleep_pid) and not pid_alive(shell_pid),
                   timeout_s=10, what="the pod's processes to go")
        wait_until(lambda: not pid_alive(guard_pid), timeout_s=10, what="the watchdog to exit")
    finally:
        stop_process(proc)
        for pid in (shell_pid, sleep_pid):  # never leave our own test processes behind
            with contextlib.suppress(ProcessLookupError, UnboundLocalError):
                os.kill(pid, signal.SIGKILL)


def proc_stat(pid: int, sid: int, ticks: int, state: str = "S") -> procfs.Stat:
    return procfs.Stat(pid=pid, state=state, ppid=1, sid=sid, start_ticks=ticks)


@pytest.mark.parametrize(("procs", "expected"), [
    ([proc_stat(100, 100, 50), proc_stat(101, 100, 60)], [100, 101]),  # leader and child
    ([proc_stat(101, 100, 60)], [101]),  # leader gone, orphan left
    ([proc_stat(101, 100, 60, "Z")], []),  # zombies need no kill
    ([proc_stat(100, 100, 70), proc_stat(101, 100, 80)], []),  # pid 100 reused by a newer session
    ([proc_stat(200, 200, 10), proc_stat(7, 1, 1)], []),  # not a noted session
    ([proc_stat(99, 100, 40)], []),  # older than the session's leader: cannot be its member
    ([proc_stat(5, 100, 60)], []),  # the watchdog itself
])
def test_sweep_targets(procs, expected) -> None:
    assert watchdog.sweep_targets({100: 50}, procs, me=5) == expected


def test_sweep_targets_include_noted_descendants_with_their_start_time() -> None:
    """Without cgroups the watchdog also kills the engine's descendants it noted (pid -> start
    ticks), wherever their session; a pid now held by a newer process is spared."""
    procs = [procfs.Stat(7, "S", 1, 7, 40), procfs.Stat(8, "S", 1, 8, 41),
             procfs.Stat(9, "Z", 1, 9, 42)]
    assert watchdog.sweep_targets({}, procs, me=5, noted={7: 40, 8: 99, 9: 42}) == [7]


@pytest.mark.parametrize(("text", "expected"), [
    ("12 (sleep) S 1 12 12 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0",
     procfs.Stat(12, "S", 1, 12, 777)),
    ("13 (a) b (c)) Z 2 3 4 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0",
     procfs.Stat(13, "Z", 2, 4, 9)),
    ("garbage", None),
])
def test_parse_stat(text, expected) -> None:
    assert procfs.parse_stat(text) == expected
