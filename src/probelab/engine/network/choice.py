"""Which data plane an engine runs: `decide` (pure) from what `facts()` finds on this machine.

`kernel` needs CAP_NET_ADMIN (root has it) to make network namespaces, veths, a bridge and an
nftables table, and CAP_SYS_ADMIN to mount the namespaces under /run/netns; `nftables` and
`iproute2` installed; and network namespaces allowed (a container may forbid them). `auto` takes
`kernel` when all of that holds, else `userspace` with the reason; `kernel` asked for where it
cannot run is an error (exit 2 in the CLI).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from probelab.engine.network import iproute, nftables

USERSPACE, KERNEL, AUTO = "userspace", "kernel", "auto"
CHOICES = (KERNEL, USERSPACE, AUTO)
_CAP_SYS_ADMIN, _CAP_NET_ADMIN = 21, 12


@dataclass(frozen=True)
class Facts:
    net_admin: bool  # CAP_NET_ADMIN and CAP_SYS_ADMIN in the effective set
    nft: str | None  # how nftables scripts run, None if not installed
    ip: str | None  # the ip command
    netns: bool  # /proc/self/ns/net exists (network namespaces compiled in)


@dataclass(frozen=True)
class Choice:
    mode: str  # KERNEL or USERSPACE
    reason: str  # one line for the engine's first log line
    error: bool = False  # KERNEL was asked for and cannot run


def decide(requested: str, facts: Facts) -> Choice:
    if requested == USERSPACE:
        return Choice(USERSPACE, "asked for with --dataplane userspace")
    missing = []
    if not facts.net_admin:
        missing.append("this process lacks CAP_NET_ADMIN and CAP_SYS_ADMIN (run it as root, "
                       "or grant both: needed to create network namespaces and load nftables "
                       "rules)")
    if facts.nft is None:
        missing.append("nftables is not installed (Debian package nftables; "
                       "scripts/ensure-nftables installs it)")
    if facts.ip is None:
        missing.append("iproute2's ip command is not installed")
    if not facts.netns:
        missing.append("this kernel has no network namespaces")
    if not missing:
        how = "libnftables in-process" if facts.nft == "libnftables" else f"{facts.nft} -f"
        said = "asked for with --dataplane kernel" if requested == KERNEL else "auto"
        return Choice(KERNEL, f"{said}: network namespaces and nftables ({how}) are available")
    why = "; ".join(missing)
    if requested == KERNEL:
        return Choice(KERNEL, f"--dataplane kernel cannot run here: {why}", error=True)
    return Choice(USERSPACE, f"auto: {why}")


def _effective_caps() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def facts() -> Facts:
    caps = _effective_caps()
    admin = bool(caps >> _CAP_NET_ADMIN & 1) and bool(caps >> _CAP_SYS_ADMIN & 1)
    return Facts(net_admin=admin, nft=nftables.available(),
                 ip=iproute.ip_binary(), netns=os.path.exists("/proc/self/ns/net"))
