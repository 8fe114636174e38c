"""A pod's network namespace (`iproute.add_pod`) on a fresh address and over a leftover one.

`add_pod` spawns the `ip netns del` of a leftover only when the namespace's file exists (one
process less per pod start); a namespace left by an earlier pod with that address must still be
replaced by a fresh one. Real namespaces, veths and a bridge of a claimed engine network; skipped
where the kernel data plane cannot run.
"""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from probelab.engine.network import choice, claim, iproute

DECIDED = choice.decide(choice.KERNEL, choice.facts())
pytestmark = pytest.mark.skipif(DECIDED.error, reason=DECIDED.reason)


def inside(ns: str, *args: str) -> str:
    return subprocess.run(["ip", "-n", ns, "-o", *args], capture_output=True, text=True,
                          check=True).stdout


def test_add_pod_fresh_and_over_a_leftover() -> None:
    taken = claim.take()
    net = taken.net
    try:
        iproute.setup_bridge(net)
        address = net.pod_addresses()[0]
        ns = net.netns(int(address.rsplit(".", 1)[1]))
        assert not (iproute.NETNS_DIR / ns).exists()

        assert asyncio.run(iproute.add_pod(net, address)) == ns
        assert f"inet {address}/" in inside(ns, "addr", "show", "dev", "eth0")

        # What an earlier pod of this address left: its namespace, marked by a second
        # loopback address that only this namespace has (no traffic goes anywhere).
        subprocess.run(["ip", "-n", ns, "addr", "add", "127.0.0.77/32", "dev", "lo"],
                       check=True)
        assert "127.0.0.77/32" in inside(ns, "addr", "show", "dev", "lo")
        assert asyncio.run(iproute.add_pod(net, address)) == ns
        assert "127.0.0.77/32" not in inside(ns, "addr", "show", "dev", "lo")
        assert f"inet {address}/" in inside(ns, "addr", "show", "dev", "eth0")
    finally:
        assert claim.release(taken) == []
    assert iproute.leftover_netns(net) == []
