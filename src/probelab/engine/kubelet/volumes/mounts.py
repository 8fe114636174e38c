"""A container's volume mounts: its own mount namespace, in which each volume's folder is
bind-mounted at its `mountPath`, started as an argv wrapper so the runtime keeps its fast
vfork path (no preexec function).

    unshare --mount --propagation private /bin/sh -c SCRIPT probelab-mounts ARGV...

SCRIPT (made by the pure `plan`) runs as the first process of the new namespace, mounts, then
`exec`s ARGV (same pid). Mounts made there are invisible to the host, and the namespace, with
its mounts, ends with its last process: nothing to unmount, also after a SIGKILL.

Where every `mountPath` (or its parent folder, for a file) already exists on the host, the
volume is bound there directly. Where one does not (`/etc/app` on a machine without it), the
host must not be changed, so the container gets a root of its own, as a container runtime
gives it: a tmpfs scratch (over a folder of the pod's state, in the namespace only) holds an
overlay of `/` (the host's root file system below, writes go to the tmpfs), the host's other
mounts (`/proc`, `/dev`, `/tmp`, ...) are bound into it recursively, the missing folders are
made in it, the volumes bound, and the process `chroot`s into it, keeping its working folder.
A missing path inside another mount than `/` gets an overlay of that mount the same way.

Requirements: root (CAP_SYS_ADMIN), util-linux `unshare`, coreutils `chroot`, overlayfs.
`available()` checks them once; without them the kubelet falls back (volumes/manager.py).
"""

from __future__ import annotations

import functools
import os
import posixpath
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

UNSHARE = shutil.which("unshare")
CHROOT = shutil.which("chroot")
NSENTER = shutil.which("nsenter")
NAME = "probelab-mounts"  # $0 of the script: what `ps` shows until it execs


@dataclass(frozen=True)
class Mount:
    """One bind mount: the host path to show, where, and how."""

    source: str  # host path (a folder, or a file for a subPath of one)
    target: str  # the container's mountPath, absolute
    read_only: bool
    is_file: bool = False


class PlanError(ValueError):
    """Mounts that cannot be made (e.g. a mountPath below an existing file)."""


def _q(text: str) -> str:
    return shlex.quote(text)


def mount_points(mountinfo: str) -> list[str]:
    """The mount points of a /proc/self/mountinfo text, in order (octal escapes decoded)."""
    points = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4:
            points.append(fields[4].encode().decode("unicode_escape"))
    return points


def _mount_of(path: str, points: Sequence[str]) -> str:
    """The mount point that holds `path` (the longest that is a prefix of it)."""
    best = "/"
    for p in points:
        if (path == p or path.startswith(p.rstrip("/") + "/")) and len(p) > len(best):
            best = p
    return best


def _top_level(points: Sequence[str]) -> list[str]:
    """Mount points other than `/` not below another one (rbinding these brings the rest)."""
    out: list[str] = []
    for p in sorted(set(points) - {"/"}, key=len):
        if not any(p.startswith(q.rstrip("/") + "/") for q in out):
            out.append(p)
    return out


