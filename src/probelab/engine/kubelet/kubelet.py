"""The kubelet of the local engine (component "kubelet"): runs the pods of the one node.

It watches pods in the store and gives each one a `podworker.PodWorker` (keyed by uid) that
binds it to the node, starts its containers as process groups, probes them, restarts them and
terminates them as docs/kubelet.md describes; pure rules live in `probe_rules`, `restart`,
`termination`, `status`, `command` (each names the Kubernetes source it follows); I/O in
`runtime`, `prober`, `lifecycle`; `container.ContainerRunner` runs one container.
Neighbours: the store (pods in, pod status and Events out), `kubelet.images` (what an
image runs), `core.podlogs` (where output goes), `probelab.engine.engine` (starts
it after the controllers and stops it before them).

It takes at most `max_pods` pods (`EngineConfig.max_pods`, the kubelet's `--max-pods`): an
unbound pod that does not fit (`capacity.fits`) waits Pending, PodScheduled=False
(Unschedulable) with a FailedScheduling Event, in a queue that is retried in creation order
whenever a pod's worker ends. From the engine's first instant of stopping (`ctx.stopping`)
no pod is admitted and no container started.

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

from probelab.engine.core import podlogs
from probelab.engine.core.context import EngineContext, Stopping
from probelab.engine.core.store import Conflict, EventType, NotFound, Obj, Watcher, WatchEvent
from probelab.engine.kubelet import capacity, cgroups
from probelab.engine.kubelet.cgroups import Mode
from probelab.engine.kubelet.images import ImageTable
from probelab.engine.kubelet.ipam import PodIPs
from probelab.engine.kubelet.node import NODE_NAME, Node
from probelab.engine.kubelet.podnet import PodNet
from probelab.engine.kubelet.podworker import PodWorker
from probelab.engine.network.ranges import EngineNet

log = logging.getLogger("probelab.engine.kubelet")

STOP_SLACK_S = 3.0  # on top of the longest grace + 2 s, before the forced stage


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
        self._pending: dict[str, Obj] = {}  # uid -> pod that did not fit, oldest first
        self._stopping = Stopping()

    async def start(self, ctx: EngineContext) -> None:
        state_dir = ctx.config.state_dir
        if state_dir is None:
            state_dir = self._own_dir = Path(tempfile.mkdtemp(prefix="probelab-kubelet-"))
        images = ImageTable.build(ctx.config.images, ctx.config.manifests_dir)
        podnet = None
        if ctx.config.dataplane == "kernel":  # a namespace per pod, addresses of its /24
            net = EngineNet(ctx.config.net_index)
            podnet = PodNet(net)
            ips = PodIPs(str(net.pod_cidr.network_address).rsplit(".", 1)[0],
                         addresses=net.pod_addresses())
        else:
            ips = PodIPs(ctx.config.pod_cidr_prefix, start=ip_cursor_start(os.getpid()))
        self.max_pods = ctx.config.max_pods
        self._stopping = ctx.stopping
        self.node = Node(store=ctx.store, client=ctx.client, clock=ctx.clock, images=images,
                         ips=ips, state_dir=state_dir,
                         containment=cgroups.setup(self.containment_mode),
                         stopping=ctx.stopping, podnet=podnet)
        self._watcher = ctx.store.watch("pods")
        self._task = asyncio.get_running_loop().create_task(
            self._watch(self._watcher), name="kubelet-watch-pods")
        self._rotating = asyncio.get_running_loop().create_task(
            self._rotate_logs(state_dir), name="kubelet-rotate-logs")
        log.info("kubelet started on node %s", NODE_NAME)

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
            if worker is not None:
                worker.vanish()
            podlogs.remove_pod_logs(self.node.state_dir, uid)  # kubelet's pod log cleanup
            return
        node_name = (pod.get("spec") or {}).get("nodeName")
        if node_name and node_name != NODE_NAME:
            return
        if worker is not None:
            worker.update(pod)
            return
        phase = (pod.get("status") or {}).get("phase")
        if self._stopped or self._stopping or phase in ("Succeeded", "Failed"):
            return
        if uid in self._pending:
            self._pending[uid] = pod  # the newest version waits in the same place
            return
        if node_name or capacity.fits(len(self._workers), self.max_pods):
            self._run_worker(pod)  # a pod bound by others is not the scheduler's to refuse
        else:
            self._pending[uid] = pod
            self._unschedulable(pod)

    def _run_worker(self, pod: Obj) -> None:
        assert self.node is not None
        worker = PodWorker(self.node, pod, self._forget)
        self._workers[worker.uid] = worker
        worker.start()

    def _unschedulable(self, pod: Obj) -> None:
        """What kube-scheduler does with a pod no node fits: Event, condition, queue."""
        assert self.node is not None
        m = pod["metadata"]
        self.node.event(pod, "FailedScheduling", capacity.TOO_MANY_PODS, warning=True,
                        component="default-scheduler", repeat=True)
        now = self.node.clock.now()

        def change(obj: Obj) -> None:
            if obj["metadata"].get("uid") != m.get("uid") or obj["spec"].get("nodeName"):
                raise _Skip
            obj["status"] = capacity.unschedulable_status(obj.get("status"),
                                                          capacity.TOO_MANY_PODS, now)

        with contextlib.suppress(_Skip, NotFound, Conflict):
            self.node.client.mutate("pods", m.get("namespace"), m.get("name"), change,
                                    subresource="status")

    def _forget(self, uid: str) -> None:
        self._workers.pop(uid, None)
        self._admit_pending()

    def _admit_pending(self) -> None:
        """A pod left the node: start the oldest waiting pods that fit now."""
        while (self.node is not None and self._pending and not self._stopped
               and not self._stopping and capacity.fits(len(self._workers), self.max_pods)):
            uid = next(iter(self._pending))
            m = self._pending.pop(uid)["metadata"]
            current = self.node.store.find("pods", m.get("namespace"), m.get("name"))
            if (current is not None and current["metadata"].get("uid") == uid
                    and not current["metadata"].get("deletionTimestamp")):
                self._run_worker(current)  # else it went meanwhile

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
        if self._watcher is not None:
            self._watcher.close()
        for task in (self._task, self._rotating):
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
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
