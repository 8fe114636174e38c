"""Service address allocation: ClusterIPs from the service range and NodePorts from
30000-32767, as `pkg/registry/core/service/ipallocator` and `portallocator` do.

Random picks (from the engine's seeded `random.Random`) rather than sequential ones, like the
real allocators; a given address or port must be in range and free, else 422 Invalid with the
real message. Called by the registry on Service create and update.
"""

from __future__ import annotations

import copy
import ipaddress
import random
from typing import Any

from probelab.engine.apiserver.status import field_cause, invalid
from probelab.engine.core.store import Obj, Store
from probelab.k8s.resources import BY_PLURAL

NODE_PORT_MIN, NODE_PORT_MAX = 30000, 32767
SERVICE_PREFIX_BITS = 12  # 127.96.0.0/12
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


def service_network(prefix: str) -> ipaddress.IPv4Network:
    """127.96 means 127.96.0.0/12; a CIDR (the kernel data plane's Service /24) is itself."""
    if "/" in prefix:
        return ipaddress.IPv4Network(prefix, strict=False)
    return ipaddress.IPv4Network(f"{prefix}.0.0/{SERVICE_PREFIX_BITS}", strict=False)


CLUSTER_IPS = "allocation/clusterIPs"  # store indexes of the Services, by what they hold
NODE_PORTS = "allocation/nodePorts"


def _cluster_ips(svc: Obj) -> list[str]:
    spec = svc.get("spec") or {}
    return [ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]
            if isinstance(ip, str) and ip and ip != "None"]


def _node_ports_of(svc: Obj) -> list[int]:
    ports = (svc.get("spec") or {}).get("ports") or []
    return [p["nodePort"] for p in ports if isinstance(p, dict) and p.get("nodePort")]


def add_indexes(store: Store) -> None:
    """Let `allocate` find the addresses in use without reading every Service (the real
    allocators keep a bitmap of the range for the same reason)."""
    store.add_index("services", CLUSTER_IPS, _cluster_ips)
    store.add_index("services", NODE_PORTS, _node_ports_of)


class InUse:
    """The values of one allocation index held by Services other than `own`, plus those this
    request has just taken; supports `in`, `add` and `len` like the set it replaces."""

    def __init__(self, store: Store, index: str, own: tuple[str, str]) -> None:
        self.store, self.index, self.own = store, index, own
        self.taken: set[Any] = set()

    def __contains__(self, value: object) -> bool:
        if value in self.taken:
            return True
        try:
            holders = self.store.indexed("services", self.index, value)  # type: ignore[arg-type]
        except TypeError:  # an unhashable value from a malformed body
            return False
        return bool(holders - {self.own})

    def add(self, value: Any) -> None:
        self.taken.add(value)

    def __len__(self) -> int:
        return self.store.index_size("services", self.index) + len(self.taken)


def allocate(store: Store, rng: random.Random, svc: Obj, old: Obj | None, prefix: str) -> Obj:
    """The Service with `spec.clusterIP(s)` and nodePorts filled in (or 422 Invalid)."""
    svc = copy.deepcopy(svc)
    m = svc["metadata"]
    spec = svc.setdefault("spec", {})
    old_spec = (old or {}).get("spec") or {}
    if spec.get("type") == "ExternalName":
        # Only a DNS alias: no virtual IP and no ports on the node
        # (`pkg/registry/core/service/storage` releases them on a switch to ExternalName).
        for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            spec.pop(key, None)
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.pop("nodePort", None)
        return svc
    own = (m.get("namespace") or "", m.get("name") or "")
    used_ips = InUse(store, CLUSTER_IPS, own)
    used_ports = InUse(store, NODE_PORTS, own)
    causes: list[dict[str, str]] = []
    network = service_network(prefix)
    ip = spec.get("clusterIP") or ((spec.get("clusterIPs") or [None])[0])
    if old is not None and old_spec.get("clusterIP"):
        if ip and ip != old_spec["clusterIP"]:
            causes.append(field_cause("spec.clusterIP", f'Invalid value: "{ip}": field is '
                                      "immutable"))
        ip = old_spec["clusterIP"]
    elif ip and ip != "None":
        try:
            in_range = ipaddress.IPv4Address(ip) in network
        except ValueError:
            in_range = False
        if not in_range:
            causes.append(field_cause("spec.clusterIP", f'Invalid value: "{ip}": provided IP '
                                      f"is not in the valid range. The range of valid IPs is "
                                      f"{network}"))
        elif ip in used_ips:
            causes.append(field_cause("spec.clusterIP", f'Invalid value: "{ip}": provided IP '
                                      "is already allocated"))
    elif not ip:
        ip = _random_ip(rng, network, used_ips)
    spec["clusterIP"] = ip
    spec["clusterIPs"] = [ip]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    causes.extend(_node_ports(rng, spec, old_spec, used_ports))
    if causes:
        raise invalid(BY_PLURAL["services"], m.get("name", ""), causes)
    return svc


def _random_ip(rng: random.Random, network: ipaddress.IPv4Network, used: InUse) -> str:
    # .0 is the network, .1 is kept for the `kubernetes` Service, the last is broadcast.
    first, size = int(network.network_address), network.num_addresses
    for _ in range(1000):
        candidate = str(ipaddress.IPv4Address(first + rng.randrange(2, size - 1)))
        if candidate not in used:
            return candidate
    for offset in range(2, size - 1):  # pragma: no cover - a million services
        candidate = str(ipaddress.IPv4Address(first + offset))
        if candidate not in used:
            return candidate
    raise invalid(BY_PLURAL["services"], "", [field_cause(
        "spec.clusterIP", "Internal error: range is full")])  # pragma: no cover


def _node_ports(rng: random.Random, spec: dict[str, Any], old_spec: dict[str, Any],
                taken: InUse) -> list[dict[str, str]]:
    causes = []
    wants_ports = spec.get("type", "ClusterIP") in NODE_PORT_TYPES
    old_by_key = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                  for p in old_spec.get("ports") or [] if isinstance(p, dict)}
    for i, port in enumerate(spec.get("ports") or []):
        if not isinstance(port, dict):
            continue
        given = port.get("nodePort")
        path = f"spec.ports[{i}].nodePort"
        if not wants_ports:
            if given:
                causes.append(field_cause(path, f"Forbidden: may not be used when `type` is "
                                          f"'{spec.get('type', 'ClusterIP')}'",
                                          "FieldValueForbidden"))
            continue
        if not given:
            given = old_by_key.get((port.get("port"), port.get("protocol", "TCP")))
        if not given:
            given = _random_port(rng, taken)
        elif not isinstance(given, int) or isinstance(given, bool):
            causes.append(field_cause(path, f"Invalid value: {given!r}: must be an integer"))
            continue
        elif not NODE_PORT_MIN <= given <= NODE_PORT_MAX:
            causes.append(field_cause(path, f"Invalid value: {given}: provided port is not in "
                                      f"the valid range. The range of valid ports is "
                                      f"{NODE_PORT_MIN}-{NODE_PORT_MAX}"))
            continue
        elif given in taken:
            causes.append(field_cause(path, f"Invalid value: {given}: provided port is already "
                                      "allocated"))
            continue
        port["nodePort"] = given
        taken.add(given)
    return causes


def _random_port(rng: random.Random, taken: InUse) -> int:
    free = NODE_PORT_MAX - NODE_PORT_MIN + 1 - len(taken)
    if free <= 0:
        return 0  # the validation that follows reports the full range
    while True:
        candidate = rng.randint(NODE_PORT_MIN, NODE_PORT_MAX)
        if candidate not in taken:
            return candidate
