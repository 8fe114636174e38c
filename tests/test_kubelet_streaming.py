"""The kubelet's side of exec and attach, in-process: `ctx.streaming.runtime` as the API server
calls it (`core.streaming.PodRuntime`), with real processes. The protocols are tested with
real clients in test_streaming_e2e.py."""

from __future__ import annotations

import os
import shutil

import pytest

from probelab.engine.core import podlogs
from probelab.engine.core.streaming import ExecRequest, StreamError
from probelab.engine.kubelet.execsession import ExecSession
from support.kubelet_harness import NS, Harness, kubelet
from support.loops import run
from support.processes import pid_alive
from support.waiting import until


async def drain(session) -> list[tuple[int, bytes]]:
    out = []
    queue = session.output()
    while (item := await queue.get()) is not None:
        out.append(item)
    return out


def joined(items: list[tuple[int, bytes]], channel: int) -> bytes:
    return b"".join(data for ch, data in items if ch == channel)


async def running(h: Harness, name: str, **container) -> None:
    h.create(name, **container)
    await until(lambda: h.kubelet.pids(NS, name).get("app"), what=f"{name} running")


def runner_of(h: Harness, name: str):
    [worker] = [w for w in h.kubelet._workers.values() if w.name == name]
    return worker.runners[0]


def test_an_exec_runs_in_the_containers_environment_and_is_forgotten(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            await running(h, "web", env={"GREETING": "hi-$(POD_NAME)"})
            runtime = h.ctx.streaming.runtime
            session = await runtime.exec(ExecRequest(NS, "web", "app", (
                "sh", "-c", 'echo "$GREETING $POD_IP"; echo err >&2; exit 2')))
            assert isinstance(session, ExecSession)
            assert session.pid in h.kubelet.node.live
            items = await drain(session)
            assert await session.wait() == 2
            ip = h.status("web")["podIP"]
            assert joined(items, 1) == f"hi-web {ip}\n".encode()
            assert joined(items, 2) == b"err\n"
            assert runner_of(h, "web").execs == set()
            assert session.pid not in h.kubelet.node.live

    run(main())


def test_an_exec_dies_when_its_pod_is_deleted(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            await running(h, "web", grace=1)
            session = await h.ctx.streaming.runtime.exec(
                ExecRequest(NS, "web", "app", ("sleep", "600")))
            assert pid_alive(session.pid)
            h.delete("web")
            assert await session.wait() == -9
            await until(lambda: not pid_alive(session.pid), what="the exec to end")

    run(main())


def test_what_the_node_refuses(tmp_path) -> None:
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            await running(h, "web")
            runtime = h.ctx.streaming.runtime
            with pytest.raises(StreamError) as caught:
                await runtime.exec(ExecRequest(NS, "web", "other", ("true",)))
            assert (caught.value.message, caught.value.upgraded) == (
                'container not found ("other")', False)
            with pytest.raises(StreamError) as caught:
                await runtime.exec(ExecRequest(NS, "web", "app", ("no-such-program",)))
            assert caught.value.upgraded and '"no-such-program": executable file not found' \
                in caught.value.message
            with pytest.raises(StreamError) as caught:
                await runtime.attach(ExecRequest(NS, "gone", "app"))
            assert caught.value.code == 404

    run(main())


def test_attach_follows_new_output_only(tmp_path) -> None:
    trigger = tmp_path / "go"
    script = (f'echo first; while [ ! -e {trigger} ]; do sleep 0.05; done; echo second; '
              'exec sleep 600')

    async def main() -> None:
        async with kubelet(tmp_path) as h:
            await running(h, "web", grace=1, command=["sh", "-c", script])
            uid = h.pod("web")["metadata"]["uid"]
            log = podlogs.log_path(tmp_path / "state", uid, "app")
            await until(lambda: log.exists() and "first" in log.read_text(), what="first")
            session = await h.ctx.streaming.runtime.attach(ExecRequest(NS, "web", "app"))
            trigger.touch()
            queue = session.output()
            channel, data = await queue.get()
            assert (channel, data) == (1, b"second\n")  # not "first", written before
            h.delete("web")
            assert await drain(session) == []
            assert await session.wait() is None

    run(main())


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="needs root and util-linux unshare to give a pod namespaces")
def test_an_exec_enters_the_containers_own_namespaces(tmp_path) -> None:
    """A container whose process has its own network and mount namespaces (as pods get them
    from a runtime): the exec runs in those, not in the engine's."""
    async def main() -> None:
        async with kubelet(tmp_path) as h:
            await running(h, "isolated", command=["unshare", "--net", "--mount", "--",
                                                  "sleep", "600"])
            pid = h.kubelet.pids(NS, "isolated")["app"]
            await until(lambda: os.readlink(f"/proc/{pid}/ns/net")
                        != os.readlink("/proc/self/ns/net"), what="the pod's own netns")
            session = await h.ctx.streaming.runtime.exec(ExecRequest(NS, "isolated", "app", (
                "sh", "-c", "readlink /proc/self/ns/net /proc/self/ns/mnt")))
            items = await drain(session)
            assert await session.wait() == 0
            assert joined(items, 1).decode().split() == [
                os.readlink(f"/proc/{pid}/ns/net"), os.readlink(f"/proc/{pid}/ns/mnt")]

    run(main())
