"""How the kubelet keeps every process of a container inside the container: per-pod cgroups
where the machine allows, else the engine as a child subreaper that follows descendants.

Why: a process group is not a container. `sh -c "( setsid sleep 1 & ); exec app"` leaves a
sleep in its own session, re-parented to init, which no group signal reaches. A real kubelet
puts each pod in a cgroup (pkg/kubelet/cm/pod_container_manager_linux.go) and the runtime each
container in one below it; stopping a container kills its cgroup, removing a pod kills and
removes the pod's (`Destroy`). Three modes, picked once by `setup()` and logged:

- `CGROUP` (cgroup v2 writable, e.g. as root): `<engine tree>/kubelet-N/pod-<uid>/<container>`
  (`core.cgroupfs.engine_tree`). A container joins its cgroup before it runs a single
  instruction of its own: it starts as `sh -c 'echo $$ > DIR/cgroup.procs && exec ARGV'`
  (`runtime.in_cgroup_argv`), so there is no window in which it could fork outside. Exec probes and
  hooks join the same cgroup, as they run inside the container in Kubernetes. Killing writes
  `cgroup.kill` (kernel docs, Documentation/admin-guide/cgroup-v2.rst). After a `kill -9` of
  the engine its watchdog kills and removes the whole tree.
- `SUBREAPER` (no writable cgroup v2): prctl(PR_SET_CHILD_SUBREAPER) (prctl(2)) makes orphans
  of our descendants our children instead of init's. Every POLL_S the descendants of each
  container's main process are noted (pid and start time, so a reused pid is never killed);
  killing a container kills what was noted for it and what is below its main process now. A
  process that leaves before it was noted (`( setsid cmd & )` exits its middle process at
  once) is re-parented to the engine: it is claimed for its pod by the POD_IP in its
  environment (/proc/PID/environ, as the kubelet set it) and killed with the pod. A process
  that also cleared or changed that variable is not found: the cgroup mode has no such gap.
- `GROUPS` (not Linux): process groups only, as before.

No mode limits resources yet: the cgroup mode is what `memory.max` and `cpu.max` would be
written to (docs/security.md says what is enforced).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import enum
import itertools
import logging
import os
import signal
import sys
from pathlib import Path

from probelab.engine.core import cgroupfs, procfs
from probelab.engine.kubelet import runtime

log = logging.getLogger("probelab.engine.kubelet")

_PR_SET_CHILD_SUBREAPER = 36
POLL_S = 0.1  # subreaper mode: how often descendants are noted
SETTLE_S = 5.0  # how long a killed pod cgroup may take to empty
_kubelets = itertools.count(1)  # several kubelets in one process (tests) get separate trees


class Mode(enum.Enum):
    CGROUP = "cgroup"
    SUBREAPER = "subreaper"
    GROUPS = "groups"
    AUTO = "auto"  # setup(): the best the machine allows


Key = tuple[str, str]  # (pod uid, container name)

def pod_cgroup_name(uid: str) -> str:
    return f"pod-{uid}"


class Containment:
    """Process groups only (the base: every method is a no-op)."""

    mode = Mode.GROUPS

    def place(self, uid: str, container: str) -> Path | None:
        """The cgroup a process of this container must start in (made now), if any."""
        return None

    def started(self, key: Key, pid: int, pod_ip: str = "") -> None:
        """A container's main process started (in the pod with address `pod_ip`)."""

    def kill(self, key: Key) -> None:
        """SIGKILL every process left of this container."""

    async def remove_pod(self, uid: str) -> None:
        """The pod is gone: kill whatever is left of it and release what was made for it."""

    async def close(self) -> None:
        """The kubelet stops: kill and release everything."""


class CgroupContainment(Containment):
    mode = Mode.CGROUP

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, uid: str, container: str | None = None) -> Path:
        pod = self.root / pod_cgroup_name(uid)
        return pod / container if container else pod

    def place(self, uid: str, container: str) -> Path | None:
        path = self._dir(uid, container)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def kill(self, key: Key) -> None:
        cgroupfs.kill(self._dir(*key))

    async def remove_pod(self, uid: str) -> None:
        await self._remove(self._dir(uid))

    async def close(self) -> None:
        await self._remove(self.root)
        with contextlib.suppress(OSError):  # another kubelet of this process may still use it
            self.root.parent.rmdir()

    @staticmethod
    async def _remove(path: Path) -> None:
        cgroupfs.kill(path)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_S
        while cgroupfs.populated(path) and loop.time() < deadline:
            await asyncio.sleep(cgroupfs.POLL_S)
        if not cgroupfs.remove(path, settle_s=0):
            log.warning("kubelet: cgroup %s is still in use; left in place", path)


def _prctl_subreaper(on: bool) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover
        return False
    return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) == 0


