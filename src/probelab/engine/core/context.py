"""What every engine component is given, and the contract each one follows.

`EngineContext` carries the shared store, clock, random source and typed config; a `Component`
(API server, controllers, kubelet, proxy) is started and stopped by `probelab.engine.engine`
in a fixed order, and stop() must be safe to call twice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from probelab.engine.core.client import Client
from probelab.engine.core.clock import Clock, SystemClock
from probelab.engine.core.events import EventRecorder
from probelab.engine.core.store import Store
from probelab.engine.core.streaming import StreamingHub


@dataclass(frozen=True)
class EngineConfig:
    """Settings of one engine run (units in the names)."""

    host: str = "127.0.0.1"
    port: int = 0  # API port; 0 picks a free one
    endpoint_delay_s: float = 0.1  # watch -> sync latency of the proxy (proxy.syncrunner)
    min_sync_period_s: float = 1.0  # kube-proxy's minSyncPeriod: at most one sync per period
    profile: str = "kube-proxy"  # what serves NodePorts: kube-proxy, ingress-nginx, cloud-lb
    lb_deregistration_lag_s: float = 15.0  # cloud-lb: removal -> no new connections
    images: tuple[tuple[str, str], ...] = ()  # extra IMAGE=COMMAND mappings
    seed: int | None = None
    pod_cidr_prefix: str = "127.244"  # pods get 127.244.x.y
    service_cidr_prefix: str = "127.96"  # ClusterIPs in 127.96.0.0/12
    manifests_dir: Path | None = None  # where a probelab.yaml image table may live
    token: str = ""  # bearer token; generated when empty
    state_dir: Path | None = None  # pod logs and pid files; a temp dir when None
    max_pods: int = 110  # the kubelet's --max-pods: pods the node runs at once
    nodes: int = 1  # logical nodes the kubelet registers and serves (probelab, probelab-2...)
    # "userspace" (loopback pod IPs, a proxy in this process), "kernel" (a network namespace per
    # pod, nftables DNAT) or "auto" (kernel where it can run); engine.py resolves auto and
    # kernel to a claimed engine network `net_index` (engine/network) before components start.
    dataplane: str = "userspace"
    net_index: int = -1
    # where the userspace plane splices bytes: "child" (its own process on uvloop,
    # proxy.splicer) or "engine" (this process's loop, as before; kept for the bench)
    proxy_process: str = "child"


class Stopping:
    """Whether the engine has begun to stop. Set at the first instant of a stop (in the stop
    signal's handler, before any component is stopped): from then on the kubelet starts no
    container and admits no pod, although stopping the components in order takes a while."""

    def __init__(self) -> None:
        self._begun = False

    def begin(self) -> None:
        self._begun = True

    def __bool__(self) -> bool:
        return self._begun


@dataclass
class EngineContext:
    """`store` is every component's read view (its informer cache); `client` is how it
    writes, through the API server's rules (`core.client`). Built by `engine.build_context`."""

    store: Store
    config: EngineConfig
    client: Client
    clock: Clock = field(default_factory=SystemClock)
    rng: random.Random = field(default_factory=random.Random)
    stopping: Stopping = field(default_factory=Stopping)
    streaming: StreamingHub = field(default_factory=StreamingHub)  # kubelet's exec/attach/dial

    def recorder(self, component: str) -> EventRecorder:
        return EventRecorder(self.client, self.clock, component)


class Component(Protocol):
    name: str

    async def start(self, ctx: EngineContext) -> None:
        """Begin work (spawn named tasks); return once ready."""
        ...

    async def stop(self) -> None:
        """Stop all work and release every resource; safe to call twice."""
        ...
