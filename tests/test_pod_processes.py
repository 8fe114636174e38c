"""Every process of a container dies with it, even one that left its process group and session
(`setsid`), as in a real kubelet that kills the container's cgroup.

The pods run `sh -c "( setsid sleep N & ); exec sleep 3600"`: the first sleep is re-parented to
init in a session of its own, which no process-group signal reaches. Each test runs it in the
cgroup mode where the machine allows (root with cgroup v2 here) and in the subreaper fallback,
and checks that the escapee is gone after a delete, a container restart and a kubelet stop.
Then the pure parts: where the cgroup is, what the fallback kills.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from probelab.engine.core import cgroupfs, procfs
from support.kubelet_harness import kubelet
from support.loops import run
from support.processes import pid_alive
from support.waiting import until

_serial = itertools.count()


def escaper(tag: str) -> tuple[str, str]:
    """An image whose container leaves a `sleep 7771.<tag>` behind in its own session."""
    return ("escaper", f"sh -c '( setsid sleep 7771.{tag} & ); exec sleep 3600'")


def unique_tag() -> str:
    return f"{os.getpid()}{next(_serial)}"


def processes_running(argv: str) -> set[int]:
    """Pids whose whole command line is `argv` (space-separated)."""
    found = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                raw = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            if raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace") == argv:
                found.add(int(name))
    return {p for p in found if pid_alive(p)}


def kubelet_options(mode: str) -> dict:
    if mode == "auto":
        return {}  # what `probelab cluster up` uses: cgroups here when running as root
    from probelab.engine.kubelet.cgroups import Mode

    return {"containment": Mode(mode)}


MODES = ["auto", "subreaper"]


def run_leaving_nothing(coro: Coroutine[Any, Any, None], escapee: str) -> None:
    """Run the test's loop; pass or fail, kill the escapee it may leave (the old code did)."""
    try:
        run(coro)
    finally:
        for pid in processes_running(escapee):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("mode", MODES)
def test_a_process_that_left_its_session_dies_when_its_pod_is_deleted(tmp_path, mode) -> None:
    tag = unique_tag()
    escapee = f"sleep 7771.{tag}"

    async def main() -> None:
        async with kubelet(tmp_path, (escaper(tag),), **kubelet_options(mode)) as h:
            h.create("esc", image="escaper:1", grace=1)
            [pid] = await until(lambda: processes_running(escapee), what="the escapee")
            assert procfs.read_stat(pid).sid == pid  # its own session: no group kill reaches
            h.delete("esc")
            await until(lambda: h.pod("esc") is None, what="the pod to go")
            await until(lambda: not pid_alive(pid), timeout_s=10, what="the escapee to die")

    run_leaving_nothing(main(), escapee)


@pytest.mark.parametrize("mode", MODES)
def test_a_process_that_left_its_session_dies_when_the_kubelet_stops(tmp_path, mode) -> None:
    tag = unique_tag()
    escapee = f"sleep 7771.{tag}"
    pids: set[int] = set()

    async def main() -> None:
        async with kubelet(tmp_path, (escaper(tag),), **kubelet_options(mode)) as h:
            h.create("esc", image="escaper:1", grace=1)
            pids.update(await until(lambda: processes_running(escapee), what="the escapee"))
        await until(lambda: not any(pid_alive(p) for p in pids), timeout_s=10,
                    what="the escapee to die with the kubelet")

    run_leaving_nothing(main(), escapee)


def test_a_restarted_container_leaves_no_process_of_its_last_run(tmp_path) -> None:
    """The container exits after leaving a sleep behind; the sleep goes with it, as it would
    with the container's PID namespace, before the restart starts a new one."""
    tag = unique_tag()
    escapee = f"sleep 7772.{tag}"
    image = ("quitter", f"sh -c '( setsid sleep 7772.{tag} & ); sleep 0.2; exit 3'")

    async def main() -> None:
        async with kubelet(tmp_path, (image,)) as h:
            h.create("quit", image="quitter:1")
            first = await until(lambda: processes_running(escapee), what="the first escapee")
            await until(lambda: h.container("quit").get("restartCount", 0) >= 1,
                        what="a restart")
            await until(lambda: not any(pid_alive(p) for p in first), timeout_s=10,
                        what="the first run's escapee to die")

    run_leaving_nothing(main(), escapee)


def test_the_pod_cgroups_are_removed(tmp_path) -> None:
    tree = cgroupfs.engine_tree(os.getpid())
    if tree is None or not os.access(tree.parent, os.W_OK):
        pytest.skip("no writable cgroup v2 here")
    tag = unique_tag()

    async def main() -> None:
        async with kubelet(tmp_path, (escaper(tag),)) as h:
            node = h.kubelet.node
            root = node.containment.root
            h.create("esc", image="escaper:1", grace=1)
            await until(lambda: processes_running(f"sleep 7771.{tag}"), what="the escapee")
            uid = h.pod("esc")["metadata"]["uid"]
            pod_dir = root / f"pod-{uid}"
            assert (pod_dir / "app").is_dir()
            assert len(cgroupfs.procs(pod_dir / "app")) == 2  # the container and its escapee
            h.delete("esc", grace=0)
            await until(lambda: not pod_dir.exists(), what="the pod cgroup to go")
        assert not root.exists()

    run_leaving_nothing(main(), f"sleep 7771.{tag}")


