"""Pod IP addresses of the local engine: one loopback address per pod, from 127.244.0.0/16.

Linux routes all of 127.0.0.0/8 to the loopback interface, so each pod can listen on its own
address and every pod can use the same containerPort, as in a cluster. Addresses are handed out
round-robin from a cursor (like the Kubernetes IP allocators' next-free scan) and never while
still held: an address is freed only once the pod's processes are gone and the pod object is
deleted (the kubelet's last termination step), so a new pod can never receive traffic meant for
an old one. Owned by `kubelet.Kubelet`; `podworker` takes and frees the addresses.
"""

from __future__ import annotations


class PoolExhausted(Exception):
    """Every address of the pod range is held."""


class PodIPs:
    """Allocator over `PREFIX.0.1` … `PREFIX.255.254` (network and broadcast skipped)."""

    def __init__(self, prefix: str = "127.244", start: int = 0,
                 addresses: list[str] | None = None) -> None:
        """`addresses` replaces the /16 of `prefix` (the kernel data plane's pod /24, whose
        prefix is then its first three octets)."""
        parts = prefix.split(".")
        if addresses is None and (
                len(parts) != 2 or not all(p.isdigit() and 0 <= int(p) <= 255 for p in parts)):
            raise ValueError(f"pod CIDR prefix must look like 127.244, not {prefix!r}")
        self.prefix = prefix
        self._addresses = addresses
        self._size = len(addresses) if addresses else 256 * 256 - 2
        # Engines on one host share the range; each starts its cursor elsewhere (the kubelet
        # passes one derived from its PID) so that two of them rarely hand out the same address.
        self._cursor = start % self._size
        self._held: dict[str, str] = {}  # ip -> owner (pod uid)

    def _address(self, index: int) -> str:
        if self._addresses:
            return self._addresses[index]
        n = index + 1  # skip .0.0
        return f"{self.prefix}.{n // 256}.{n % 256}"

    def allocate(self, owner: str) -> str:
        """A free address for `owner` (the same one again if it already holds one)."""
        for ip, who in self._held.items():
            if who == owner:
                return ip
        for _ in range(self._size):
            ip = self._address(self._cursor)
            self._cursor = (self._cursor + 1) % self._size
            if ip not in self._held:
                self._held[ip] = owner
                return ip
        raise PoolExhausted(f"no free pod IP in {self.prefix}"
                            f"{'.0/24' if self._addresses else '.0.0/16'}")

    def reserve(self, ip: str, owner: str) -> bool:
        """Mark an address found in use (a pod seen with a podIP); False if someone else has it."""
        holder = self._held.get(ip)
        if holder is not None and holder != owner:
            return False
        self._held[ip] = owner
        return True

    def release(self, owner: str) -> None:
        """Free whatever `owner` holds (safe when it holds nothing)."""
        for ip in [ip for ip, who in self._held.items() if who == owner]:
            del self._held[ip]

    def held(self) -> dict[str, str]:
        return dict(self._held)
