"""Pure: the addresses and names of engine number N's network (no I/O).

Every engine of the kernel data plane takes its ranges from 198.18.0.0/15, the block RFC 2544
reserves for benchmarking: it is never routed on the Internet and no private network of the
machine uses it. Engine N gets two /24s, its pods' and its Services', next to each other
(198.18.0.0/24 and 198.18.1.0/24 for N = 0, then 198.18.2.0/24 and 198.18.3.0/24, ...), a
bridge `plb<N>` holding the first address of the pod range, and an nftables table
`probelab-<N>`. Pod network namespaces are `probelab-<N>-<pod number>`. N itself comes from a
claim in a shared folder (`claim.py`), so two engines never share a name or an address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

BLOCK = ipaddress.IPv4Network("198.18.0.0/15")  # RFC 2544
MAX_ENGINES = BLOCK.num_addresses // 512  # two /24s each: 256 engines
NODE_PORT_RANGE = (30000, 32767)  # every engine's NodePorts (the API's allocator range)


@dataclass(frozen=True)
class EngineNet:
    """Engine N's addresses and names."""

    index: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < MAX_ENGINES:
            raise ValueError(f"engine network index must be in 0..{MAX_ENGINES - 1}")

    @property
    def pod_cidr(self) -> ipaddress.IPv4Network:
        base = int(BLOCK.network_address) + 512 * self.index
        return ipaddress.IPv4Network((base, 24))

    @property
    def service_cidr(self) -> ipaddress.IPv4Network:
        base = int(BLOCK.network_address) + 512 * self.index + 256
        return ipaddress.IPv4Network((base, 24))

    @property
    def gateway(self) -> str:
        """The bridge's address: pods' default route, and the source of NodePort traffic
        after SNAT."""
        return str(self.pod_cidr.network_address + 1)

    @property
    def bridge(self) -> str:
        return f"plb{self.index}"

    @property
    def table(self) -> str:
        return f"probelab-{self.index}"

    @property
    def netns_prefix(self) -> str:
        return f"probelab-{self.index}-"

    def netns(self, number: int) -> str:
        return f"{self.netns_prefix}{number}"

    def host_veth(self, number: int) -> str:
        """The host end of pod `number`'s veth (at most 15 characters: IFNAMSIZ)."""
        return f"plb{self.index}v{number}"

    def pod_addresses(self) -> list[str]:
        """Addresses pods may get: the range without network, gateway and broadcast."""
        hosts = list(self.pod_cidr.hosts())
        return [str(ip) for ip in hosts[1:]]