def to_kill(noted: dict[tuple[int, int], Key], key: Key, mains: set[int],
            procs: list[procfs.Stat]) -> list[int]:
    """Pure rule of the subreaper mode: the live pids that belong to container `key`: noted
    for it with the same start time (a reused pid is someone else), or below its main pids."""
    alive = {(p.pid, p.start_ticks): p for p in procs if p.state != "Z"}
    mine = {pid for (pid, ticks), k in noted.items() if k == key and (pid, ticks) in alive}
    return sorted(mine | procfs.descendants_of(mains, [p for p in alive.values()]))


class SubreaperContainment(Containment):
    mode = Mode.SUBREAPER

    def __init__(self) -> None:
        self.me = os.getpid()
        self.mains: dict[int, Key] = {}  # container main pid -> its container
        self.noted: dict[tuple[int, int], Key] = {}  # (pid, start ticks) -> container
        self.pods_by_ip: dict[str, str] = {}  # pod IP -> pod uid, to claim orphans
        self._task: asyncio.Task[None] | None = None

    def started(self, key: Key, pid: int, pod_ip: str = "") -> None:
        self.mains[pid] = key
        if pod_ip:
            self.pods_by_ip[pod_ip] = key[0]
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._follow(),
                                                                name="kubelet-subreaper")

    async def _follow(self) -> None:
        while True:
            self.note(procfs.all_stats())
            await asyncio.sleep(POLL_S)

    def note(self, procs: list[procfs.Stat]) -> None:
        """Note the descendants of every main process and noted process, claim orphans
        re-parented to us by their POD_IP, reap the noted ones that died."""
        by_pid = {p.pid: p for p in procs}
        for pid in [p for p in self.mains if p not in by_pid]:
            del self.mains[pid]
        for p in procs:
            ident = (p.pid, p.start_ticks)
            if (p.ppid == self.me and p.pid not in self.mains and ident not in self.noted
                    and not runtime.spawned_here(p.pid)):
                uid = self.pods_by_ip.get(_pod_ip_of(p.pid))
                if uid is not None:
                    self.noted[ident] = (uid, "")  # the pod's, container unknown
        roots = {**self.mains, **{pid: key for (pid, _t), key in self.noted.items()}}
        for pid, key in roots.items():
            for child in procfs.descendants_of({pid}, procs):
                self.noted.setdefault((child, by_pid[child].start_ticks), key)
        live = {(p.pid, p.start_ticks) for p in procs}
        for ident in [i for i in self.noted if i not in live]:
            del self.noted[ident]
        for pid, _ticks in list(self.noted):
            stat = by_pid.get(pid)
            if (stat is not None and stat.ppid == self.me and stat.state == "Z"
                    and not runtime.spawned_here(pid)):
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)  # an orphan of a pod re-parented to us

    def kill(self, key: Key) -> None:
        mains = {pid for pid, k in self.mains.items() if k == key}
        for _ in range(cgroupfs.KILL_ROUNDS):
            procs = procfs.all_stats()
            self.note(procs)
            pids = [p for p in to_kill(self.noted, key, mains, procs) if p != self.me]
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    async def remove_pod(self, uid: str) -> None:
        for key in {k for k in [*self.noted.values(), *self.mains.values()] if k[0] == uid}:
            self.kill(key)
        for ip in [ip for ip, owner in self.pods_by_ip.items() if owner == uid]:
            del self.pods_by_ip[ip]

    async def close(self) -> None:
        for key in {*self.noted.values(), *self.mains.values()}:
            self.kill(key)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.note(procfs.all_stats())
        _prctl_subreaper(False)


def _pod_ip_of(pid: int) -> str:
    """The POD_IP a process was started with (its environment at exec), or ""."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return ""
    for entry in environ.split(b"\0"):
        if entry.startswith(b"POD_IP="):
            return entry[7:].decode(errors="replace")
    return ""


def setup(mode: Mode = Mode.AUTO) -> Containment:
    """The containment this machine allows (or `mode`, falling back the same way); logs which
    one is active, since it decides whether a pod's escaped processes die with it."""
    if mode in (Mode.AUTO, Mode.CGROUP):
        tree = cgroupfs.engine_tree(os.getpid())
        if tree is not None:
            root = tree / f"kubelet-{next(_kubelets)}"
            try:
                root.mkdir(parents=True, exist_ok=True)
                log.info("kubelet: every container runs in its own cgroup under %s "
                         "(cgroup v2; a pod's processes die with it)", root)
                return CgroupContainment(root)
            except OSError as exc:
                log.info("kubelet: cannot make cgroups under %s (%s)", tree, exc)
        else:
            log.info("kubelet: no cgroup v2 mount holds this process")
    if mode is not Mode.GROUPS and _prctl_subreaper(True):
        log.warning("kubelet: no writable cgroup v2: the engine is a child subreaper and "
                    "follows each container's descendants every %.1fs instead", POLL_S)
        return SubreaperContainment()
    log.warning("kubelet: neither cgroups nor a subreaper: a process that leaves its "
                "container's process group outlives its pod")
    return Containment()
