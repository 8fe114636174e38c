"""Wiring of the local engine: one store, one context, the components started in order.

Start order: API server, controllers, kubelet, proxy; stop order is the reverse, so pods are
terminated gracefully (preStop, SIGTERM, grace, SIGKILL) while the API is still up.
Components are built without arguments; each one's `start(ctx)` returns once it is ready.
`run_forever()` is the foreground life of `probelab cluster up`: signal handlers only set
events and flags; the first SIGINT/SIGTERM/SIGHUP sets `ctx.stopping` at once (no container
starts from then on, however long the stop of the components ahead of the kubelet takes) and
starts the graceful stop, a second one abandons it (the caller then exits, and pods die by
their parent-death signal and the watchdog).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import random
import secrets
import shutil
import signal
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from probelab.engine.apiserver.client import LocalClient
from probelab.engine.apiserver.registry.generic import Registry
from probelab.engine.apiserver.server import ApiServer
from probelab.engine.controllers.cronjob.controller import CronJobController
from probelab.engine.controllers.daemonset.controller import DaemonSetController
from probelab.engine.controllers.deployment import DeploymentController
from probelab.engine.controllers.disruption import DisruptionController
from probelab.engine.controllers.endpoints import EndpointsController
from probelab.engine.controllers.hpa.controller import HpaController
from probelab.engine.controllers.job.controller import JobController
from probelab.engine.controllers.namespace import NamespaceController
from probelab.engine.controllers.replicaset import ReplicaSetController
from probelab.engine.controllers.statefulset.controller import StatefulSetController
from probelab.engine.controllers.tainteviction import TaintEvictionController
from probelab.engine.core.clock import Clock, SystemClock
from probelab.engine.core.context import Component, EngineConfig, EngineContext
from probelab.engine.core.store import Store
from probelab.engine.kubelet.kubelet import Kubelet
from probelab.engine.network import choice as dataplanes
from probelab.engine.network import claim as netclaim
from probelab.engine.network import iproute
from probelab.engine.proxy.component import ServiceProxy

log = logging.getLogger("probelab.engine")

# The components in start order. Imported directly: a missing or renamed module is an import
# error at once, never an engine that quietly runs without its proxy.
COMPONENTS: tuple[Callable[[], Component], ...] = (
    ApiServer,
    NamespaceController,
    ReplicaSetController,
    DeploymentController,
    EndpointsController,
    DisruptionController,
    TaintEvictionController,
    StatefulSetController,
    DaemonSetController,
    JobController,
    CronJobController,
    HpaController,
    Kubelet,
    ServiceProxy,
)


def build_context(config: EngineConfig, *, store: Store | None = None,
                  clock: Clock | None = None, rng: random.Random | None = None) -> EngineContext:
    """What every component is given: the store, and a client that writes through the API
    server's registry in-process (so controllers and the kubelet obey the API's rules)."""
    clock = clock or SystemClock()
    store = store or Store(clock)
    rng = rng or random.Random(config.seed)
    registry = Registry(store, rng, config.service_cidr_prefix)
    return EngineContext(store=store, config=config, client=LocalClient(registry), clock=clock,
                         rng=rng)


class DataplaneError(Exception):
    """`--dataplane kernel` cannot run on this machine (the message says why)."""


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Outcome(enum.Enum):
    GRACEFUL = "graceful"  # every component stopped, pods terminated as Kubernetes does
    FORCED = "forced"  # a second signal cut the stop short; the caller must exit at once


# What `first_signal` says when the parent's end of the `lifeline` pipe closed.
PARENT_GONE = "parent process exited"


class StopRequests:
    """Signal handlers that only set events: the first asks for a graceful stop, the next
    one forces.

    `lifeline`: the read end of a pipe whose write end only the process that started the
    engine holds (`probelab demo` and `probelab test` do). The kernel closes that end when
    the parent dies, however it dies (SIGKILL included), and end of file here then counts as
    a first stop request: an engine started for one run never outlives the run.
    """

    def __init__(self, on_first: Callable[[], None] | None = None,
                 lifeline: int | None = None) -> None:
        self.graceful = asyncio.Event()
        self.forced = asyncio.Event()
        self.first_signal = ""
        self._on_first = on_first
        self._lifeline = lifeline

    def on_signal(self, signame: str) -> None:
        if self.graceful.is_set():
            self.forced.set()
            return
        self.first_signal = signame
        self.graceful.set()
        if self._on_first is not None:  # at once, not when the stop task gets its turn
            self._on_first()

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self.on_signal, sig.name)
        if self._lifeline is not None:
            os.set_blocking(self._lifeline, False)  # a read here must never hold the loop
            loop.add_reader(self._lifeline, self._lifeline_readable, loop)

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        if self._lifeline is not None:
            loop.remove_reader(self._lifeline)

    def _lifeline_readable(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            data = os.read(self._lifeline, 64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:  # the parent never writes; bytes are ignored, only end of file counts
            return
        loop.remove_reader(self._lifeline)
        self.on_signal(PARENT_GONE)


async def _until(task: asyncio.Task, forced: asyncio.Event) -> bool:
    """Wait for `task` unless `forced` is set first; True if the task finished."""
    forced_wait = asyncio.ensure_future(forced.wait())
    try:
        await asyncio.wait({task, forced_wait}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        forced_wait.cancel()
    if task.done():
        return True
    task.cancel()
    return False


class Engine:
    """The whole local engine in this process; `start()` then `stop()` (safe twice)."""

    def __init__(self, config: EngineConfig, clock: Clock | None = None) -> None:
        self._own_state_dir = config.state_dir is None
        state_dir = config.state_dir or Path(tempfile.mkdtemp(prefix="probelab-engine-"))
        token = config.token or secrets.token_urlsafe(32)
        self.config = replace(config, state_dir=state_dir, token=token)
        self.ctx = build_context(self.config, clock=clock)
        self.store = self.ctx.store
        self.components: list[Component] = []
        self._started = False
        self.claim: netclaim.Claim | None = None  # the kernel data plane's engine network
        self.dataplane = dataplanes.Choice(dataplanes.USERSPACE, "not started")

    def component(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)

    @property
    def api_url(self) -> str:
        api = self.component("apiserver")
        return getattr(api, "url", "")

    @property
    def api_ca_pem(self) -> bytes:
        """The certificate a client must trust for `api_url` (empty when serving plain HTTP)."""
        return getattr(self.component("apiserver"), "ca_pem", b"")

    async def start(self) -> None:
        """Start every component in order; if one fails, stop those already started and
        re-raise, so a failed start (a port in use) leaves nothing running."""
        self._started = True
        try:
            self._setup_network()
            for build in COMPONENTS:
                component = build()
                self.components.append(component)
                await component.start(self.ctx)
                log.debug("started %s", component.name)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self.ctx.stopping.begin()
        for component in reversed(self.components):
            try:
                await component.stop()
            except Exception:  # keep stopping the others; nothing may be left running
                log.exception("stopping %s failed", component.name)
        self.store.close_watchers()
        self._teardown_network()
        if self._own_state_dir and self.config.state_dir is not None:
            shutil.rmtree(self.config.state_dir, ignore_errors=True)

    def _setup_network(self) -> None:
        """Resolve the data plane (the engine's first log line says which and why); for the
        kernel one, claim an engine network, make its bridge, and give the config its ranges.
        Raises DataplaneError when `kernel` was asked for and cannot run."""
        requested = self.config.dataplane
        if requested == dataplanes.USERSPACE:
            self.dataplane = dataplanes.decide(requested, dataplanes.Facts(False, None, None,
                                                                          False))
        else:
            self.dataplane = dataplanes.decide(requested, dataplanes.facts())
        log.info("data plane: %s (%s)", self.dataplane.mode, self.dataplane.reason)
        if self.dataplane.error:
            raise DataplaneError(self.dataplane.reason)
        if self.dataplane.mode != dataplanes.KERNEL:
            self._configure(replace(self.config, dataplane=dataplanes.USERSPACE))
            return
        self.claim = netclaim.take()
        net = self.claim.net
        iproute.setup_bridge(net)
        log.info("engine network %d: bridge %s %s, pods %s, Services %s, nftables table ip %s",
                 net.index, net.bridge, net.gateway, net.pod_cidr, net.service_cidr, net.table)
        self._configure(replace(self.config, dataplane=dataplanes.KERNEL, net_index=net.index,
                                service_cidr_prefix=str(net.service_cidr)))

    def _configure(self, config: EngineConfig) -> None:
        self.config = config
        self.ctx.config = config
        registry = getattr(self.ctx.client, "registry", None)
        if registry is not None:  # ClusterIPs from the (possibly new) Service range
            registry.env = replace(registry.env, service_prefix=config.service_cidr_prefix)

    def _teardown_network(self) -> None:
        claim, self.claim = self.claim, None
        if claim is not None:
            for problem in netclaim.release(claim):
                log.warning("engine network %d: %s", claim.net.index, problem)

    async def run_forever(self, ready: Callable[[], None] | None = None,
                          stopping: Callable[[str], None] | None = None,
                          lifeline: int | None = None) -> Outcome:
        """Start, call `ready()`, serve until a stop signal (or end of file on `lifeline`, see
        `StopRequests`), then stop in reverse order.

        `stopping(signame)` is called when the graceful stop begins. A second signal during
        start or stop returns FORCED without waiting; the caller should then exit promptly.
        """
        loop = asyncio.get_running_loop()
        requests = StopRequests(on_first=self.ctx.stopping.begin, lifeline=lifeline)
        requests.install(loop)
        try:
            start = asyncio.ensure_future(self.start())
            if not await _until(start, requests.forced):
                return Outcome.FORCED
            start.result()  # re-raise a failed start (the engine already cleaned up)
            try:
                if ready is not None:
                    ready()
            except BaseException:
                await self.stop()
                raise
            await requests.graceful.wait()
            if stopping is not None:
                stopping(requests.first_signal)
            stop = asyncio.ensure_future(self.stop())
            if not await _until(stop, requests.forced):
                return Outcome.FORCED
            stop.result()
            return Outcome.GRACEFUL
        finally:
            requests.uninstall(loop)
