"""A frontend's own view of the EndpointSlices, as lagging as the frontend really is.

ingress-nginx and a load balancer controller watch EndpointSlices themselves: they do not
wait for kube-proxy, and their own latency and sync rate apply. This view receives every change
the proxy's watch sees (`observe`), hands it to a sync runner of its own (`proxy.syncrunner`:
the latency, then at most one sync per `timing.min_period_s`), and on each sync calls
`on_sync(services touched)`. `usable(...)` answers with `proxy.rules` on the view's slices.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from probelab.engine.proxy.rules import (
    SERVICE_NAME_LABEL,
    Endpoint,
    endpoints_for_port,
    usable_endpoints,
)
from probelab.engine.proxy.syncrunner import (
    Change,
    RunnerState,
    SyncTiming,
    after_sync,
    arrived,
    change,
    next_sync_at,
)

ServiceKey = tuple[str, str]
Obj = Mapping[str, Any]


class LaggingView:
    def __init__(self, latency_s: float, timing: SyncTiming,
                 on_sync: Callable[[set[ServiceKey]], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._latency_s = latency_s
        self._timing = timing
        self._runner = RunnerState.idle(timing, self._loop.time())
        self._pending: list[Change[tuple[bool, Obj]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._slices: dict[ServiceKey, dict[str, Obj]] = {}
        self._owner: dict[tuple[str, str], ServiceKey] = {}
        self._on_sync = on_sync
        self.syncs = 0

    def load(self, slices: list[Obj]) -> None:
        """The state at start, applied at once (a full sync)."""
        for slice_ in slices:
            self._apply(False, slice_)

    def observe(self, deleted: bool, slice_: Obj) -> None:
        """A change the watch saw now; it reaches this view's sync runner after the latency."""
        self._pending.append(change((deleted, slice_), self._loop.time(), self._latency_s))
        if self._timer is None:
            self._schedule()

    def usable(self, key: ServiceKey, port_name: str, single: bool) -> tuple[Endpoint, ...]:
        """May be called from another thread (the ingress serves on a loop of its own): it
        copies the service's slices in one step under the GIL and never mutates them; a sync
        replaces a slice object whole, so a reader sees the old one or the new one."""
        slices = list(self._slices.get(key, {}).values())
        return usable_endpoints(endpoints_for_port(slices, port_name, single))

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending.clear()

    def _schedule(self) -> None:
        due = next_sync_at(self._timing, self._runner, self._pending)
        self._timer = None if due is None else self._loop.call_at(due, self._sync)

    def _sync(self) -> None:
        now = self._loop.time()
        applied, rest = arrived(self._pending, now + 0.001)  # timers may fire a hair early
        self._pending = list(rest)
        touched: set[ServiceKey] = set()
        if applied:
            self._runner = after_sync(self._timing, self._runner, now)
            self.syncs += 1
            for item in applied:
                touched |= self._apply(*item.item)
        self._schedule()
        if touched:
            self._on_sync(touched)

    def _apply(self, deleted: bool, slice_: Obj) -> set[ServiceKey]:
        meta = slice_.get("metadata") or {}
        ns, name = meta.get("namespace") or "", meta.get("name") or ""
        touched = set()
        old = self._owner.pop((ns, name), None)
        if old is not None:
            self._slices.get(old, {}).pop(name, None)
            touched.add(old)
        service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if not deleted and service:
            self._slices.setdefault((ns, service), {})[name] = slice_
            self._owner[(ns, name)] = (ns, service)
            touched.add((ns, service))
        return touched
