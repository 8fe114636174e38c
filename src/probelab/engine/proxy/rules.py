"""Pure rules of the service proxy: which endpoints a Service port routes to, and where it listens.

`proxy.component` feeds these functions the Services and EndpointSlices
it has applied and hands the result to `proxy.dataplane`, which only picks among
the usable endpoints. Nothing here does I/O, reads a clock or keeps state.

Sources: `pkg/proxy/endpointslicecache.go` (how kube-proxy reads EndpointSlice conditions and
ports), `pkg/proxy/topology.go` (ready first, else serving-and-terminating:
ProxyTerminatingEndpoints, GA in 1.28), `pkg/proxy/iptables/proxier.go` (random choice per new
connection via `statistic` rules; no endpoint → reject). docs/cluster.md says what this means
for traffic.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from probelab.k8s.annotations import (
    READY_ENDPOINTS,
    SERVING_TERMINATING_USED,
    TERMINATING_ENDPOINTS,
)

Obj = Mapping[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # EndpointSlice → its Service


class Mode(Enum):
    READY = "ready"  # routing to ready endpoints (the normal case)
    TERMINATING = "serving-terminating"  # none ready: ProxyTerminatingEndpoints fallback
    REJECT = "reject"  # nothing usable: new connections are refused


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One backend of one Service port, with its EndpointSlice conditions."""

    address: str
    port: int
    ready: bool
    serving: bool
    terminating: bool
    pod: str = ""  # targetRef name, for messages and tests


@dataclass(frozen=True, slots=True)
class Listen:
    """One address the proxy must listen on for a Service port."""

    host: str
    port: int
    port_name: str  # the Service port's name ("" when unnamed)
    single: bool  # the Service has only this port (an unnamed slice port then matches)
    node_port: bool  # True for 127.0.0.1:nodePort, False for clusterIP:port


@dataclass(frozen=True, slots=True)
class Summary:
    """What an applied endpoints view means for one Service (for the EndpointsApplied event)."""

    ready: int  # ready endpoints (addresses)
    terminating: int  # terminating endpoints, serving or not
    terminating_used: int  # serving-terminating endpoints routed to because none is ready
    mode: Mode

    def annotations(self) -> dict[str, str]:
        """The same numbers as data, for readers that must not parse the message."""
        return {READY_ENDPOINTS: str(self.ready), TERMINATING_ENDPOINTS: str(self.terminating),
                SERVING_TERMINATING_USED: str(self.terminating_used)}

    def message(self) -> str:
        return (
            f"proxy now routes to {self.ready} ready endpoints ({self.terminating} terminating, "
            f"{self.terminating_used} serving-terminating used)"
        )


def _condition(conditions: Obj, name: str, default: bool) -> bool:
    value = conditions.get(name)
    return default if value is None else bool(value)


def endpoint_conditions(endpoint: Obj) -> tuple[bool, bool, bool]:
    """(ready, serving, terminating) of one EndpointSlice endpoint.

    A missing `ready` or `serving` means unknown and is read as true, a missing `terminating`
    as false, as kube-proxy does (`pkg/proxy/endpointslicecache.go` addEndpoints).
    """
    conditions = endpoint.get("conditions") or {}
    ready = _condition(conditions, "ready", True)
    serving = _condition(conditions, "serving", ready)
    terminating = _condition(conditions, "terminating", False)
    return ready, serving, terminating


def _slice_port(slice_: Obj, port_name: str, single: bool) -> int | None:
    """The slice's port number for the Service port `port_name` (TCP only)."""
    ports = [p for p in slice_.get("ports") or () if (p.get("protocol") or "TCP") == "TCP"]
    for p in ports:
        if (p.get("name") or "") == port_name and p.get("port"):
            return int(p["port"])
    if single and len(ports) == 1 and ports[0].get("port"):
        return int(ports[0]["port"])
    return None


