"""The kubelet of the local engine (component "kubelet"): runs the pods of its node(s): one,
`probelab`, or the N logical nodes of `--nodes N` (`probelab`, `probelab-2`, ...), all on this
machine; a pod's `spec.nodeName` says which it is bound to.

It watches pods in the store and gives each one a `podworker.PodWorker` (keyed by uid) that
binds it to the node, starts its containers as process groups, probes them, restarts them and
terminates them as docs/kubelet.md describes; pure rules live in `probe_rules`, `restart`,
`termination`, `status`, `command` (each names the Kubernetes source it follows); I/O in
`runtime`, `prober`, `lifecycle`; `container.ContainerRunner` runs one container.
Neighbours: the store (pods in, pod status and Events out), `kubelet.images` (what an
image runs), `core.podlogs` (where output goes), `probelab.engine.engine` (starts
it after the controllers and stops it before them).

At start it registers each Node (`registration`: capacity, conditions, nodeInfo) through the
API and refreshes their heartbeats every `HEARTBEAT_S`. It is also the scheduler
(`scheduling.place`: filter the nodes, prefer the one with fewest pods of the same owner, then
fewest pods): an unbound pod no node fits (a cordoned node, an untolerated
NoSchedule/NoExecute taint, or more than `max_pods` pods, the kubelet's `--max-pods`) waits
Pending, PodScheduled=False (Unschedulable) with a FailedScheduling Event, in a queue that is
retried in creation order whenever a pod's worker ends or the Node changes (uncordon, untaint).
Pods already running stay when the node is cordoned or tainted NoSchedule (a NoExecute taint
is the taint eviction controller's business, `controllers.tainteviction`). From the engine's
first instant of stopping (`ctx.stopping`) no pod is admitted and no container started.

Stopping terminates every pod gracefully in parallel (preStop, SIGTERM, grace, SIGKILL), bounded
by the longest grace period plus the 2 s floor, then SIGKILLs anything left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

import probelab
from probelab.engine.core import podlogs
from probelab.engine.core.context import EngineContext, Stopping
from probelab.engine.core.store import (
    AlreadyExists,
    Conflict,
    EventType,
    NotFound,
    Obj,
    Watcher,
    WatchEvent,
)
from probelab.engine.kubelet import capacity, cgroups, registration, scheduling
from probelab.engine.kubelet.cgroups import Mode
from probelab.engine.kubelet.images import ImageTable
from probelab.engine.kubelet.ipam import PodIPs
from probelab.engine.kubelet.node import NODE_NAME, Node
from probelab.engine.kubelet.podnet import PodNet
from probelab.engine.kubelet.podworker import PodWorker
from probelab.engine.kubelet.streaming import NodeStreaming
from probelab.engine.kubelet.volumes import manager as volume_manager
from probelab.engine.network.ranges import EngineNet

log = logging.getLogger("probelab.engine.kubelet")

RUNTIME_VERSION = f"probelab://{probelab.__version__}"  # nodeInfo.containerRuntimeVersion

STOP_SLACK_S = 3.0  # on top of the longest grace + 2 s, before the forced stage
# How often the Node's conditions get a new heartbeat: the kubelet's nodeStatusReportFrequency
# default (pkg/kubelet/apis/config/v1beta1/defaults.go), used when node leases carry liveness.
HEARTBEAT_S = 300.0


def ip_cursor_start(pid: int) -> int:
    """Where this engine's pod IP cursor begins: PIDs of engines running at the same time
    differ, and 251 (prime) spreads neighbouring PIDs 251 addresses apart."""
    return pid * 251


class _Skip(Exception):
    """The pod was replaced or bound meanwhile: its status is not the scheduler's to write."""


