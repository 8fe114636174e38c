"""Which Linux namespaces of a container an exec must enter, and the argv that enters them.

A container runtime starts an exec'd process inside the container's namespaces (runc `exec`
joins the namespaces of the container's init process: `libcontainer/nsenter`). The engine's
pods may or may not have namespaces of their own (a network namespace per pod, a mount
namespace with bind mounts): the decision is made per exec by comparing the namespaces of the
container's main process with the engine's own (`/proc/PID/ns/*` are links whose targets name
the namespace, namespaces(7)), so an exec enters exactly those that differ, and none when the
pod runs in the engine's. util-linux `nsenter --target PID` does the entering.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence

KINDS = {"net": "--net", "mnt": "--mount", "uts": "--uts", "ipc": "--ipc"}
NSENTER = shutil.which("nsenter")


def namespace_ids(pid: int | str) -> dict[str, str]:
    """The namespace links of a process (`self` for the engine); a kind that cannot be read
    is left out."""
    found = {}
    for kind in KINDS:
        try:
            found[kind] = os.readlink(f"/proc/{pid}/ns/{kind}")
        except OSError:
            continue
    return found


def to_enter(container: Mapping[str, str], engine: Mapping[str, str]) -> list[str]:
    """The kinds (in KINDS order) where the container's namespace is not the engine's."""
    return [k for k in KINDS if k in container and k in engine and container[k] != engine[k]]


def nsenter_argv(pid: int, kinds: Sequence[str], argv: Sequence[str],
                 nsenter: str | None = None) -> list[str]:
    """`argv` run inside the namespaces `kinds` of process `pid`; entering a mount namespace
    also takes the target's root and working directory, as an exec in a container starts in
    its workingDir."""
    if not kinds:
        return list(argv)
    tool = nsenter or NSENTER or "nsenter"
    flags = [KINDS[k] for k in kinds]
    if "mnt" in kinds:
        flags += ["--root", "--wd"]
    return [tool, f"--target={pid}", *flags, "--", *argv]
