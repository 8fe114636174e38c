"""One pod on the kubelet's node: admit it, run its containers, report status, terminate it.

A `PodWorker` binds the pod to the node (the scheduler's job, done here: `Scheduled`), takes a
pod IP, starts one `container.ContainerRunner` per container and writes the pod status (pure
`status.pod_status`) whenever something it is computed from changes. When the pod gets a
deletionTimestamp every container is killed in parallel per `termination`; once all are gone the
pod object is deleted (grace 0) and its IP freed. If the object vanishes first (force delete,
namespace purge) the processes are SIGKILLed at once. Owned by `kubelet.Kubelet`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from probelab.engine.core.store import Conflict, NotFound
from probelab.engine.kubelet.container import ContainerRunner
from probelab.engine.kubelet.node import NODE_NAME, Node
from probelab.engine.kubelet.pod import Termination
from probelab.engine.kubelet.restart import RestartPolicy
from probelab.engine.kubelet.status import PodView, pod_status
from probelab.engine.kubelet.termination import KillReason, grace_period_s
from probelab.engine.kubelet.volumes import setup as volume_setup
from probelab.engine.kubelet.volumes.manager import PodVolumes
from probelab.engine.network.iproute import NetworkError
from probelab.k8s.objects import Obj

log = logging.getLogger("probelab.engine.kubelet")


class _Replaced(Exception):
    """The object under this name is another pod (a different uid)."""


class PodWorker:
    def __init__(self, node: Node, pod: Obj, on_done: Callable[[str], None],
                 node_name: str = NODE_NAME) -> None:
        m = pod["metadata"]
        self.node = node
        self.node_name = node_name  # the logical node the scheduler placed it on
        self.pod = pod
        self.uid: str = m.get("uid", "")
        self.namespace: str = m.get("namespace", "")
        self.name: str = m.get("name", "")
        self.termination = Termination()
        self.shutting_down = False
        self.vanished = False
        self.runners: list[ContainerRunner] = []
        self.scheduled_at: float | None = None
        self.start_time: float | None = None
        self.pod_ip = ""
        self.terminal = False
        self.task: asyncio.Task[None] | None = None
        self._on_done = on_done
        self.volumes = PodVolumes(node.state_dir, self.uid)  # folders, removed with the pod
        if m.get("deletionTimestamp"):
            self.termination.request(KillReason.DELETED)

    @property
    def spec(self) -> dict[str, Any]:
        return self.pod.get("spec") or {}

    @property
    def restart_policy(self) -> RestartPolicy:
        return RestartPolicy.of(self.spec)

    # ---- what the kubelet tells a worker ------------------------------------------------------
    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"kubelet-pod-{self.namespace}/{self.name}")

    def update(self, pod: Obj) -> None:
        """A newer version of the object was seen."""
        old_grace = self.pod["metadata"].get("deletionGracePeriodSeconds")
        self.pod = pod
        new_grace = pod["metadata"].get("deletionGracePeriodSeconds")
        if pod["metadata"].get("deletionTimestamp") and not self.termination.requested.is_set():
            self.termination.request(KillReason.DELETED)
        elif old_grace is not None and new_grace is not None and new_grace < old_grace:
            self.termination.shorten(asyncio.get_running_loop().time(), int(new_grace))
        elif self.start_time is not None:
            self.publish()  # readiness-gate conditions written by others count for Ready

    def shutdown(self) -> None:
        """The engine stops: terminate gracefully, but leave the object in place."""
        self.shutting_down = True
        self.termination.request(KillReason.SHUTDOWN)

    def vanish(self) -> None:
        """The object is gone: SIGKILL every process now, stop the worker."""
        if self.vanished:
            return
        self.vanished = True
        self.termination.request(KillReason.DELETED)
        for runner in self.runners:
            runner.kill_now()
        if self.task is not None:
            self.task.cancel()

    def shutdown_bound_s(self) -> float:
        """The longest a graceful shutdown of this pod may take (grace + the 2 s floor)."""
        return grace_period_s(self.pod, KillReason.SHUTDOWN) + 2.0

    def pids(self) -> dict[str, int]:
        return {r.name: r.pid for r in self.runners if r.pid is not None}

    # ---- the worker ----------------------------------------------------------------------------
    async def _run(self) -> None:
        volume_sync: asyncio.Task[None] | None = None
        try:
            if not self.termination.requested.is_set():
                self._admit()
                volume_setup.sync(self, self.node, set())  # before any container starts
                if volume_setup.needs_resync(self.pod):
                    volume_sync = asyncio.get_running_loop().create_task(
                        volume_setup.keep_in_sync(self, self.node, self.termination.requested),
                        name=f"kubelet-volumes-{self.namespace}/{self.name}")
                self.runners = [ContainerRunner(self, self.node, c)
                                for c in self.spec.get("containers") or []]
                self.publish()
                if await self._make_sandbox():  # else they stay ContainerCreating
                    for runner in self.runners:
                        runner.start()
            tasks = [r.task for r in self.runners if r.task]
            if tasks:
                await asyncio.gather(*tasks)
            else:
                await self.termination.requested.wait()
            if not self.vanished and not self.shutting_down:
                self.terminal = True
                self.publish()
                self._delete_object()
        except Exception:
            log.exception("pod worker %s/%s failed", self.namespace, self.name)
        finally:
            if volume_sync is not None:
                volume_sync.cancel()  # suspended at an await: it writes nothing more
            tasks = [r.task for r in self.runners if r.task and not r.task.done()]
            for task in tasks:
                task.cancel()
            try:
                await asyncio.gather(*tasks, return_exceptions=True)
            finally:  # also when this task is cancelled meanwhile (the object vanished)
                self.volumes.remove()
            await self.node.containment.remove_pod(self.uid)
            if self.node.podnet is not None and self.pod_ip:
                try:
                    await self.node.podnet.detach(self.pod_ip)
                except NetworkError as exc:
                    log.warning("pod %s/%s: %s", self.namespace, self.name, exc)
            self.node.ips.release(self.uid)
            self.node.forget(self.uid)
            self._on_done(self.uid)

    async def _make_sandbox(self) -> bool:
        """Kernel data plane: the pod's network namespace, before any container (the
        runtime's RunPodSandbox); False, with a FailedCreatePodSandBox Event, if it fails."""
        if self.node.podnet is None:
            return True
        try:
            await self.node.podnet.attach(self.pod_ip)
            return True
        except NetworkError as exc:
            self.node.event(self.pod, "FailedCreatePodSandBox",
                            f"Failed to create pod sandbox: {exc}", warning=True)
            return False

    def _admit(self) -> None:
        """Bind to the node (recording `Scheduled`), take an IP, note the start time."""
        clock = self.node.clock
        if not self.spec.get("nodeName"):
            current = self.node.store.find("pods", self.namespace, self.name)
            if current is not None and current["metadata"].get("uid") == self.uid:
                with contextlib.suppress(NotFound, Conflict):  # gone, or being deleted
                    self.pod = self.node.client.bind(self.namespace, self.name,
                                                         self.node_name)
            self.node.event(self.pod, "Scheduled", f"Successfully assigned "
                            f"{self.namespace}/{self.name} to {self.node_name}",
                            component="default-scheduler")
        self.scheduled_at = clock.now()
        known = (self.pod.get("status") or {}).get("podIP") or ""
        if known.startswith(self.node.ips.prefix + ".") and self.node.ips.reserve(known,
                                                                                 self.uid):
            self.pod_ip = known  # a pod seen again keeps its address
        else:
            self.pod_ip = self.node.ips.allocate(self.uid)
        self.start_time = clock.now()

    def _check_uid(self, obj: Obj) -> None:
        if obj["metadata"].get("uid") != self.uid:
            raise _Replaced

    def view(self) -> PodView:
        gates = tuple(str(g.get("conditionType")) for g in self.spec.get("readinessGates") or []
                      if g.get("conditionType"))
        return PodView(restart_policy=self.restart_policy, readiness_gates=gates,
                       scheduled_at=self.scheduled_at, start_time=self.start_time,
                       pod_ip=self.pod_ip, terminal=self.terminal,
                       containers=tuple(r.view() for r in self.runners))

    def publish(self) -> None:
        """Write the status computed from the current view (a no-op when nothing changed)."""
        if self.vanished:
            return
        view, now = self.view(), self.node.clock.now()

        def change(obj: Obj) -> None:
            self._check_uid(obj)
            obj["status"] = pod_status(view, obj.get("status"), now)

        try:
            updated = self.node.client.mutate("pods", self.namespace, self.name, change,
                                              subresource="status")
        except _Replaced:
            return
        if updated is not None:
            self.pod = updated

    def _delete_object(self) -> None:
        """Every container is gone: remove the pod object (what the status manager does with
        grace 0 once the pod is terminated)."""
        with contextlib.suppress(NotFound, Conflict):  # gone, or another pod of that name
            self.node.client.delete("pods", self.namespace, self.name, grace_s=0, uid=self.uid)
