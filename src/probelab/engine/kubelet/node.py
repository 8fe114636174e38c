"""What every pod worker of the kubelet shares: the store, the clock, the image table, the pod IP
pool, where logs go, the containment of pods' processes (`cgroups`), and the set of live
process groups (the last-resort kill list).

Built once by `kubelet.Kubelet.start`; read by `podworker` and `container`.
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path

from probelab.engine.core.client import Client
from probelab.engine.core.clock import Clock, rfc3339
from probelab.engine.core.context import Stopping
from probelab.engine.core.events import EventKind, EventRecorder
from probelab.engine.core.store import Obj, Store
from probelab.engine.kubelet import runtime
from probelab.engine.kubelet.cgroups import Containment
from probelab.engine.kubelet.images import ImageTable
from probelab.engine.kubelet.ipam import PodIPs
from probelab.engine.kubelet.podnet import PodNet

log = logging.getLogger("probelab.engine.kubelet")

NODE_NAME = "probelab"  # the local engine's (first) node; --nodes N adds probelab-2, ...
COMPONENT = "kubelet"


@dataclass
class Node:
    store: Store  # what the kubelet reads
    client: Client  # how it writes: binding, pod status, deletion, Events
    clock: Clock
    images: ImageTable
    ips: PodIPs
    state_dir: Path
    containment: Containment = field(default_factory=Containment)  # cgroups or subreaper
    stopping: Stopping = field(default_factory=Stopping)  # the engine's: start nothing new
    podnet: PodNet | None = None  # kernel data plane: each pod's network namespace
    live: set[int] = field(default_factory=set)  # process group ids of running containers
    # (pod uid, container, reason, message) -> Event name, for repeats counted on one Event
    _repeats: dict[tuple[str, str, str, str], str] = field(default_factory=dict)

    def event(self, pod: Obj, reason: str, message: str, *, warning: bool = False,
              container: str | None = None, component: str = COMPONENT,
              repeat: bool = False) -> None:
        """Record an Event about `pod` now (dropped when its namespace is gone). With `repeat`,
        the same event again only bumps `count` and `lastTimestamp` of the first one, as the
        client-go event correlator does for probe failures and back-offs."""
        if not pod.get("kind"):
            pod = {**pod, "kind": "Pod", "apiVersion": "v1"}
        m = pod.get("metadata") or {}
        key = (str(m.get("uid")), container or "", reason, message)
        try:
            if repeat and key in self._repeats and self._bump(m.get("namespace"), key):
                return
            recorder = EventRecorder(self.client, self.clock, COMPONENT)
            created = recorder.record(pod, reason, message,
                                      kind=EventKind.WARNING if warning else EventKind.NORMAL,
                                      component=component,
                                      field_path=f"spec.containers{{{container}}}" if container
                                      else None)
            if repeat and created is not None:
                self._repeats[key] = created["metadata"]["name"]
        except Exception:  # an event is never worth stopping a pod for
            log.exception("recording event %s failed", reason)

    def _bump(self, namespace: str | None, key: tuple[str, str, str, str]) -> bool:
        now = rfc3339(self.clock.now())

        def change(event: Obj) -> None:
            event["count"] = int(event.get("count") or 1) + 1
            event["lastTimestamp"] = now

        return self.client.mutate("events", namespace, self._repeats[key], change) is not None

    def forget(self, uid: str) -> None:
        """The pod is gone: drop what was kept for its repeated events."""
        for key in [k for k in self._repeats if k[0] == uid]:
            del self._repeats[key]

    def kill_all(self) -> int:
        """SIGKILL every process group still tracked; returns how many were signalled."""
        count = sum(runtime.signal_group(pgid, signal.SIGKILL) for pgid in list(self.live))
        self.live.clear()
        return count