# ---- the pure parts -------------------------------------------------------------------------

MOUNTINFO = """\
24 29 0:22 / /sys rw,nosuid shared:7 - sysfs sysfs rw
35 24 0:30 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
36 24 0:31 / /sys/fs/cgroup/memory rw shared:10 - cgroup cgroup rw,memory
40 24 0:33 /kube/pod1 /mnt/my\\040cg rw - cgroup2 cgroup2 rw
"""


def test_cgroup2_mounts_are_read_from_mountinfo() -> None:
    assert cgroupfs.cgroup2_mounts(MOUNTINFO) == [
        cgroupfs.Mount("/sys/fs/cgroup/unified", "/"),
        cgroupfs.Mount("/mnt/my cg", "/kube/pod1"),
    ]


@pytest.mark.parametrize(("text", "expected"), [
    ("0::/user.slice/session-1.scope\n", "/user.slice/session-1.scope"),
    ("4:memory:/x\n0::/\n", "/"),
    ("4:memory:/x\n", None),  # cgroup v1 only
])
def test_own_cgroup(text, expected) -> None:
    assert cgroupfs.own_cgroup(text) == expected


@pytest.mark.parametrize(("path", "expected"), [
    ("/", "/sys/fs/cgroup/unified"),
    ("/probelab-1", "/sys/fs/cgroup/unified/probelab-1"),
    ("/kube/pod1/c", "/sys/fs/cgroup/unified/kube/pod1/c"),  # the first mount that holds it
])
def test_cgroup_dir(path, expected) -> None:
    mounts = cgroupfs.cgroup2_mounts(MOUNTINFO)
    assert cgroupfs.cgroup_dir(mounts, path) == Path(expected)


def test_cgroup_dir_under_a_mount_of_a_sub_tree() -> None:
    mounts = [cgroupfs.Mount("/mnt/cg", "/kube/pod1")]
    assert cgroupfs.cgroup_dir(mounts, "/kube/pod1/c") == Path("/mnt/cg/c")
    assert cgroupfs.cgroup_dir(mounts, "/kube/pod10") is None
    assert cgroupfs.cgroup_dir(mounts, "/other") is None


def test_a_container_joins_its_cgroup_before_it_runs() -> None:
    from probelab.engine.kubelet.runtime import in_cgroup_argv

    argv = in_cgroup_argv(Path("/cg/pod-1/app"), ["sleep", "1"])
    assert argv[:2] == ["/bin/sh", "-c"]
    assert argv[3:] == ["/cg/pod-1/app", "sleep", "1"]
    assert "$$" in argv[2] and 'exec "$@"' in argv[2]


def stat(pid: int, ppid: int, ticks: int, state: str = "S") -> procfs.Stat:
    return procfs.Stat(pid=pid, state=state, ppid=ppid, sid=pid, start_ticks=ticks)


@pytest.mark.parametrize(("procs", "expected"), [
    ([stat(10, 1, 5), stat(11, 10, 6)], [11]),  # below the main process now
    ([stat(20, 1, 7)], [20]),  # noted before, re-parented since
    ([stat(20, 1, 8)], []),  # same pid, another start: a stranger
    ([stat(20, 1, 7, "Z")], []),  # dead already
    ([stat(30, 1, 9)], []),  # noted for another container
])
def test_the_subreaper_kills_what_was_noted_or_is_below(procs, expected) -> None:
    from probelab.engine.kubelet.cgroups import to_kill

    noted = {(20, 7): ("uid", "app"), (30, 9): ("uid", "side")}
    assert to_kill(noted, ("uid", "app"), {10}, procs) == expected


def test_descendants_of() -> None:
    procs = [stat(2, 1, 0), stat(3, 2, 0), stat(4, 3, 0), stat(5, 1, 0)]
    assert procfs.descendants_of({2}, procs) == {3, 4}
    assert procfs.descendants_of({9}, procs) == set()


def test_without_cgroup_kill_every_listed_pid_below_is_killed(tmp_path) -> None:
    """Kernels before 5.14 have no cgroup.kill: each pid in cgroup.procs of the cgroup and the
    cgroups below it is SIGKILLed (a stand-in directory tree, real processes)."""
    procs = [subprocess.Popen(["sleep", "60"]) for _ in range(2)]
    try:
        (tmp_path / "pod" / "app").mkdir(parents=True)
        (tmp_path / "pod" / "cgroup.procs").write_text(f"{procs[0].pid}\n")
        (tmp_path / "pod" / "app" / "cgroup.procs").write_text(f"{procs[1].pid}\n")
        cgroupfs.kill(tmp_path / "pod")
        assert [p.wait(10) for p in procs] == [-signal.SIGKILL, -signal.SIGKILL]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
