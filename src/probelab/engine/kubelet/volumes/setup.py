"""The loops around a pod's volumes: set them up before its containers start, keep them in step
with their ConfigMaps and Secrets, tell the user what failed, and give each container its
mounts. The rules are in `layout` (what a volume holds), `writer` (how it is written) and
`mounts` (how a container sees it); this module only runs them for a pod worker.

What the user sees, as with a kubelet (`pkg/kubelet/volumemanager`, `operation_generator.go`):
a volume that cannot be set up now (its ConfigMap or Secret is missing) is a `FailedMount`
Warning "MountVolume.SetUp failed for volume "V" : configmap "x" not found", repeated while it
lasts; the containers that mount it wait in `ContainerCreating` and start once it is set up.
A volume kind the engine cannot give at all (hostPath, persistentVolumeClaim, nfs, csi, ...)
gets the same Warning, and the pod the condition `probelab.dev/VolumesMounted` False
(reason `UnsupportedVolume`): its containers never start, so nothing runs without the data it
asked for. (Kubernetes leaves a pod whose claim cannot bind `Pending` at scheduling; here it is
`Pending` too, bound to the node, its containers waiting.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from probelab.engine.core.clock import rfc3339
from probelab.engine.kubelet import podsources, runtime
from probelab.engine.kubelet.node import Node
from probelab.engine.kubelet.status import HOST_IP
from probelab.engine.kubelet.volumes import layout, manager, mounts

log = logging.getLogger("probelab.engine.kubelet")
CONDITION = "probelab.dev/VolumesMounted"


class VolumePod(Protocol):
    """What the volume loops need of a pod worker."""

    namespace: str
    name: str
    uid: str
    pod: dict[str, Any]
    pod_ip: str
    volumes: manager.PodVolumes


def sync(pod: VolumePod, node: Node, announced: set[str]) -> manager.SyncResult:
    """One pass: write the volumes, record what failed (`announced`: warnings already given)."""
    sources = podsources.fetch(node.store, pod.pod, node.state_dir)
    result = pod.volumes.sync(pod.pod, sources, pod.pod_ip, HOST_IP)
    for name, why in {**result.unsupported, **result.errors}.items():
        node.event(pod.pod, "FailedMount",
                   f'MountVolume.SetUp failed for volume "{name}" : {why}',
                   warning=True, repeat=True)
    for warning in result.warnings:
        if warning not in announced:
            announced.add(warning)
            node.event(pod.pod, "VolumeWarning", warning, warning=True)
    _condition(pod, node, result)
    return result


def _condition(pod: VolumePod, node: Node, result: manager.SyncResult) -> None:
    """`probelab.dev/VolumesMounted`: written once something failed, then kept current."""
    if result.unsupported:
        status, reason = "False", "UnsupportedVolume"
        message = "; ".join(f"{n}: {w}" for n, w in sorted(result.unsupported.items()))
    elif result.errors:
        status, reason = "False", "FailedMount"
        message = "; ".join(f"{n}: {w}" for n, w in sorted(result.errors.items()))
    else:
        status, reason, message = "True", "", ""
    conditions = (pod.pod.get("status") or {}).get("conditions") or []
    current = next((c for c in conditions if c.get("type") == CONDITION), None)
    if current is None and status == "True":
        return
    if current is not None and (current.get("status"), current.get("reason", ""),
                                current.get("message", "")) == (status, reason, message):
        return
    now = rfc3339(node.clock.now())

    def change(obj: dict[str, Any]) -> None:
        if obj["metadata"].get("uid") != pod.uid:
            return
        conds = obj.setdefault("status", {}).setdefault("conditions", [])
        old = next((c for c in conds if c.get("type") == CONDITION), None)
        cond: dict[str, Any] = {"type": CONDITION, "status": status,
                                "lastProbeTime": None, "lastTransitionTime": now}
        if old is not None and old.get("status") == status:
            cond["lastTransitionTime"] = old.get("lastTransitionTime", now)
        if reason:
            cond["reason"], cond["message"] = reason, message
        conds[:] = [c for c in conds if c.get("type") != CONDITION] + [cond]

    with contextlib.suppress(Exception):
        updated = node.client.mutate("pods", pod.namespace, pod.name, change,
                                     subresource="status")
        if updated is not None and updated["metadata"].get("uid") == pod.uid:
            pod.pod = updated


def needs_resync(pod: Mapping[str, Any]) -> bool:
    """Whether a pod has volumes whose content can change or that failed (emptyDir-only and
    volume-less pods need no loop)."""
    return any(layout.kind_of(v) != "emptyDir"
               for v in (pod.get("spec") or {}).get("volumes") or [])


async def keep_in_sync(pod: VolumePod, node: Node, stop: asyncio.Event) -> None:
    """Resync every RESYNC_S until `stop` (the pod terminates): updates reach the files."""
    announced: set[str] = set()
    while not stop.is_set():
        try:
            sync(pod, node, announced)
        except Exception:  # a failed pass is retried at the next one
            log.exception("volume sync of %s/%s failed", pod.namespace, pod.name)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(manager.RESYNC_S):
                await stop.wait()


def for_container(pod: VolumePod, node: Node, container: Mapping[str, Any],
                  env: Mapping[str, str], cwd: str | None,
                  ) -> str | tuple[runtime.Wrap | None, dict[str, str]]:
    """How `container` starts with its volumes: (argv wrapper or None, extra env), or why it
    cannot start yet (a volume is not set up)."""
    volume_mounts = container.get("volumeMounts") or []
    if not volume_mounts:
        return None, {}
    volumes = pod.volumes
    if any(str(vm.get("name", "")) not in volumes.ready for vm in volume_mounts):
        return "a volume is not set up"
    why_not = mounts.available()
    if why_not is not None:
        for vm in volume_mounts:
            name = str(vm.get("name", ""))
            node.event(pod.pod, "VolumeNotMounted",
                       f'volume "{name}" is at {volumes.path(name)}, not mounted at '
                       f'{vm.get("mountPath")} ({why_not}); ${manager.env_name(name)} holds '
                       "the folder", warning=True, container=str(container.get("name", "")),
                       repeat=True)
        return None, manager.fallback_env(container, volumes)
    try:
        bound = volumes.mounts_for(container, env)
        wrap = manager.wrapper(bound, volumes.scratch(str(container.get("name", ""))), cwd)
        if wrap is not None:
            wrap(["true"])  # the plan is made now, so a mount that cannot be made says so
    except (layout.MountError, mounts.PlanError, OSError) as exc:
        node.event(pod.pod, "FailedMount", f"Error: {exc}", warning=True,
                   container=str(container.get("name", "")), repeat=True)
        return str(exc)
    return wrap, {}
