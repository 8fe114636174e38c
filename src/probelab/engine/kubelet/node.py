"""What every pod worker of the kubelet shares: the store, the clock, the image table, the pod IP
pool, where logs go, and the set of live process groups (the last-resort kill list).

Built once by `kubelet.Kubelet.start`; read by `podworker` and `container`.
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path

from probelab.engine.clock import Clock
from probelab.engine.events import EventKind, record_event
from probelab.engine.images import ImageTable
from probelab.engine.kubelet import runtime
from probelab.engine.kubelet.ipam import PodIPs
from probelab.engine.store import Obj, Store

log = logging.getLogger("probelab.engine.kubelet")

NODE_NAME = "probelab"  # the one node of the local engine
COMPONENT = "kubelet"


@dataclass
class Node:
    store: Store
    clock: Clock
    images: ImageTable
    ips: PodIPs
    state_dir: Path
    live: set[int] = field(default_factory=set)  # process group ids of running containers

    def event(self, pod: Obj, reason: str, message: str, *, warning: bool = False,
              container: str | None = None, component: str = COMPONENT) -> None:
        """Record an Event about `pod` now (dropped when its namespace is gone)."""
        if not pod.get("kind"):
            pod = {**pod, "kind": "Pod", "apiVersion": "v1"}
        try:
            record_event(self.store, pod, reason, message,
                         kind=EventKind.WARNING if warning else EventKind.NORMAL,
                         component=component,
                         field_path=f"spec.containers{{{container}}}" if container else None)
        except Exception:  # an event is never worth stopping a pod for
            log.exception("recording event %s failed", reason)

    def kill_all(self) -> int:
        """SIGKILL every process group still tracked; returns how many were signalled."""
        count = sum(runtime.signal_group(pgid, signal.SIGKILL) for pgid in list(self.live))
        self.live.clear()
        return count
