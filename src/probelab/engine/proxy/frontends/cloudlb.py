"""The cloud-lb profile: a load balancer with IP targets in front of the NodePort listeners.

It watches the EndpointSlices itself (`view.LaggingView`, the watch latency, no sync rate
limit), registers usable endpoints at once, and keeps opening new connections to an endpoint
that left for `lag_s` (`deregistration`, pure) before it stops; then it splices bytes like
kube-proxy does (`proxy.dataplane`: a refused pod resets the client).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from probelab.engine.proxy.dataplane import DataPlane, Route
from probelab.engine.proxy.frontends.deregistration import (
    Key,
    Target,
    next_expiry,
    routable,
    update_targets,
)
from probelab.engine.proxy.frontends.view import LaggingView, ServiceKey
from probelab.engine.proxy.rules import Listen
from probelab.engine.proxy.syncrunner import SyncTiming


@dataclass
class _Port:
    service: ServiceKey
    spec: Listen
    route: Route
    targets: dict[Key, Target] = field(default_factory=dict)


class CloudLb:
    """Frontend for NodePort listeners; `listen` opens one, `forget` drops it, `close` ends."""

    def __init__(self, plane: DataPlane, latency_s: float, lag_s: float) -> None:
        self._plane = plane
        self._loop = asyncio.get_running_loop()
        self.lag_s = lag_s
        self.view = LaggingView(latency_s, SyncTiming(0.0), self._synced)
        self._ports: dict[tuple[str, int], _Port] = {}
        self._timer: asyncio.TimerHandle | None = None

    async def listen(self, service: ServiceKey, spec: Listen, name: str) -> asyncio.Server:
        port = _Port(service, spec, Route(f"cloud-lb {name}"))
        self._update(port, self._loop.time())
        server = await self._plane.listen(spec.host, spec.port, port.route)
        self._ports[(spec.host, spec.port)] = port
        return server

    def forget(self, host: str, port: int) -> None:
        self._ports.pop((host, port), None)

    def routes_to(self, host: str, port: int) -> tuple[str, ...]:
        """Addresses new connections on that listener may go to now (tests, logs)."""
        found = self._ports.get((host, port))
        return tuple(e.address for e in found.route.usable) if found else ()

    async def close(self) -> None:
        self.view.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _update(self, port: _Port, now: float) -> None:
        usable = self.view.usable(port.service, port.spec.port_name, port.spec.single)
        port.targets = update_targets(port.targets, usable, now, self.lag_s)
        port.route.usable = routable(port.targets)

    def _synced(self, touched: set[ServiceKey]) -> None:
        now = self._loop.time()
        for port in self._ports.values():
            if port.service in touched:
                self._update(port, now)
        self._arm()

    def _expire(self) -> None:
        self._timer = None
        now = self._loop.time() + 0.001  # timers may fire a hair early
        for port in self._ports.values():
            self._update(port, now)
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        due = [t for t in (next_expiry(p.targets, self.lag_s) for p in self._ports.values())
               if t is not None]
        self._timer = self._loop.call_at(min(due), self._expire) if due else None
