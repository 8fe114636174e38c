"""What the engine reads of other processes in /proc (proc(5)): one process's stat line, the
direct children of a process, every process's stat.

Shared by the kubelet's subreaper fallback (`kubelet.cgroups`), which follows a container's
descendants, and the watchdog (`host.watchdog`), which sweeps what a killed engine left.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Stat:
    """The fields of /proc/PID/stat the engine needs."""

    pid: int
    state: str
    ppid: int
    sid: int
    start_ticks: int


def parse_stat(text: str) -> Stat | None:
    """Parse one /proc/PID/stat line (the command name may contain spaces and parentheses)."""
    head, _, rest = text.rpartition(")")
    fields = rest.split()
    try:
        pid = int(head.split("(", 1)[0])
        return Stat(pid=pid, state=fields[0], ppid=int(fields[1]), sid=int(fields[3]),
                    start_ticks=int(fields[19]))
    except (IndexError, ValueError):
        return None


def read_stat(pid: int) -> Stat | None:
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return None


def children(pid: int) -> set[int]:
    """Direct children of `pid`, from every thread's children list."""
    found: set[int] = set()
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        with contextlib.suppress(OSError, ValueError):
            found.update(int(p) for p in Path(f"/proc/{pid}/task/{tid}/children").read_text()
                         .split())
    return found


def all_stats() -> list[Stat]:
    stats = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = read_stat(int(name))
            if stat is not None:
                stats.append(stat)
    return stats


def descendants_of(roots: set[int], procs: list[Stat]) -> set[int]:
    """The pids below `roots` in the parent links of `procs` (the roots excluded)."""
    kids: dict[int, list[int]] = {}
    for p in procs:
        kids.setdefault(p.ppid, []).append(p.pid)
    found: set[int] = set()
    todo = list(roots)
    while todo:
        for child in kids.get(todo.pop(), ()):
            if child not in found and child not in roots:
                found.add(child)
                todo.append(child)
    return found