def endpoints_for_port(slices: Iterable[Obj], port_name: str, single: bool) -> tuple[Endpoint, ...]:
    """Every endpoint of a Service port, sorted by (address, port), duplicates dropped.

    The port is resolved by name, as the endpoints controller names each slice port after the
    Service port; a Service with one port also accepts a slice with a single port of another
    name. Only IPv4 slices count, and only the first address of an endpoint (kube-proxy does
    the same).
    """
    found: dict[tuple[str, int], Endpoint] = {}
    ordered = sorted(slices, key=lambda s: (s.get("metadata") or {}).get("name") or "")
    for slice_ in ordered:
        if (slice_.get("addressType") or "IPv4") != "IPv4":
            continue
        port = _slice_port(slice_, port_name, single)
        if port is None:
            continue
        for ep in slice_.get("endpoints") or ():
            addresses = ep.get("addresses") or ()
            if not addresses:
                continue
            ready, serving, terminating = endpoint_conditions(ep)
            pod = (ep.get("targetRef") or {}).get("name") or ""
            key = (addresses[0], port)
            found.setdefault(key, Endpoint(key[0], port, ready, serving, terminating, pod))
    return tuple(found[k] for k in sorted(found))


def usable_endpoints(endpoints: Sequence[Endpoint]) -> tuple[Endpoint, ...]:
    """The endpoints new connections may go to: the ready ones; if none is ready, the serving
    and terminating ones (ProxyTerminatingEndpoints, `pkg/proxy/topology.go`); else none, and
    the proxy refuses the connection."""
    ready = tuple(e for e in endpoints if e.ready)
    if ready:
        return ready
    return tuple(e for e in endpoints if e.serving and e.terminating)


def pick_endpoint(usable: Sequence[Endpoint], rng: random.Random) -> Endpoint | None:
    """A uniformly random usable endpoint (iptables `statistic --mode random`), or None."""
    if not usable:
        return None
    return usable[rng.randrange(len(usable))] if len(usable) > 1 else usable[0]


def endpoints_by_address(slices: Iterable[Obj]) -> tuple[Endpoint, ...]:
    """Every endpoint of a Service by address whatever its port (port 0), sorted: what the
    EndpointsApplied message counts and what tells whether routing changed."""
    found: dict[str, Endpoint] = {}
    for slice_ in sorted(slices, key=lambda s: (s.get("metadata") or {}).get("name") or ""):
        for ep in slice_.get("endpoints") or ():
            addresses = ep.get("addresses") or ()
            if addresses and addresses[0] not in found:
                pod = (ep.get("targetRef") or {}).get("name") or ""
                found[addresses[0]] = Endpoint(addresses[0], 0, *endpoint_conditions(ep), pod)
    return tuple(found[a] for a in sorted(found))


def summarize(endpoints: Sequence[Endpoint]) -> Summary:
    """Counts for the EndpointsApplied message (pass `endpoints_by_address`)."""
    ready = sum(1 for e in endpoints if e.ready)
    terminating = sum(1 for e in endpoints if e.terminating)
    fallback = 0 if ready else sum(1 for e in endpoints if e.serving and e.terminating)
    mode = Mode.READY if ready else Mode.TERMINATING if fallback else Mode.REJECT
    return Summary(ready, terminating, fallback, mode)


def listens_for(service: Obj, node_host: str = "127.0.0.1") -> tuple[Listen, ...]:
    """Where the proxy listens for a Service: clusterIP:port for every TCP port (unless
    headless), plus node_host:nodePort for NodePort and LoadBalancer Services. ExternalName
    Services get nothing (`pkg/proxy/servicechangetracker.go` skips them)."""
    spec = service.get("spec") or {}
    kind = spec.get("type") or "ClusterIP"
    if kind == "ExternalName":
        return ()
    ports = [p for p in spec.get("ports") or () if (p.get("protocol") or "TCP") == "TCP"]
    single = len(spec.get("ports") or ()) == 1
    cluster_ip = spec.get("clusterIP") or ""
    out: list[Listen] = []
    for p in ports:
        name = p.get("name") or ""
        if cluster_ip and cluster_ip != "None" and p.get("port"):
            out.append(Listen(cluster_ip, int(p["port"]), name, single, node_port=False))
        if kind in ("NodePort", "LoadBalancer") and p.get("nodePort"):
            out.append(Listen(node_host, int(p["nodePort"]), name, single, node_port=True))
    return tuple(out)
