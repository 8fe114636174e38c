"""Pure: the nftables ruleset of one engine's Services (text for one `nft -f` transaction).

Written after kube-proxy's nftables proxier (`pkg/proxy/nftables/proxier.go`): a `services`
verdict map from `daddr . dport` to one chain per Service port, which picks an endpoint chain with
`numgen random mod N vmap` (a uniform random choice per new connection, like the userspace
plane's `rules.pick_endpoint`), and one chain per endpoint that DNATs to `podIP:port`. Conntrack
keeps an established connection on its pod whatever later syncs do. A Service port without usable
endpoints is in the `no-endpoints` map, whose verdict is `reject with tcp reset`: the client's
connect fails with ECONNREFUSED at once, as kube-proxy's reject does.

Where this differs from kube-proxy, and why:
- NodePorts are matched on 127.0.0.1 and only the engine's own NodePorts (kube-proxy's nftables
  mode refuses NodePorts on 127.0.0.1; its iptables mode allows them through `route_localnet`,
  which is what this follows: 127.0.0.1:nodePort is what probelab's users and load generator
  connect to). A range match would capture other engines' NodePorts on the same machine.
- NodePort traffic from 127.0.0.1 leaves through the bridge with SNAT to the bridge's address,
  port preserving (`snat to GATEWAY`, not kube-proxy's `masquerade fully-random`: random source
  ports made new `Connection: close` connections hit the pod's TIME_WAIT entries, RFC 7323 PAWS,
  and cut such load to a tenth).
- Loading a nat table turns conntrack on for every connection of the host. The `raw-*` chains
  leave loopback traffic untracked (`notrack`) except connections to 127.0.0.1 in the NodePort
  range (any engine's), so other programs' loopback connections are not tracked.
- kube-proxy's guard against CVE-2020-8558 (`route_localnet` lets other hosts reach 127.0.0.1
  services): packets that arrive on the bridge for 127.0.0.0/8 are dropped unless they belong to a
  connection the host made.

The script deletes and re-adds the whole table in one transaction, so a sync is atomic and
chains of Services that are gone go with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from probelab.engine.network.ranges import BLOCK, NODE_PORT_RANGE, EngineNet

LOCALHOST = "127.0.0.1"


@dataclass(frozen=True)
class Frontend:
    """One address a Service port is reached at, and the endpoints new connections go to."""

    name: str  # "namespace/service:port", a comment in the ruleset
    address: str  # the ClusterIP, or 127.0.0.1 for a NodePort
    port: int
    endpoints: tuple[tuple[str, int], ...]  # usable (podIP, port), in order


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "").replace('"', "'") + '"'


def render(net: EngineNet, frontends: Sequence[Frontend]) -> str:
    """The whole table of the engine, as one script (delete + add: one transaction)."""
    t, br, gw = net.table, _quote(net.bridge), net.gateway
    low, high = NODE_PORT_RANGE
    routed = [f for f in frontends if f.endpoints]
    rejected = [f for f in frontends if not f.endpoints]
    lines = [
        f"add table ip {t}",
        f"delete table ip {t}",
        f"table ip {t} {{",
        f"  comment {_quote(f'probelab engine {net.index}: its Services (removed with it)')}",
        "  chain raw-output {",
        "    type filter hook output priority raw; policy accept;",
        '    oifname != "lo" return',
        f"    ip daddr {LOCALHOST} tcp dport {low}-{high} return",
        "    notrack",
        "  }",
        "  chain raw-prerouting {",
        "    type filter hook prerouting priority raw; policy accept;",
        '    iifname != "lo" return',
        f"    ip daddr {LOCALHOST} tcp dport {low}-{high} return",
        f"    ip saddr {LOCALHOST} tcp sport {low}-{high} return",
        "    notrack",
        "  }",
        "  chain nat-output {",
        # -100 is dstnat, a name nft 1.0 accepts in prerouting only
        "    type nat hook output priority -100; policy accept;",
        "    jump services",
        "  }",
        "  chain nat-prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        f"    iifname {br} jump services",
        "  }",
        "  chain nat-postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        f"    oifname {br} ip saddr 127.0.0.0/8 snat to {gw}",
        f"    oifname {br} ip saddr {net.pod_cidr} ct status dnat snat to {gw}",
        "  }",
        "  chain filter-input {",
        "    type filter hook input priority filter; policy accept;",
        f"    iifname {br} ip daddr 127.0.0.0/8 ct state != {{ established, related }} drop",
        "  }",
        "  chain filter-output {",
        "    type filter hook output priority filter; policy accept;",
        "    jump no-endpoints",
        "  }",
        "  chain filter-forward {",
        "    type filter hook forward priority filter; policy accept;",
        "    jump no-endpoints",
        "  }",
        "  chain reject-no-endpoints {",
        "    reject with tcp reset",
        "  }",
        "  chain no-endpoints {",
    ]
    if rejected:
        entries = ", ".join(f"{f.address} . {f.port} : goto reject-no-endpoints"
                            for f in rejected)
        lines.append(f"    ip daddr . tcp dport vmap {{ {entries} }}")
    lines += ["  }", "  chain services {"]
    if routed:
        entries = ", ".join(f"{f.address} . {f.port} : goto svc-{i}"
                            for i, f in enumerate(routed))
        lines.append(f"    ip daddr . tcp dport vmap {{ {entries} }}")
    lines.append("  }")
    for i, f in enumerate(routed):
        lines += [f"  chain svc-{i} {{", f"    comment {_quote(f.name)}"]
        if len(f.endpoints) == 1:
            lines.append(f"    goto ep-{i}-0")
        else:
            choices = ", ".join(f"{j} : goto ep-{i}-{j}" for j in range(len(f.endpoints)))
            lines.append(f"    numgen random mod {len(f.endpoints)} vmap {{ {choices} }}")
        lines.append("  }")
        for j, (address, port) in enumerate(f.endpoints):
            comment = _quote(f"{f.name} -> {address}:{port}")
            lines += [f"  chain ep-{i}-{j} {{", f"    comment {comment}",
                      f"    meta l4proto tcp dnat to {address}:{port}", "  }"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def engine_block() -> str:
    """The block every engine's ranges come from (for messages)."""
    return str(BLOCK)
