"""A pod's volumes on this machine: their folders under the engine's state, kept up to date,
and the mounts each container gets (the kubelet's volume manager and its configMap, secret,
downwardAPI, projected and emptyDir plugins, `pkg/kubelet/volumemanager`).

Folders: `STATE_DIR/volumes/POD_UID/VOLUME` (as `/var/lib/kubelet/pods/UID/volumes/...`),
removed with the pod. `sync` (re)writes the materialised volumes through the atomic writer;
the pod worker calls it before its containers start and then every `RESYNC_S`, so a changed
ConfigMap or Secret reaches the files of a running pod within that time (the kubelet's delay
is its sync period plus its cache's, up to about a minute). A `subPath` mount is bound to the
file as it was when the container started and never changes, as upstream.

Where mount namespaces cannot be made (`mounts.available()`: not root), containers start
without mounts: each volume mount is announced by a Warning Event (`VolumeNotMounted`) naming
the folder, and the container gets `PROBELAB_VOLUME_<NAME>` (the volume's name in upper case,
other characters as `_`) holding it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probelab.engine.kubelet import command, envsources
from probelab.engine.kubelet.volumes import layout, mounts, writer

RESYNC_S = 5.0
SCRATCH = "..mounts"  # per container: the tmpfs the mount namespace builds its root on
SUBPATHS = "..subpaths"  # per container: the files its subPath mounts show


def volumes_dir(state_dir: Path) -> Path:
    return state_dir / "volumes"


def env_name(volume: str) -> str:
    """The fallback variable that holds a volume's folder."""
    return "PROBELAB_VOLUME_" + re.sub(r"[^A-Za-z0-9]", "_", volume).upper()


@dataclass
class SyncResult:
    """What one sync found: volumes that cannot be set up (name -> why) and warnings."""

    errors: dict[str, str] = field(default_factory=dict)
    unsupported: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


class PodVolumes:
    def __init__(self, state_dir: Path, uid: str) -> None:
        self.root = volumes_dir(state_dir) / uid
        self.kinds: dict[str, str] = {}
        self.ready: set[str] = set()

    def path(self, volume: str) -> Path:
        return self.root / volume

    def sync(self, pod: Mapping[str, Any], sources: envsources.Sources, pod_ip: str,
             host_ip: str) -> SyncResult:
        """Write every volume's files as the pod and its objects say now."""
        result = SyncResult()
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = str(volume.get("name", ""))
            kind = layout.kind_of(volume)
            self.kinds[name] = kind
            try:
                if kind == "emptyDir":
                    self.path(name).mkdir(parents=True, exist_ok=True)
                else:
                    payload = layout.payload(volume, pod, sources, pod_ip, host_ip)
                    result.warnings += payload.warnings
                    if writer.write(self.path(name), payload.files):
                        result.changed.append(name)
                self.ready.add(name)
            except layout.Unsupported as exc:
                result.unsupported[name] = str(exc)
            except (layout.MountError, OSError) as exc:
                result.errors[name] = str(exc)
        return result

    def mounts_for(self, container: Mapping[str, Any], env: Mapping[str, str],
                   ) -> list[mounts.Mount]:
        """The bind mounts of one container (its volumeMounts, subPath resolved now)."""
        out = []
        for vm in container.get("volumeMounts") or []:
            name = str(vm.get("name", ""))
            if name not in self.ready:
                raise layout.MountError(f'volume "{name}" is not ready')
            kind = self.kinds.get(name, "emptyDir")
            source = self.path(name)
            sub = str(vm.get("subPath") or "")
            if vm.get("subPathExpr"):
                sub = command.expand(str(vm["subPathExpr"]), env)
            if sub:
                problem = layout.path_errors(sub)
                if problem:
                    raise layout.MountError(f"invalid subPath {sub!r}: {problem}")
                source = source / sub
                if kind == "emptyDir" and not source.exists():
                    source.mkdir(parents=True, exist_ok=True)
                # the file or folder as it is now: a later update never reaches it
                source = Path(os.path.realpath(source))
                if not str(source).startswith(str(self.path(name).resolve())):
                    raise layout.MountError(f"subPath {sub!r} leaves the volume")
                if not source.exists():
                    raise layout.MountError(f"subPath {sub!r} does not exist in volume "
                                            f'"{name}"')
                if kind in layout.MATERIALISED and source.is_file():
                    source = self._pin(source, str(container.get("name", "")), len(out))
            read_only = bool(vm.get("readOnly")) or kind in layout.MATERIALISED
            out.append(mounts.Mount(str(source), str(vm.get("mountPath", "")), read_only,
                                    is_file=source.is_file()))
        return out

    def _pin(self, source: Path, container: str, index: int) -> Path:
        """A hard link to a subPath's file as it is now, so the writer's next version (which
        removes this one) can neither change nor remove what the container mounts (the
        kubelet binds it under `volume-subpaths/` for the same reason)."""
        pinned = self.root / SUBPATHS / container / str(index)
        pinned.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            pinned.unlink()
        os.link(source, pinned)
        return pinned

    def scratch(self, container: str) -> Path:
        """An empty host folder for the container's mount namespace to cover with a tmpfs."""
        folder = self.root / SCRATCH / container
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def remove(self) -> None:
        """The pod is gone: its folders go too (mounts live only in its namespaces)."""
        shutil.rmtree(self.root, ignore_errors=True)


def fallback_env(container: Mapping[str, Any], volumes: PodVolumes) -> dict[str, str]:
    """Without mount namespaces: each mounted volume's folder in PROBELAB_VOLUME_<NAME>."""
    return {env_name(str(vm.get("name", ""))): str(volumes.path(str(vm.get("name", ""))))
            for vm in container.get("volumeMounts") or []}


def wrapper(volume_mounts: Sequence[mounts.Mount], scratch: Path, cwd: str | None,
            ) -> Callable[[Sequence[str]], list[str]] | None:
    """A function that wraps an argv so it runs with `volume_mounts` (None: no mounts)."""
    if not volume_mounts:
        return None

    def wrap(argv: Sequence[str]) -> list[str]:
        return mounts.wrap(volume_mounts, scratch, argv, cwd)

    return wrap


def remove_all(state_dir: Path) -> None:
    """Every pod's volume folders (the kubelet stops)."""
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(volumes_dir(state_dir), ignore_errors=True)
