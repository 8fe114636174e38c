"""What a container runner may know of its pod: the narrow interface between
`podworker.PodWorker` (one pod) and `container.ContainerRunner` (one of its containers).

The kubelet's container code gets the pod and a few facts about it, never the pod worker itself
(`pkg/kubelet/kuberuntime` is handed a pod and a grace period, not the pod worker). The one
thing both sides change over time is the pod's `Termination`: the worker requests it (the pod
was deleted, the engine stops) and may shorten it (a second delete with a shorter grace);
every runner of the pod honours it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from probelab.engine.kubelet.restart import RestartPolicy
from probelab.engine.kubelet.termination import (
    KillReason,
    grace_end_after_shortening,
    kill_at_after_shortening,
)
from probelab.engine.kubelet.volumes.manager import PodVolumes
from probelab.k8s.objects import Obj


class Termination:
    """Whether, why and until when a pod's containers are being stopped.

    `requested` is set once; `reason` says why. A shorter grace seen later is kept as
    (when seen, new grace) so a running kill can move its deadlines forward: the preStop hook's
    end (`grace_end`) and the SIGKILL (`kill_at`), both by the pure rules of `termination`.
    `changed()` wakes whoever waits on a deadline when it moves.
    """

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.reason = KillReason.DELETED
        self._shortenings: list[tuple[float, int]] = []
        self._changed = asyncio.Event()

    def request(self, reason: KillReason) -> None:
        """Start terminating for `reason` (only the first request counts)."""
        if not self.requested.is_set():
            self.reason = reason
            self.requested.set()

    def shorten(self, seen_at: float, grace_s: int) -> None:
        """A second delete asked for `grace_s` at loop time `seen_at`."""
        self._shortenings.append((seen_at, grace_s))
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def grace_end(self, began: float, grace_s: int) -> float:
        """When the grace of a kill that began at `began` ends, after every shortening since."""
        return self._shortened(began, began + grace_s, grace_end_after_shortening)

    def kill_at(self, signalled: float, timeout_s: int) -> float:
        """When SIGKILL follows a stop signal sent at `signalled` with `timeout_s`."""
        return self._shortened(signalled, signalled + timeout_s, kill_at_after_shortening)

    def _shortened(self, since: float, deadline: float,
                   rule: Callable[[float, float, int], float]) -> float:
        """`deadline` moved by `rule` for each shortening seen at or after `since`."""
        for at, new_grace in self._shortenings:
            if at >= since:
                deadline = rule(deadline, at, new_grace)
        return deadline

    async def changed(self) -> None:
        """Return at the next shortening."""
        await self._changed.wait()


class PodHandle(Protocol):
    """The pod as its containers see it (implemented by `podworker.PodWorker`)."""

    namespace: str
    name: str
    uid: str
    pod: Obj  # the latest version of the object seen
    pod_ip: str
    termination: Termination
    volumes: PodVolumes  # its volumes' folders and mounts (volumes.manager)

    @property
    def restart_policy(self) -> RestartPolicy: ...

    def publish(self) -> None:
        """Write the pod status computed from the containers' current state."""
        ...
