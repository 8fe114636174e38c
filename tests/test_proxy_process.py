"""The userspace data plane's own process (`proxy.childplane`, `proxy.splicer`): rule updates
reach it, clients see the same resets, and it never outlives the engine (stop, Ctrl-C, kill -9).
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from probelab.engine.proxy.childplane import ChildPlane
from support.echo_backends import backends, expect_reset, greet, who
from support.loops import run
from support.processes import cmdline, descendants, pid_alive, probelab_cmd, started
from support.sockets import free_port
from support.waiting import until, wait_until
from test_cluster_cli import env, has_probelab  # noqa: F401  (env is a fixture)
from test_proxy_component import (
    NODE,
    applied,
    endpoint,
    proxy_on,
    service,
    set_endpoints,
)

SPLICER = "probelab.engine.proxy.splicer"


def test_a_rule_update_reaches_the_process_and_it_ends_with_stop() -> None:
    async def main() -> None:
        async with backends(2) as (b1, b2), proxy_on(min_sync_s=0.0) as (store, proxy):
            plane = proxy._plane
            assert isinstance(plane, ChildPlane)
            assert SPLICER in cmdline(plane.pid)  # the bytes go through another process
            assert plane.loop_name.startswith("uvloop")
            node_port = free_port()
            store.create("services", service("web", "127.96.201.1", node_port))
            set_endpoints(store, "web", [endpoint(b1)], b1.port)
            await applied(store, "web", "routes to 1 ready endpoints")
            assert await who(NODE, node_port) == "b1"
            name, reader, writer = await greet(NODE, node_port)  # established on b1

            set_endpoints(store, "web", [endpoint(b2)], b1.port)
            await until(lambda: proxy.timeline[-1].usable == (b2.host,), what="b2 applied")
            await until(lambda: plane.applied >= plane.version, what="the child's ack")
            assert {await who(NODE, node_port) for _ in range(10)} == {"b2"}
            writer.write(b"still")  # the established connection keeps its pod (conntrack)
            assert (name, await asyncio.wait_for(reader.readexactly(5), 10)) == ("b1", b"still")
            writer.close()
            pid = plane.pid
        assert not pid_alive(pid)
    run(main())


def test_nothing_usable_and_a_refusing_pod_reset_the_client() -> None:
    async def main() -> None:
        async with backends(1) as (b1,), proxy_on(min_sync_s=0.0) as (store, proxy):
            node_port = free_port()
            store.create("services", service("web", "127.96.201.2", node_port))
            await until(lambda: (NODE, node_port) in proxy.listening(), what="the nodePort")
            await expect_reset(NODE, node_port)  # no endpoint at all
            await until(lambda: proxy.stats.rejected == 1, what="the rejection counted")
            gone = {"addresses": ["127.244.250.99"], "conditions": {"ready": True}}
            set_endpoints(store, "web", [gone], b1.port)  # ready on paper, nothing listens
            await applied(store, "web", "routes to 1 ready endpoints")
            await until(lambda: proxy._plane.applied >= proxy._plane.version, what="the ack")
            await expect_reset(NODE, node_port)
            await until(lambda: proxy.stats.failed == 1, what="the failed connect counted")
    run(main())


def test_a_port_in_use_in_the_process_is_a_failed_listen() -> None:
    async def main() -> None:
        async with proxy_on(min_sync_s=0.0) as (store, _proxy):
            node_port = free_port()
            squatter = await asyncio.start_server(lambda r, w: w.close(), NODE, node_port)
            try:
                store.create("services", service("web", "127.96.201.3", node_port))
                events = await until(lambda: [e for e in store.list("events")[0]
                                              if e["reason"] == "FailedListen"],
                                     what="FailedListen")
                assert f"{NODE}:{node_port}" in events[0]["message"]
                assert "in use" in events[0]["message"]
            finally:
                squatter.close()
    run(main())


def splicers(engine_pid: int) -> set[int]:
    return {p for p in descendants(engine_pid) if SPLICER in cmdline(p)}


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_the_proxy_process_goes_with_the_engine(tmp_path: Path, env, how) -> None:  # noqa: F811
    """`cluster up` -> its proxy process runs -> Ctrl-C / SIGTERM / kill -9 of the engine ->
    the proxy process is gone (its parent-death signal, its socket's end, the watchdog)."""
    path = tmp_path / "kubeconfig"
    argv = probelab_cmd("cluster", "up", "--port", "0", "--kubeconfig", str(path),
                        "--dataplane", "userspace")
    with started(argv, env=env) as proc:
        wait_until(lambda: has_probelab(path) or proc.poll() is not None, timeout_s=30,
                   what="the probelab context")
        assert proc.poll() is None, proc.stderr.read()
        found = wait_until(lambda: splicers(proc.pid), what="the proxy process")
        assert len(found) == 1
        proc.send_signal(getattr(signal, how))
        proc.wait(30)
    wait_until(lambda: not any(pid_alive(p) for p in found), what="the proxy process gone")
