"""The engine's watchdog: when the engine dies, even by `kill -9`, whatever its pods left goes too.

The kubelet starts every container in its own session with a parent-death signal, so the
container's main process dies with the engine. Its own children (a shell's command, a server's
workers) get no such signal: they would be re-parented to init and live on. The watchdog is a
small separate process, in its own session so that a kill of the engine's process group spares
it. While the engine lives it notes the session of each child the engine starts (reading the
kernel's `/proc/PID/task/TID/children`, so the kubelet needs no hook). When the engine is gone
(the pipe it holds reaches end of file), the watchdog SIGKILLs every process still in one of
those sessions, then exits. The engine closes the pipe itself at the end of a normal stop, so
the same sweep also runs after a graceful stop, where it finds nothing left. Then it deletes
the engine's state folder (pod logs, the API server's TLS key). With the kernel data plane it
also removes the engine's network (`network.claim.release_owned`: the pod namespaces and their
veths, the bridge with its route and sysctls, the nftables table, the claim), found by the
engine's pid and start time in the claims folder, so nothing of another engine is touched.
Children are noted every POLL_S (and once more when a living engine closes the pipe), so only
a pod started less than POLL_S before a `kill -9` of the engine relies on its parent-death
signal alone (enough unless its process forked already).

A pod's process can also leave its session (`setsid`). Where the kubelet runs pods in cgroups
(`kubelet.cgroups`), the sweep first kills and removes the engine's whole cgroup tree
(`core.cgroupfs.engine_tree`, found from the engine's pid), which no process can leave. Where it
cannot, the kubelet is a child subreaper, and the watchdog also notes every descendant of the
engine each POLL_S and kills those still alive (same pid and start time) after the engine.

`sweep_targets()` is the pure rule; `start()` is called by `probelab cluster up`.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from probelab.engine.core import cgroupfs
from probelab.engine.core.procfs import Stat, all_stats, children, read_stat
from probelab.engine.network import claim as netclaim

POLL_S = 0.1  # how often the engine's new children are noted
SWEEP_ROUNDS = 20  # kill, look again (a process may fork while dying), at most this often
SWEEP_PAUSE_S = 0.05


def sweep_targets(sessions: Mapping[int, int], procs: Iterable[Stat], me: int,
                  noted: Mapping[int, int] | None = None) -> list[int]:
    """Pids to SIGKILL: live members of a noted session (sid -> its leader's start ticks), and
    live processes noted as the engine's descendants (pid -> start ticks).

    A session whose leader pid is alive but started at another time belongs to a newer
    process that was given the same pid: it is not ours and is left alone; so is a noted pid
    that now has another start time.
    """
    procs = list(procs)
    noted = noted or {}
    by_pid = {p.pid: p for p in procs}
    reused = {sid for sid, ticks in sessions.items()
              if sid in by_pid and by_pid[sid].start_ticks != ticks}
    return sorted(p.pid for p in procs
                  if p.state != "Z" and p.pid != me
                  and ((p.sid in sessions and p.sid not in reused
                        and p.start_ticks >= sessions[p.sid])
                       or noted.get(p.pid) == p.start_ticks))


def note_sessions(engine_pid: int, sessions: dict[int, int], me: int) -> list[int]:
    """Add the session of every child of the engine that leads its own session; returns the
    sessions that are new."""
    new = []
    for pid in children(engine_pid) - set(sessions) - {me}:
        stat = read_stat(pid)
        if stat is not None and stat.sid == pid:
            sessions[pid] = stat.start_ticks
            new.append(pid)
    return new


def note_descendants(engine_pid: int, noted: dict[int, int], me: int) -> None:
    """Note every descendant of the engine (pid -> start ticks) but the watchdog: where the
    kubelet runs without cgroups, a pod's process that left its session is found this way
    (once it was seen; it keeps its entry after it is re-parented)."""
    todo = list(children(engine_pid) - {me})
    while todo:
        pid = todo.pop()
        stat = read_stat(pid)
        if stat is not None and noted.get(pid) != stat.start_ticks:
            noted[pid] = stat.start_ticks
        todo.extend(children(pid))


def sweep_cgroups(tree: Path | None) -> set[int]:
    """Kill and remove the engine's cgroup tree (every pod process, wherever it moved);
    returns the pids that were in it."""
    if tree is None or not tree.is_dir():
        return set()
    found = {pid for root, _dirs, _files in os.walk(tree) for pid in cgroupfs.procs(Path(root))}
    cgroupfs.remove(tree)
    return found


def sweep(sessions: Mapping[int, int], me: int,
          noted: Mapping[int, int] | None = None) -> set[int]:
    """SIGKILL everything left in `sessions` and of the `noted` descendants; returns the pids
    killed. How many depends on timing: a pod's main process may die of its parent-death
    signal before or after the sweep looks, so only the descendants that signal never
    reaches are certain to be here."""
    killed: set[int] = set()
    for _ in range(SWEEP_ROUNDS):
        targets = sweep_targets(sessions, all_stats(), me, noted)
        if not targets:
            break
        for pid in targets:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        time.sleep(SWEEP_PAUSE_S)
    return killed


def watch(engine_pid: int, fd: int, ready_fd: int | None = None,
          verbose: bool = False) -> set[int]:
    """Note sessions until `fd` reaches end of file, then sweep them. `ready_fd` gets a line
    (and is closed) once the first look at the engine's children is done."""
    me = os.getpid()
    sessions: dict[int, int] = {}
    noted: dict[int, int] = {}
    tree = cgroupfs.engine_tree(engine_pid)  # the kubelet's cgroups, once it made them
    while True:
        for sid in note_sessions(engine_pid, sessions, me):
            if verbose:
                print(f"probelab watchdog: noted session {sid}", file=sys.stderr, flush=True)
        if tree is None or not tree.is_dir():  # no cgroups: the kubelet is a subreaper
            note_descendants(engine_pid, noted, me)
        if ready_fd is not None:
            with contextlib.suppress(OSError):
                os.write(ready_fd, b"watching\n")
                os.close(ready_fd)
            ready_fd = None
        ready, _, _ = select.select([fd], [], [], POLL_S)
        if ready and not os.read(fd, 512):
            break
    # A living engine closed the pipe (end of a stop, or a forced exit): its children are
    # still listed, so even one started since the last look is covered.
    note_sessions(engine_pid, sessions, me)
    killed = sweep_cgroups(tree)
    return killed | sweep(sessions, me, noted)


class Watchdog:
    """The engine's handle: the write end of the pipe and the watchdog's pid."""

    def __init__(self, proc: subprocess.Popen, fd: int) -> None:
        self.proc = proc
        self._fd: int | None = fd

    @property
    def pid(self) -> int:
        return self.proc.pid

    def close(self, wait_s: float = 5.0) -> None:
        """Tell the watchdog the engine is done (it sweeps, then exits); safe twice."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        try:
            self.proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(verbose: bool = False, remove_dir: Path | None = None,
          timeout_s: float = 10.0) -> Watchdog | None:
    """Start the watchdog for this process and return once it has looked at our children
    (so a child started before this call is covered); None where /proc lacks children lists.
    `verbose` logs each session noted (on our stderr); `remove_dir` (the engine's state: pod
    logs, the TLS key) is deleted after the sweep."""
    if not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists():
        return None
    read_fd, write_fd = os.pipe()  # not inheritable: pods never hold the write end
    argv = [sys.executable, "-m", "probelab.engine.host.watchdog", str(os.getpid()), str(read_fd)]
    if verbose:
        argv.append("--verbose")
    if remove_dir is not None:
        argv += ["--remove", str(remove_dir)]
    try:
        proc = subprocess.Popen(
            argv,
            pass_fds=(read_fd,), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            start_new_session=True)
    finally:
        os.close(read_fd)
    guard = Watchdog(proc, write_fd)
    assert proc.stdout is not None
    with proc.stdout:
        ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
        if not ready or not proc.stdout.readline():
            guard.close(wait_s=1.0)
            raise RuntimeError("the engine's watchdog did not start")
    return guard


def main(argv: list[str]) -> int:
    engine_pid, fd = int(argv[0]), int(argv[1])
    stat = read_stat(engine_pid)  # its start time tells its network claims from a newer pid's
    remove_dir = argv[argv.index("--remove") + 1] if "--remove" in argv else None
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # only the engine's end decides when to sweep
    killed = watch(engine_pid, fd, ready_fd=sys.stdout.fileno(), verbose="--verbose" in argv)
    if killed:
        print(f"probelab watchdog: engine {engine_pid} gone; killed {len(killed)} leftover "
              "pod process(es)", file=sys.stderr)
    if killed and "--verbose" in argv:
        print(f"probelab watchdog: killed pids {' '.join(map(str, sorted(killed)))}",
              file=sys.stderr)
    if stat is not None:  # the kernel data plane: namespaces, bridge, nftables table, claim
        claims = netclaim.owned_by(engine_pid, stat.start_ticks)
        for problem in netclaim.release_owned(engine_pid, stat.start_ticks):
            print(f"probelab watchdog: {problem}", file=sys.stderr)
        if claims:
            print(f"probelab watchdog: engine {engine_pid} gone; removed its network "
                  f"{', '.join(str(c.net.index) for c in claims)} (namespaces, bridge, "
                  "nftables table)", file=sys.stderr)
    if remove_dir is not None:
        shutil.rmtree(remove_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
