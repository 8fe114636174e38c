"""Child processes that are always reaped, and the kernel's view of processes (/proc).

Every process a test starts is stopped by PID in a `finally`, so a failing test leaves nothing
running. Processes are judged by PID and kernel start time, so a recycled PID never counts as
the process a test started.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from support.paths import PYTHON


def probelab_cmd(*args: str) -> list[str]:
    """The argv that runs probelab with the test's interpreter."""
    return [PYTHON, "-m", "probelab", *args]


def run_probelab(*args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        probelab_cmd(*args), capture_output=True, text=True, timeout=timeout, **kw
    )


@contextmanager
def started(argv: list[str], **popen_kw) -> Iterator[subprocess.Popen[str]]:
    """Start a child in its own process group; on exit kill that group by PID if still alive."""
    popen_kw.setdefault("stdout", subprocess.PIPE)
    popen_kw.setdefault("stderr", subprocess.PIPE)
    proc = subprocess.Popen(argv, text=True, start_new_session=True, **popen_kw)
    try:
        yield proc
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Terminate our child (and its group) politely, then by force; always reap it."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


# ---- /proc -------------------------------------------------------------------------------------

def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, kernel start time) of a live, non-zombie pid, else None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(") ", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[19])


def pid_alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie."""
    return _stat(pid) is not None


def gone(pids: set[int]) -> bool:
    return not any(pid_alive(p) for p in pids)


def cmdline(pid: int) -> str:
    """The command line of `pid`, or "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (children, their children, ...), read from /proc."""
    from probelab.engine.host import watchdog

    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in watchdog.children(todo.pop()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def process_tree(root: int) -> dict[int, int]:
    """Every live process below `root`: pid → kernel start time (see `still_alive`)."""
    return {pid: info[1] for pid in descendants(root) if (info := _stat(pid)) is not None}


def still_alive(procs: dict[int, int]) -> list[int]:
    """The pids of `procs` that still run the same process (same start time)."""
    return [pid for pid, start in procs.items() if (info := _stat(pid)) and info[1] == start]


def pod_name_of(pid: int) -> str | None:
    """POD_NAME from a process's environment: how a pod process is told from the engine's own."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
    except (FileNotFoundError, PermissionError, ProcessLookupError):
        return None
    for item in env:
        if item.startswith(b"POD_NAME="):
            return item[len(b"POD_NAME="):].decode()
    return None


def other_engines(own: int) -> list[str]:
    """`probelab cluster up` processes on this host other than `own`. Engines share the pod
    range 127.244.0.0/16 and each starts at .0.1, so a concurrent engine's pods take the same
    addresses (see the failure messages of the zero-failure assertions)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != own:
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except (FileNotFoundError, PermissionError, ProcessLookupError):
                continue
            if b"probelab" in argv and b"cluster" in argv and b"up" in argv:
                found.append(f"pid {entry}")
    return found


def pod_pid(engine_pid: int, pod_ip: str) -> int | None:
    """The sample service process of the pod at `pod_ip` (its argv has `--host POD_IP`)."""
    for pid in descendants(engine_pid):
        argv = cmdline(pid).split()
        if "web" in argv and "--host" in argv and argv[argv.index("--host") + 1] == pod_ip:
            return pid
    return None