class Kubelet:
    """Engine component "kubelet"; `start(ctx)` returns once it watches pods."""

    name = "kubelet"
    log_rotation = podlogs.Rotation()  # kubelet's defaults; tests use smaller ones

    def __init__(self, containment: Mode = Mode.AUTO) -> None:
        self.containment_mode = containment  # AUTO: cgroups, else a subreaper (cgroups.py)
        self._rotating: asyncio.Task[None] | None = None
        self.node: Node | None = None
        self._workers: dict[str, PodWorker] = {}
        self._watcher: Watcher | None = None
        self._task: asyncio.Task[None] | None = None
        self._own_dir: Path | None = None
        self._stopped = False
        self.max_pods = capacity.DEFAULT_MAX_PODS
        self.node_names: list[str] = [NODE_NAME]  # the logical nodes it serves
        self._pending: dict[str, Obj] = {}  # uid -> pod that did not fit, oldest first
        self._why: dict[str, str] = {}  # uid -> the FailedScheduling message last recorded
        self._node_watcher: Watcher | None = None
        self._node_tasks: list[asyncio.Task[None]] = []
        self._stopping = Stopping()
        self._ctx: EngineContext | None = None

    async def start(self, ctx: EngineContext) -> None:
        state_dir = ctx.config.state_dir
        if state_dir is None:
            state_dir = self._own_dir = Path(tempfile.mkdtemp(prefix="probelab-kubelet-"))
        images = ImageTable.build(ctx.config.images, ctx.config.manifests_dir)
        volume_manager.remove_all(state_dir)  # a killed run's leftovers (no mounts: see mounts)
        podnet = None
        if ctx.config.dataplane == "kernel":  # a namespace per pod, addresses of its /24
            net = EngineNet(ctx.config.net_index)
            podnet = PodNet(net)
            ips = PodIPs(str(net.pod_cidr.network_address).rsplit(".", 1)[0],
                         addresses=net.pod_addresses())
        else:
            ips = PodIPs(ctx.config.pod_cidr_prefix, start=ip_cursor_start(os.getpid()))
        self.max_pods = ctx.config.max_pods
        self.node_names = scheduling.node_names(max(1, int(ctx.config.nodes)))
        self._stopping = ctx.stopping
        self.node = Node(store=ctx.store, client=ctx.client, clock=ctx.clock, images=images,
                         ips=ips, state_dir=state_dir,
                         containment=cgroups.setup(self.containment_mode),
                         stopping=ctx.stopping, podnet=podnet)
        self._register()
        loop = asyncio.get_running_loop()
        self._node_watcher = ctx.store.watch("nodes", since=ctx.store.resource_version)
        self._node_tasks = [
            loop.create_task(self._watch_node(self._node_watcher), name="kubelet-watch-node"),
            loop.create_task(self._heartbeat(), name="kubelet-node-heartbeat")]
        self._ctx = ctx
        ctx.streaming.runtime = NodeStreaming(self.node, lambda: list(self._workers.values()))
        self._watcher = ctx.store.watch("pods")
        self._task = asyncio.get_running_loop().create_task(
            self._watch(self._watcher), name="kubelet-watch-pods")
        self._rotating = asyncio.get_running_loop().create_task(
            self._rotate_logs(state_dir), name="kubelet-rotate-logs")
        log.info("kubelet started on node(s) %s", ", ".join(self.node_names))

    # ---- the Node ------------------------------------------------------------------------
    def _register(self, only: str | None = None) -> None:
        """`registerWithAPIServer` for each logical node (or `only` that one): create the
        Node; one that exists gets fresh status."""
        assert self.node is not None
        host = registration.machine()
        for name in self.node_names if only is None else [only]:
            fresh = registration.node_object(name, host, self.max_pods,
                                             self.node.clock.now(), RUNTIME_VERSION)
            try:
                self.node.client.create("nodes", fresh)
            except AlreadyExists:
                self.node.client.mutate("nodes", None, name,
                                        lambda obj, f=fresh: obj.update(status=f["status"]),
                                        subresource="status")

    def node_object(self, name: str = NODE_NAME) -> Obj | None:
        """A Node as the store has it (spec.unschedulable, spec.taints)."""
        return self.node.store.find("nodes", None, name) if self.node else None

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            assert self.node is not None
            now = self.node.clock.now()

            def beat(obj: Obj, now: float = now) -> None:
                status = obj.setdefault("status", {})
                status["conditions"] = registration.conditions(now, status.get("conditions"))

            for name in self.node_names:
                try:
                    if self.node.client.mutate("nodes", None, name, beat,
                                               subresource="status") is None:
                        self._register(name)  # deleted by someone: register again
                except Exception:  # a failed heartbeat must not stop the node
                    log.exception("kubelet: node heartbeat failed")

    async def _watch_node(self, watcher: Watcher) -> None:
        """A change of the Node (uncordon, a taint removed) may let waiting pods in."""
        async for event in watcher:
            name = event.obj["metadata"].get("name")
            if event.type is EventType.MODIFIED and name in self.node_names:
                try:
                    self._admit_pending()
                except Exception:
                    log.exception("kubelet: admitting pods after a node change failed")

    async def _watch(self, watcher: Watcher) -> None:
        async for event in watcher:
            try:
                self._handle(event)
            except Exception:  # one bad pod must not stop the node
                log.exception("kubelet: handling %s of a pod failed", event.type.value)

    async def _rotate_logs(self, state_dir: Path) -> None:
        """The container log manager: rotate each log past its size (`core.podlogs`)."""
        while True:
            await asyncio.sleep(self.log_rotation.check_s)
            try:
                await asyncio.to_thread(podlogs.rotate_all, state_dir, self.log_rotation)
            except OSError as exc:  # a full or read-only disk must not stop the node
                log.warning("kubelet: rotating container logs failed: %s", exc)

    def _handle(self, event: WatchEvent) -> None:
        if event.type is EventType.BOOKMARK or self.node is None:
            return
        pod = event.obj
        uid = pod["metadata"].get("uid", "")
        worker = self._workers.get(uid)
        if event.type is EventType.DELETED:
            self._pending.pop(uid, None)
            self._why.pop(uid, None)
            if worker is not None:
                worker.vanish()
            podlogs.remove_pod_logs(self.node.state_dir, uid)  # kubelet's pod log cleanup
            return
        node_name = (pod.get("spec") or {}).get("nodeName")
        if node_name and node_name not in self.node_names:
            return
        if worker is not None:
            worker.update(pod)
            return
        phase = (pod.get("status") or {}).get("phase")
        if self._stopped or self._stopping or phase in ("Succeeded", "Failed"):
            return
        if uid in self._pending:
            before = (self._pending[uid].get("spec") or {}).get("tolerations")
            self._pending[uid] = pod  # the newest version waits in the same place
            if (pod.get("spec") or {}).get("tolerations") != before:
                self._admit_pending()  # an added toleration may let it in (a pod update
            return                     # requeues it in kube-scheduler too)
        target, why = (node_name, None) if node_name else self._place(pod)
        if target is not None:
            self._run_worker(pod, target)  # a pod bound by others is not the scheduler's to
        else:                              # refuse
            self._pending[uid] = pod
            self._unschedulable(pod, why)

    def _place(self, pod: Obj) -> tuple[str | None, str | None]:
        """The scheduling step (`scheduling.place`): which node, or why none."""
        pods_on: dict[str, list[Obj]] = {name: [] for name in self.node_names}
        for worker in self._workers.values():
            pods_on.setdefault(worker.node_name, []).append(worker.pod)
        nodes = [(name, self.node_object(name)) for name in self.node_names]
        return scheduling.place(pod, nodes, pods_on, self.max_pods)

    def _run_worker(self, pod: Obj, node_name: str) -> None:
        assert self.node is not None
        worker = PodWorker(self.node, pod, self._forget, node_name)
        self._workers[worker.uid] = worker
        worker.start()

    def _unschedulable(self, pod: Obj, why: str) -> None:
        """What kube-scheduler does with a pod no node fits: Event, condition, queue."""
        assert self.node is not None
        m = pod["metadata"]
        self._why[str(m.get("uid"))] = why
        self.node.event(pod, "FailedScheduling", why, warning=True,
                        component="default-scheduler", repeat=True)
        now = self.node.clock.now()

        def change(obj: Obj) -> None:
            if obj["metadata"].get("uid") != m.get("uid") or obj["spec"].get("nodeName"):
                raise _Skip
            obj["status"] = capacity.unschedulable_status(obj.get("status"), why, now)

        with contextlib.suppress(_Skip, NotFound, Conflict):
            self.node.client.mutate("pods", m.get("namespace"), m.get("name"), change,
                                    subresource="status")

    def _forget(self, uid: str) -> None:
        self._workers.pop(uid, None)
        self._admit_pending()

    def _admit_pending(self) -> None:
        """A pod left the node or the node changed: start the waiting pods that fit now,
        oldest first; one that still does not fit for a new reason gets a new Event."""
        for uid in list(self._pending):
            if self.node is None or self._stopped or self._stopping:
                return
            m = self._pending[uid]["metadata"]
            current = self.node.store.find("pods", m.get("namespace"), m.get("name"))
            if (current is None or current["metadata"].get("uid") != uid
                    or current["metadata"].get("deletionTimestamp")):
                self._pending.pop(uid)  # it went meanwhile
                self._why.pop(uid, None)
                continue
            target, why = self._place(current)
            if target is not None:
                self._pending.pop(uid)
                self._why.pop(uid, None)
                self._run_worker(current, target)
            elif why != self._why.get(uid):
                self._unschedulable(current, why)

    def pending(self) -> int:
        """How many pods wait for room on the node."""
        return len(self._pending)

    # ---- what tests, the bench and the CLI read ----------------------------------------------
    def pids(self, namespace: str, name: str) -> dict[str, int]:
        """Container name → PID of a pod's running containers."""
        for worker in self._workers.values():
            if (worker.namespace, worker.name) == (namespace, name):
                return worker.pids()
        return {}

    def all_pids(self) -> set[int]:
        """Every running container process."""
        return set(self.node.live) if self.node is not None else set()

    # ---- stopping ----------------------------------------------------------------------------
    async def stop(self) -> None:
        """Terminate every pod gracefully (bounded), then kill what is left; safe twice."""
        if self._stopped:
            return
        self._stopped = True
        if self._ctx is not None:
            self._ctx.streaming.runtime = None
        if self._watcher is not None:
            self._watcher.close()
        if self._node_watcher is not None:
            self._node_watcher.close()
        for task in (self._task, self._rotating, *self._node_tasks):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._pending.clear()
        workers = list(self._workers.values())
        for worker in workers:
            worker.shutdown()
        tasks = [w.task for w in workers if w.task is not None]
        bound = max((w.shutdown_bound_s() for w in workers), default=0.0) + STOP_SLACK_S
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=bound)
            if pending:
                log.warning("kubelet: %d pods still stopping after %.0fs; killing them",
                            len(pending), bound)
            for worker in workers:
                worker.vanish()
            await asyncio.gather(*tasks, return_exceptions=True)
        killed = self.node.kill_all() if self.node is not None else 0
        if self.node is not None:
            await self.node.containment.close()
        log.info("kubelet stopped: %d pods terminated, %d process groups killed at the end",
                 len(workers), killed)
        if self.node is not None:
            volume_manager.remove_all(self.node.state_dir)
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
