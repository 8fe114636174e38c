"""The engine's service proxy (kube-proxy): one listener per Service port, routing by its own
lagging view of the EndpointSlices.

Neighbours: the store (Services from the API registry, EndpointSlices from
`controllers.endpoints`), `proxy.rules` (pure: where to listen, which endpoints are usable),
`proxy.dataplane` (the listeners and the byte splice, run in a child process on uvloop by
`proxy.childplane` and `proxy.splicer`: only the bytes move there, every decision, Event and the
timeline stay here), its event recorder.

Services are applied as soon as they are seen: listeners open on `clusterIP:port` and, for
NodePort/LoadBalancer Services, on 127.0.0.1:nodePort, and close when the Service goes.
EndpointSlice changes travel as in kube-proxy (`proxy.syncrunner`, the pure timing rules): each
reaches the sync runner `config.endpoint_delay_s` after the proxy's watch saw it (the watch →
sync latency), and a sync then runs at once if none ran within the last
`config.min_sync_period_s`, else at the end of that period, applying every change that arrived
by then, in the order seen (docs/architecture.md, the request path). Each sync that changes what
a Service routes to is recorded as an engine-only Event `EndpointsApplied` on the Service
(eventTime has microseconds, for the demo's propagation plot) and in `timeline`; `syncs` counts
the syncs. A port that cannot be bound becomes a Warning event `FailedListen` and a log line;
everything else keeps working.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass

from probelab.engine.core.context import EngineContext
from probelab.engine.core.events import EventKind
from probelab.engine.core.store import EventType, Obj, Watcher, WatchEvent, key_of
from probelab.engine.proxy import planes
from probelab.engine.proxy.childplane import ChildPlane
from probelab.engine.proxy.dataplane import DataPlane, Route, Stats
from probelab.engine.proxy.frontends.select import Frontend, frontend_for
from probelab.engine.proxy.rules import (
    SERVICE_NAME_LABEL,
    Endpoint,
    Listen,
    Summary,
    endpoints_by_address,
    endpoints_for_port,
    listens_for,
    summarize,
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

log = logging.getLogger("probelab.engine.proxy.component")

NODE_HOST = "127.0.0.1"  # NodePorts listen on loopback only
COMPONENT = "probelab-proxy"  # Event source
ServiceKey = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class Applied:
    """One endpoints change the proxy applied for a Service (the in-memory timeline)."""

    at_s: float  # clock.now() when applied
    namespace: str
    service: str
    summary: Summary
    usable: tuple[str, ...]  # addresses new connections may now go to, sorted


@dataclass
class _Listener:
    service: ServiceKey
    spec: Listen
    server: asyncio.Server  # or the kernel plane's rule: close() and wait_closed() alike
    route: Route


class ServiceProxy:
    """Engine component "proxy"; `start(ctx)` returns once existing Services listen."""

    name = "proxy"
    # kube-proxy tries again to open a port it could not bind on its next sync (its periodic
    # resync is 30 s, a minimum of 1 s between syncs); here a failed port is tried each period.
    listen_retry_s = 2.0

    def __init__(self) -> None:
        self._retrying: asyncio.Task[None] | None = None
        self._ctx: EngineContext | None = None
        self._plane: DataPlane | None = None
        self._front_plane: DataPlane | None = None  # a frontend's listeners (cloud-lb)
        self._delay_s = 1.0
        self._listeners: dict[tuple[str, int], _Listener] = {}
        self._failed: set[tuple[ServiceKey, tuple[str, int]]] = set()  # warned, not bound
        self._services: dict[ServiceKey, Obj] = {}
        self._slices: dict[ServiceKey, dict[str, Obj]] = {}  # the APPLIED view
        self._slice_owner: dict[tuple[str, str], ServiceKey] = {}
        self._routed: dict[ServiceKey, tuple[Endpoint, ...]] = {}  # last applied, per Service
        self._timing = SyncTiming()
        self._runner: RunnerState | None = None  # the sync runner's bucket, once started
        self._pending: list[Change[WatchEvent]] = []  # seen, not yet applied, in order
        self._timer: asyncio.TimerHandle | None = None
        self.syncs = 0  # data-plane syncs that applied EndpointSlice changes
        self.frontend: Frontend | None = None  # --profile other than kube-proxy: NodePorts
        self._watchers: list[Watcher] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False
        self.timeline: deque[Applied] = deque(maxlen=10_000)

    # ---- lifecycle ---------------------------------------------------------------------
    async def start(self, ctx: EngineContext) -> None:
        self._ctx = ctx
        self._delay_s = max(0.0, float(ctx.config.endpoint_delay_s))
        self._timing = SyncTiming(max(0.0, float(ctx.config.min_sync_period_s)))
        self._runner = RunnerState.idle(self._timing, asyncio.get_running_loop().time())
        self._plane = planes.build(ctx)  # userspace splice (child process) or kernel nftables
        try:
            if isinstance(self._plane, ChildPlane):
                await self._plane.ready()
            self._front_plane = planes.for_frontend(ctx, self._plane)
            self.frontend = frontend_for(ctx.config.profile, self._front_plane, self._delay_s,
                                         float(ctx.config.lb_deregistration_lag_s))
        except BaseException:  # an unknown profile, a child that did not start: none left
            if isinstance(self._plane, ChildPlane):
                await self._plane.aclose()
            self._plane = None
            raise
        store = ctx.store
        slices, slices_rv = store.list("endpointslices")
        if self.frontend is not None:
            self.frontend.view.load(slices)
        for slice_ in slices:  # the state at start is applied at once, as after a full sync
            self._apply_slice(EventType.ADDED, slice_)
        services, services_rv = store.list("services")
        for svc in services:
            self._services[key_of(svc)] = svc
            await self._sync_service(key_of(svc))
        svc_watch = store.watch("services", since=services_rv)
        slice_watch = store.watch("endpointslices", since=slices_rv)
        self._watchers = [svc_watch, slice_watch]
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._watch_services(svc_watch), name="proxy-watch-services"),
            loop.create_task(self._watch_slices(slice_watch), name="proxy-watch-endpointslices"),
            loop.create_task(self._retry_failed(), name="proxy-retry-listen"),
        ]
        log.info("proxy started: %d listeners, endpoint delay %.2fs, min sync period %.2fs",
                 len(self._listeners), self._delay_s, self._timing.min_period_s)

    async def stop(self) -> None:
        """Close listeners, reset every connection, stop watching; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        for watcher in self._watchers:
            watcher.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        listeners = list(self._listeners.values())
        self._listeners.clear()
        for listener in listeners:
            listener.server.close()
        if self.frontend is not None:
            await self.frontend.close()
        aborted = 0
        if self._front_plane is not None and self._front_plane is not self._plane:
            aborted += self._front_plane.abort_all()
        if isinstance(self._plane, ChildPlane):
            aborted += await self._plane.aclose()
        elif self._plane is not None:
            aborted += self._plane.abort_all()
        for listener in listeners:
            await listener.server.wait_closed()
        log.info("proxy stopped: closed %d listeners, reset %d connections",
                 len(listeners), aborted)

    # ---- what tests and the bench read ---------------------------------------------------
    @property
    def stats(self) -> Stats:
        return self._plane.stats if self._plane is not None else Stats()

    def listening(self) -> list[tuple[str, int]]:
        """Every (host, port) the proxy listens on now."""
        return sorted(self._listeners)

    def usable(self, namespace: str, service: str, port_name: str = "") -> tuple[Endpoint, ...]:
        """The endpoints new connections of that Service port may go to now."""
        for listener in self._listeners.values():
            if listener.service == (namespace, service) and listener.spec.port_name == port_name:
                return listener.route.usable
        return ()

    # ---- Services: applied at once ---------------------------------------------------------
    async def _watch_services(self, watcher: Watcher) -> None:
        async for event in watcher:
            if event.type is EventType.BOOKMARK:
                continue
            key = key_of(event.obj)
            if event.type is EventType.DELETED:
                self._services.pop(key, None)
            else:
                self._services[key] = event.obj
            try:
                await self._sync_service(key)
            except Exception:  # one bad Service must not stop the proxy
                log.exception("proxy: syncing service %s/%s failed", *key)

    async def _sync_service(self, key: ServiceKey) -> None:
        """Make the listeners of one Service match its spec (or close them once it is gone)."""
        svc = self._services.get(key)
        wanted = {(s.host, s.port): s for s in listens_for(svc, NODE_HOST)} if svc else {}
        for addr, listener in list(self._listeners.items()):
            if listener.service == key and wanted.get(addr) != listener.spec:
                del self._listeners[addr]
                listener.server.close()  # established connections stay (conntrack)
                if self.frontend is not None:
                    self.frontend.forget(*addr)
        self._failed = {f for f in self._failed if f[0] != key or f[1] in wanted}
        for addr, spec in wanted.items():
            if addr in self._listeners:
                other = self._listeners[addr].service
                if other != key:
                    self._warn_listen(key, spec, f"already used by service {other[0]}/{other[1]}")
                continue
            route = Route(f"{key[0]}/{key[1]}:{spec.port_name or spec.port}")
            try:
                if spec.node_port and self.frontend is not None:  # what sits in front
                    server = await self.frontend.listen(key, spec, route.name)
                else:
                    server = await self._plane.listen(spec.host, spec.port, route)
            except OSError as exc:
                self._warn_listen(key, spec, str(exc))
                continue
            if self._stopped or self._services.get(key) is not svc:  # changed meanwhile
                server.close()
                if spec.node_port and self.frontend is not None:
                    self.frontend.forget(*addr)
                continue
            self._failed.discard((key, addr))
            self._listeners[addr] = _Listener(key, spec, server, route)
            log.debug("proxy: %s listens on %s:%d", route.name, spec.host, spec.port)
        if svc is None:
            self._routed.pop(key, None)
        else:
            self._refresh(key)

    async def _retry_failed(self) -> None:
        """Try again, every `listen_retry_s`, the ports that could not be bound (taken by
        another process, which may free them)."""
        while not self._stopped:
            await asyncio.sleep(self.listen_retry_s)
            for key in sorted({key for key, _addr in self._failed}):
                try:
                    await self._sync_service(key)
                except Exception:
                    log.exception("proxy: retrying the listeners of %s/%s failed", *key)

    def _warn_listen(self, key: ServiceKey, spec: Listen, why: str) -> None:
        if (key, (spec.host, spec.port)) in self._failed:
            return  # said once is enough; retried every listen_retry_s
        self._failed.add((key, (spec.host, spec.port)))
        svc = self._services.get(key)
        what = "nodePort" if spec.node_port else "clusterIP port"
        message = (f"proxy cannot listen on {spec.host}:{spec.port} ({what} of port "
                   f"{_service_port(svc, spec)}): {why}; trying again every "
                   f"{self.listen_retry_s:g} s")
        log.warning("service %s/%s: %s", key[0], key[1], message)
        if svc is not None:
            self._ctx.recorder(COMPONENT).record(svc, "FailedListen", message,
                                                 kind=EventKind.WARNING)

    # ---- EndpointSlices: after the latency, by the sync runner -----------------------------
    async def _watch_slices(self, watcher: Watcher) -> None:
        loop = asyncio.get_running_loop()
        async for event in watcher:
            if event.type is EventType.BOOKMARK:
                continue
            self._pending.append(change(event, loop.time(), self._delay_s))
            if self.frontend is not None:  # it watches the slices itself, with its own lag
                self.frontend.view.observe(event.type is EventType.DELETED, event.obj)
            if self._timer is None:
                self._schedule()

    def _schedule(self) -> None:
        """Set the timer to the runner's next sync (none when nothing is pending)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = next_sync_at(self._timing, self._runner, self._pending)
        if due is not None and not self._stopped:
            self._timer = asyncio.get_running_loop().call_at(due, self._sync)

    def _sync(self) -> None:
        """One sync: apply every change that reached the runner, then refresh the routes of the
        Services they touch."""
        self._timer = None
        now = asyncio.get_running_loop().time()
        applied, rest = arrived(self._pending, now + 0.001)  # timers may fire a hair early
        self._pending = list(rest)
        if applied:
            self._runner = after_sync(self._timing, self._runner, now)
            self.syncs += 1
        touched: set[ServiceKey] = set()
        for item in applied:
            touched |= self._apply_slice(item.item.type, item.item.obj)
        for key in sorted(touched):
            try:
                self._refresh(key)
            except Exception:
                log.exception("proxy: applying endpoints of %s/%s failed", *key)
        self._schedule()

    def _apply_slice(self, kind: EventType, slice_: Obj) -> set[ServiceKey]:
        """Update the applied view with one slice change; returns the Services it touches."""
        ns, name = key_of(slice_)
        touched = set()
        old = self._slice_owner.pop((ns, name), None)
        if old is not None:
            self._slices.get(old, {}).pop(name, None)
            touched.add(old)
        labels = (slice_.get("metadata") or {}).get("labels") or {}
        service = labels.get(SERVICE_NAME_LABEL)
        if kind is not EventType.DELETED and service:
            new = (ns, service)
            self._slices.setdefault(new, {})[name] = slice_
            self._slice_owner[(ns, name)] = new
            touched.add(new)
        return touched

    def _refresh(self, key: ServiceKey) -> None:
        """Give the Service's listeners their usable endpoints from the applied view, and record
        the change if what it routes to differs from last time."""
        slices = list(self._slices.get(key, {}).values())
        for listener in self._listeners.values():
            if listener.service == key:
                spec = listener.spec
                endpoints = endpoints_for_port(slices, spec.port_name, spec.single)
                listener.route.usable = usable_endpoints(endpoints)
        self._plane.sync()
        everything = endpoints_by_address(slices)
        if everything == self._routed.get(key, ()):
            return
        self._routed[key] = everything
        summary = summarize(everything)
        usable = tuple(e.address for e in usable_endpoints(everything))
        self.timeline.append(Applied(self._ctx.clock.now(), key[0], key[1], summary, usable))
        svc = self._services.get(key)
        if svc is not None:
            self._ctx.recorder(COMPONENT).record(svc, "EndpointsApplied", summary.message(),
                                                 annotations=summary.annotations())
        log.debug("proxy: %s/%s: %s", key[0], key[1], summary.message())


def _service_port(svc: Obj | None, spec: Listen) -> str:
    """How the Service names the port a listener serves: its name, else its number (for a
    nodePort listener, the Service port it belongs to, not the nodePort itself)."""
    if spec.port_name:
        return spec.port_name
    if spec.node_port and svc is not None:
        for port in (svc.get("spec") or {}).get("ports") or []:
            if isinstance(port, dict) and port.get("nodePort") == spec.port:
                return str(port.get("port"))
    return str(spec.port)
