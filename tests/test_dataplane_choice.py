"""Which data plane an engine runs (pure `decide`), what `cluster up` says when `kernel` cannot
run, and the userspace plane's Event for a program that binds 0.0.0.0 twice."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from probelab.engine.kubelet.diagnose import bind_conflict
from probelab.engine.network.choice import AUTO, KERNEL, USERSPACE, Facts, decide
from support.processes import probelab_cmd
from support.real_engine import RealEngine
from support.waiting import wait_until

ABLE = Facts(net_admin=True, nft="libnftables", ip="/usr/sbin/ip", netns=True)
NO_CAPS = Facts(net_admin=False, nft="libnftables", ip="/usr/sbin/ip", netns=True)
NO_NFT = Facts(net_admin=True, nft=None, ip="/usr/sbin/ip", netns=True)


@pytest.mark.parametrize(("requested", "facts", "mode", "error", "says"), [
    (AUTO, ABLE, KERNEL, False, "libnftables in-process"),
    (KERNEL, ABLE, KERNEL, False, "asked for with --dataplane kernel"),
    (AUTO, NO_CAPS, USERSPACE, False, "lacks CAP_NET_ADMIN"),
    (AUTO, NO_NFT, USERSPACE, False, "nftables is not installed"),
    (KERNEL, NO_CAPS, KERNEL, True, "--dataplane kernel cannot run here"),
    (USERSPACE, ABLE, USERSPACE, False, "--dataplane userspace"),
])
def test_decide(requested: str, facts: Facts, mode: str, error: bool, says: str) -> None:
    choice = decide(requested, facts)
    assert (choice.mode, choice.error) == (mode, error)
    assert says in choice.reason and "\n" not in choice.reason


@pytest.mark.parametrize(("log", "found"), [
    ("OSError: [Errno 98] Address already in use\n", True),
    ("Error: listen EADDRINUSE: address already in use :::8080", True),
    ("bind: address already in use", True),
    ("Traceback ... ZeroDivisionError", False),
])
def test_bind_conflict(log: str, found: bool) -> None:
    message = bind_conflict(log, "web")
    assert (message is not None) is found
    if message:
        assert "$POD_IP" in message and "--dataplane kernel" in message


DROP_CAPS = ["setpriv", "--bounding-set", "-net_admin,-sys_admin", "--"]
needs_setpriv = pytest.mark.skipif(shutil.which("setpriv") is None or sys.platform != "linux",
                                   reason="util-linux setpriv drops capabilities here")


@needs_setpriv
def test_kernel_without_capabilities_is_a_one_line_error(tmp_path: Path) -> None:
    done = subprocess.run([*DROP_CAPS, *probelab_cmd(
        "cluster", "up", "--dataplane", "kernel", "--kubeconfig", str(tmp_path / "kc"))],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "lacks CAP_NET_ADMIN" in lines[0], done.stderr
    assert not (tmp_path / "kc").exists()


@needs_setpriv
def test_auto_without_capabilities_runs_userspace_and_says_why(tmp_path: Path) -> None:
    engine = RealEngine(tmp_path, "--dataplane", "auto", "--log-level", "info")
    engine.argv = [*DROP_CAPS, *engine.argv]
    with engine:
        first = next(line for line in engine.log().splitlines() if " INFO " in line)
        assert "data plane: userspace (auto: this process lacks CAP_NET_ADMIN" in first


def test_userspace_pods_binding_the_same_port_get_a_port_in_use_event(tmp_path: Path) -> None:
    server = (f"{sys.executable} -c \"import socket,time; s=socket.socket(); "
              "s.bind(('0.0.0.0', 8080)); s.listen(); time.sleep(3600)\"")
    with RealEngine(tmp_path, "--dataplane", "userspace", "--image", f"anyport:1={server}",
                    "--log-level", "warning") as eng:
        eng.kubectl("create", "deployment", "web", "--image", "anyport:1", "--replicas", "2")

        def port_in_use() -> list[str]:
            return [e.message for e in eng.core.list_namespaced_event("default").items
                    if e.reason == "PortInUse"]
        wait_until(port_in_use, timeout_s=60, what="a PortInUse Event")
        assert "Bind $POD_IP" in port_in_use()[0]
