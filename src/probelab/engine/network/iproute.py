"""The engine's bridge, its routes and sysctls, and the pod network namespaces, made and removed
with iproute2 (`ip -batch`: one process for several changes, ~5 ms per pod), plus the one-shot
removal of everything an engine made (its stop, and the watchdog after a `kill -9`).

Host side of engine N (`ranges.EngineNet`): bridge `plb<N>` with the gateway address of the pod
/24, a route of the Service /24 to the bridge (so a ClusterIP is never sent anywhere else: with
no matching nftables rule it is answered by the reject of `proxy.kernel.nft`), and two sysctls of
that bridge only: `route_localnet=1` (NodePort traffic from 127.0.0.1 may leave through it after
SNAT, and its replies come back; kube-proxy's iptables mode sets it for all interfaces) and
`forwarding=1` (a pod's connection to a ClusterIP is routed back into the bridge). Both go with
the bridge.

Pod side: namespace `probelab-<N>-<last octet>`, a veth whose host end joins the bridge and whose
other end is `eth0` inside, the pod's address on it, loopback up, default route via the bridge.
Deleting the namespace deletes the veth pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from pathlib import Path

from probelab.engine.network.ranges import EngineNet

NETNS_DIR = Path("/run/netns")  # where `ip netns add` mounts the namespaces


class NetworkError(Exception):
    """An iproute2 or sysctl change failed; the message says which."""


def ip_binary() -> str | None:
    return shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip") if Path(p).exists()), None)


def _run(args: list[str], stdin: str = "") -> None:
    ip = ip_binary()
    if ip is None:
        raise NetworkError("the `ip` command (iproute2) is not installed")
    done = subprocess.run([ip, *args], input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")


def _sysctl(bridge: str, name: str, value: str) -> None:
    path = Path(f"/proc/sys/net/ipv4/conf/{bridge}/{name}")
    try:
        path.write_text(value)
    except OSError as exc:
        raise NetworkError(f"cannot set {path} to {value}: {exc.strerror or exc}") from exc


def bridge_commands(net: EngineNet) -> str:
    """The `ip -batch` text that makes engine N's bridge and its Service route."""
    br = net.bridge
    return "\n".join([
        f"link add {br} type bridge",
        f"addr add {net.gateway}/{net.pod_cidr.prefixlen} dev {br}",
        f"link set {br} up",
        f"route add {net.service_cidr} dev {br} src {net.gateway}",
    ]) + "\n"


def setup_bridge(net: EngineNet) -> None:
    """Make the bridge, route and sysctls (a leftover bridge of the same name goes first)."""
    with contextlib.suppress(NetworkError):
        _run(["link", "del", net.bridge])
    _run(["-batch", "-"], bridge_commands(net))
    _sysctl(net.bridge, "route_localnet", "1")
    _sysctl(net.bridge, "forwarding", "1")


def pod_host_commands(net: EngineNet, number: int) -> str:
    ns, veth = net.netns(number), net.host_veth(number)
    return "\n".join([
        f"netns add {ns}",
        f"link add {veth} type veth peer name eth0 netns {ns}",
        f"link set {veth} master {net.bridge} up",
        # A pod reaching its own Service may be sent back to itself; where br_netfilter runs
        # the IP hooks on bridged frames, that frame leaves by the port it came in on, which a
        # bridge allows only in hairpin mode (kubenet's hairpin-veth does the same).
        f"link set {veth} type bridge_slave hairpin on",
    ]) + "\n"


def pod_inside_commands(net: EngineNet, address: str) -> str:
    return "\n".join([
        "link set lo up",
        f"addr add {address}/{net.pod_cidr.prefixlen} dev eth0",
        "link set eth0 up",
        f"route add default via {net.gateway}",
    ]) + "\n"


async def _run_async(args: list[str], stdin: str = "") -> None:
    ip = ip_binary()
    if ip is None:
        raise NetworkError("the `ip` command (iproute2) is not installed")
    proc = await asyncio.create_subprocess_exec(
        ip, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    _out, err = await proc.communicate(stdin.encode())
    if proc.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {err.decode().strip() or proc.returncode}")


async def add_pod(net: EngineNet, address: str) -> str:
    """Make the pod's namespace and veth with `address`; returns the namespace's name."""
    number = int(address.rsplit(".", 1)[1])
    ns = net.netns(number)
    stale = _leftover_commands(net, number)
    if stale:  # what a pod that had this address left behind
        with contextlib.suppress(NetworkError):
            await _run_async(["-force", "-batch", "-"], stale)
    try:
        await _run_async(["-batch", "-"], pod_host_commands(net, number))
        await _run_async(["-n", ns, "-batch", "-"], pod_inside_commands(net, address))
    except NetworkError:
        with contextlib.suppress(NetworkError):
            await _run_async(["netns", "del", ns])
        raise
    return ns


async def remove_pod(net: EngineNet, address: str) -> None:
    """Delete the pod's namespace (and so its veth pair); nothing if it is gone already."""
    stale = _leftover_commands(net, int(address.rsplit(".", 1)[1]))
    if stale:
        await _run_async(["-force", "-batch", "-"], stale)


def _leftover_commands(net: EngineNet, number: int) -> str:
    """Delete a pod's host veth, then its namespace, where they exist.

    `ip netns del` only drops the namespace's last reference: the kernel destroys the
    namespace and the veth pair inside it later, from a work queue (net/core/net_namespace.c,
    cleanup_net), so a veth of the same name made right after can fail with "File exists".
    Deleting the host end first removes both ends of the pair before the command returns.
    """
    lines = []
    if Path(f"/sys/class/net/{net.host_veth(number)}").exists():
        lines.append(f"link del {net.host_veth(number)}")
    if (NETNS_DIR / net.netns(number)).exists():
        lines.append(f"netns del {net.netns(number)}")
    return "".join(line + "\n" for line in lines)


def netns_path(net: EngineNet, address: str) -> Path:
    return NETNS_DIR / net.netns(int(address.rsplit(".", 1)[1]))


def leftover_netns(net: EngineNet) -> list[str]:
    """Engine N's pod namespaces that still exist."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(net.netns_prefix)
                  and p.name[len(net.netns_prefix):].isdigit())


def teardown(net: EngineNet, delete_table: bool = True) -> list[str]:
    """Remove whatever engine N made: its pod namespaces (their veths go with them), its
    bridge (its route and sysctls go with it) and its nftables table. Each step is tried even
    when another failed; returns what could not be removed (empty when all is gone)."""
    problems = []
    batch = "".join(f"netns del {ns}\n" for ns in leftover_netns(net))
    if batch:
        try:
            _run(["-force", "-batch", "-"], batch)
        except NetworkError as exc:
            problems.append(str(exc))
    if Path(f"/sys/class/net/{net.bridge}").exists():
        try:
            _run(["link", "del", net.bridge])
        except NetworkError as exc:
            problems.append(str(exc))
    if delete_table:
        from probelab.engine.network import nftables  # lazy: the watchdog rarely needs it

        try:
            nftables.delete_table(net.table)
        except nftables.NftError as exc:
            problems.append(str(exc))
    return problems