def plan(mounts: Sequence[Mount], scratch: str, exists: Callable[[str], bool],
         is_dir: Callable[[str], bool], points: Sequence[str]) -> list[str]:
    """The shell lines that set the mounts up, ending with the `exec` of the container's argv
    ("$@"). Pure: the host's state comes in through `exists`, `is_dir` and `points`."""
    lines = ["set -e", 'probelab_pwd=$1', "shift"]
    missing = [m for m in mounts if not exists(m.target)]
    for m in mounts:
        if not posixpath.isabs(m.target):
            raise PlanError(f"mountPath {m.target!r} must be absolute")
        if any(ch in m.source + m.target for ch in ",:\\\n"):
            raise PlanError(f"mount paths with ',', ':', '\\\\' or newlines are not supported: "
                            f"{m.target!r}")
    if not missing:
        for m in mounts:
            lines += _bind(m.source, m.target, m.read_only)
        return [*lines, 'exec "$@"']
    root = f"{scratch}/root"
    lines += [f"mount -t tmpfs -o mode=0700 {NAME} {_q(scratch)}",
              f"mkdir -p {_q(root)} {_q(scratch)}/up/root {_q(scratch)}/work/root",
              f"mount -t overlay {NAME} -o lowerdir=/,upperdir={_q(scratch)}/up/root,"
              f"workdir={_q(scratch)}/work/root {_q(root)}"]
    for point in _top_level(points):
        if point == scratch or point.startswith(scratch + "/"):
            continue
        lines.append(f"mount --rbind {_q(point)} {_q(root + point)}")
    overlaid: set[str] = {"/"}
    for i, m in enumerate(missing):
        ancestor = posixpath.dirname(m.target)
        while not exists(ancestor):
            ancestor = posixpath.dirname(ancestor)
        if not is_dir(ancestor):
            raise PlanError(f"mountPath {m.target!r}: {ancestor!r} is not a directory")
        holder = _mount_of(ancestor, points)
        if holder not in overlaid:  # the missing folder is inside another mount: overlay it
            lines += [f"mkdir -p {_q(scratch)}/up/{i} {_q(scratch)}/work/{i}",
                      f"mount -t overlay {NAME} -o lowerdir={_q(holder)},"
                      f"upperdir={_q(scratch)}/up/{i},workdir={_q(scratch)}/work/{i} "
                      f"{_q(root + holder)}"]
            overlaid.add(holder)
        inside = root + m.target
        if m.is_file:
            lines += [f"mkdir -p {_q(posixpath.dirname(inside))}", f": > {_q(inside)}"]
        else:
            lines.append(f"mkdir -p {_q(inside)}")
    for m in mounts:
        lines += _bind(m.source, root + m.target, m.read_only)
    lines += ['cd /',
              f'exec {_q(CHROOT or "chroot")} {_q(root)} /bin/sh -c '
              + _q('cd "$0" 2>/dev/null || cd /; exec "$@"') + ' "$probelab_pwd" "$@"']
    return lines


def _bind(source: str, target: str, read_only: bool) -> list[str]:
    out = [f"mount --bind {_q(source)} {_q(target)}"]
    if read_only:
        out.append(f"mount -o remount,bind,ro {_q(target)}")
    return out


def wrap(mounts: Sequence[Mount], scratch: Path, argv: Sequence[str], cwd: str | None,
         ) -> list[str]:
    """`argv` started in a mount namespace with `mounts` (`cwd`: the working folder to keep
    after a chroot). Raises PlanError for mounts that cannot be made."""
    points = mount_points(Path("/proc/self/mountinfo").read_text())
    lines = plan(mounts, str(scratch), os.path.lexists, os.path.isdir, points)
    script = "\n".join(lines)
    return [UNSHARE or "unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
            script, NAME, cwd or os.getcwd(), *argv]


def enter(pid: int, cwd: str | None) -> Callable[[Sequence[str]], list[str]] | None:
    """A wrapper that runs an argv inside the mount namespace and root of the running process
    `pid` (exec probes and hooks, as the runtime execs in a running container), in `cwd`.
    About a third of the cost of building the namespace again (`wrap`); None without
    util-linux `nsenter` (the caller then uses `wrap`)."""
    if NSENTER is None:
        return None
    nsenter = NSENTER

    def wrapped(argv: Sequence[str]) -> list[str]:
        return [nsenter, "--target", str(pid), "--mount", "--root", "--wd", "/bin/sh", "-c",
                'cd "$0" 2>/dev/null || cd /; exec "$@"', cwd or "/", *argv]

    return wrapped


@functools.cache
def available() -> str | None:
    """None when mount namespaces can be made here, else why not (checked once)."""
    if os.geteuid() != 0:
        return "the engine does not run as root"
    if UNSHARE is None or CHROOT is None:
        return "util-linux unshare or coreutils chroot is not installed"
    try:
        done = subprocess.run([UNSHARE, "--mount", "--propagation", "private", "true"],
                              capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare --mount failed: {exc}"
    if done.returncode != 0:
        return f"unshare --mount failed: {done.stderr.decode(errors='replace').strip()}"
    return None
