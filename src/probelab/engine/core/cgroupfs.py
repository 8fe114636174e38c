"""The cgroup v2 file system, as the engine uses it: where a process's cgroup is, the engine's
own tree in it, and killing and removing a tree.

Why: a container's process group is not a container. A process that calls setsid(), or whose
parent exits, leaves the group and the session and is re-parented to init, so signalling the
group misses it. A cgroup cannot be left by a process on its own: every descendant stays in
it, and writing "1" to `cgroup.kill` SIGKILLs every process of the cgroup and of all cgroups
below it, forks in flight included (kernel docs, Documentation/admin-guide/cgroup-v2.rst,
"cgroup.kill"; Linux >= 5.14). That is how a real kubelet stops a pod: the runtime kills the
container's cgroup, and the kubelet removes the pod's cgroup
(kubernetes pkg/kubelet/cm/pod_container_manager_linux.go, `Destroy`: kill the pids of the
cgroup, then remove it).

The engine's tree is `<its own cgroup>/probelab-<pid>`, named after the engine's pid so that
its watchdog (`host.watchdog`), which knows only that pid, finds it after a `kill -9` of the
engine. The kubelet makes `pod-<uid>/<container>` under it (`kubelet.cgroups`).

Pure parsing (`cgroup2_mount`, `own_cgroup`, `cgroup_dir`) is separate from the file I/O.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

TREE_PREFIX = "probelab-"
KILL_ROUNDS = 50  # kill without cgroup.kill: look again (a process may fork while dying)
SETTLE_S = 5.0  # how long a killed cgroup may take to empty before rmdir gives up
POLL_S = 0.01


@dataclass(frozen=True)
class Mount:
    """A cgroup2 mount: where it is, and which cgroup path its root shows."""

    point: str
    root: str


def _unescape(field: str) -> str:
    r"""mountinfo escapes space, tab, newline and backslash as \ooo (octal)."""
    out, i = [], 0
    while i < len(field):
        code = field[i + 1:i + 4]
        if field[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def cgroup2_mounts(mountinfo: str) -> list[Mount]:
    """Every cgroup2 mount in /proc/self/mountinfo text (proc(5): fields, then "-", fstype)."""
    found = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        if sep + 1 < len(fields) and fields[sep + 1] == "cgroup2" and len(fields) > 4:
            found.append(Mount(point=_unescape(fields[4]), root=_unescape(fields[3])))
    return found


def own_cgroup(proc_cgroup: str) -> str | None:
    """The cgroup v2 path in /proc/PID/cgroup text: the `0::PATH` line (cgroups(7))."""
    for line in proc_cgroup.splitlines():
        if line.startswith("0::"):
            return line[3:] or "/"
    return None


def cgroup_dir(mounts: list[Mount], path: str) -> Path | None:
    """The directory of cgroup `path` under the first mount whose root contains it."""
    for mount in mounts:
        root = mount.root.rstrip("/")
        if path == mount.root or path.startswith(root + "/"):
            return Path(mount.point) / path[len(root):].lstrip("/")
    return None


def cgroup_of(pid: int) -> Path | None:
    """The cgroup v2 directory of `pid`, or None without a cgroup2 mount (or without /proc)."""
    try:
        mounts = cgroup2_mounts(Path("/proc/self/mountinfo").read_text())
        path = own_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
    except OSError:
        return None
    return cgroup_dir(mounts, path) if path is not None else None


def engine_tree(pid: int) -> Path | None:
    """Where the engine with `pid` keeps its cgroups (whether or not it made them yet)."""
    base = cgroup_of(pid)
    return base / f"{TREE_PREFIX}{pid}" if base is not None else None


def procs(cgroup: Path) -> list[int]:
    """The pids in `cgroup` itself (not in the cgroups below it)."""
    try:
        return [int(p) for p in (cgroup / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def populated(cgroup: Path) -> bool:
    """Whether any process is left in `cgroup` or below it (`cgroup.events`)."""
    try:
        text = (cgroup / "cgroup.events").read_text()
    except OSError:
        return False
    return "populated 1" in text


def _below(cgroup: Path) -> list[Path]:
    """`cgroup` and every cgroup under it, deepest first."""
    found = [Path(root) for root, _dirs, _files in os.walk(cgroup)]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def kill(cgroup: Path) -> None:
    """SIGKILL every process in `cgroup` and below: `cgroup.kill` where the kernel has it, else
    pid by pid until nothing is left (or KILL_ROUNDS looks)."""
    if not cgroup.is_dir():
        return
    switch = cgroup / "cgroup.kill"
    if switch.exists():
        with contextlib.suppress(OSError):
            switch.write_text("1")
            return
    for _ in range(KILL_ROUNDS):
        pids = [pid for group in _below(cgroup) for pid in procs(group)]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def remove(cgroup: Path, settle_s: float = SETTLE_S) -> bool:
    """Kill everything in `cgroup` and below, wait (bounded) for it to empty, then remove the
    directories deepest first. True if `cgroup` is gone. Blocks: a dying process leaves its
    cgroup within milliseconds, but the kubelet calls `remove_async`."""
    kill(cgroup)
    deadline = time.monotonic() + settle_s
    while populated(cgroup) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    return _rmdirs(cgroup)


def _rmdirs(cgroup: Path) -> bool:
    if not cgroup.exists():
        return True
    for group in _below(cgroup):
        with contextlib.suppress(OSError):
            group.rmdir()
    return not cgroup.exists()
