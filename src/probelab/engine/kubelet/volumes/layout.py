"""What each volume of a pod holds: pure rules from the pod, the objects it refers to and the
downward API values, to a payload (relative path -> bytes and mode) or the reason it cannot be
set up.

Sources (kubernetes/kubernetes):
- `pkg/volume/configmap/configmap.go` MakePayload and `pkg/volume/secret/secret.go`: without
  `items` every key becomes a file (a ConfigMap's `data` and `binaryData`), with `items` only
  those keys, at their `path`; the mode is the item's `mode`, else `defaultMode` (0644); a
  missing object fails the mount (`configmap "x" not found`) unless `optional`, then the volume
  is empty; a missing item key fails it (`configmap references non-existent config key: K`)
  unless `optional`.
- `pkg/volume/downwardapi/downwardapi.go` CollectData: each item's `fieldRef` or
  `resourceFieldRef` value (labels and annotations as sorted `k="v"` lines).
- `pkg/volume/projected/projected.go` collectData: the sources in order into one payload.
- `pkg/volume/util/atomic_writer.go` validatePath: a path is relative, has no `..` element and
  does not start with `..`.

The engine gives `emptyDir` (a plain directory, also for `medium: Memory`) and the kinds above;
any other kind (hostPath, persistentVolumeClaim, nfs, csi, ...) is `Unsupported`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from probelab.engine.kubelet import envsources
from probelab.k8s import configdata

MATERIALISED = ("configMap", "secret", "downwardAPI", "projected")
DEFAULT_MODE = 0o644


@dataclass(frozen=True)
class File:
    data: bytes
    mode: int


@dataclass
class Payload:
    """The files of one materialised volume, and what the kubelet would warn about."""

    files: dict[str, File] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class MountError(ValueError):
    """The volume cannot be set up now (the container waits; the kubelet retries)."""


class Unsupported(MountError):
    """A volume kind the local engine cannot give at all."""


def kind_of(volume: Mapping[str, Any]) -> str:
    """The volume's source kind (`configMap`, `emptyDir`, `hostPath`, ...)."""
    return next((k for k in volume if k != "name"), "emptyDir")


def path_errors(path: str) -> str | None:
    """validatePath of the atomic writer: why `path` cannot name a file in a volume."""
    if not path:
        return "path must not be empty"
    if path.startswith("/"):
        return "path must be relative"
    if any(part == ".." for part in path.split("/")):
        return "path must not contain '..'"
    if path.startswith(".."):
        return "path must not start with '..'"
    return None


def _mode(item: Mapping[str, Any], default: int) -> int:
    mode = item.get("mode")
    return int(mode) if isinstance(mode, int) else default


def _put(payload: Payload, path: str, data: bytes, mode: int) -> None:
    problem = path_errors(path)
    if problem:
        raise MountError(f"invalid path {path!r}: {problem}")
    payload.files[path] = File(data, mode & 0o7777)


def _object_files(payload: Payload, kind: str, obj: Mapping[str, Any] | None, name: str,
                  items: list[Any] | None, optional: bool, default_mode: int) -> None:
    """The files of one ConfigMap (`kind` "configmap") or Secret ("secret") source."""
    if obj is None:
        if optional:
            return
        raise MountError(f'{kind} "{name}" not found')
    values = configdata.decoded_data(obj)
    if not items:
        for key, data in values.items():
            _put(payload, key, data, default_mode)
        return
    for item in items:
        key = str(item.get("key", ""))
        if key not in values:
            if optional:
                continue
            what = "config" if kind == "configmap" else "secret"
            raise MountError(f"{kind} references non-existent {what} key: {key}")
        _put(payload, str(item.get("path", key)), values[key], _mode(item, default_mode))


def _downward_files(payload: Payload, items: list[Any], pod: Mapping[str, Any],
                    allocatable: envsources.Allocatable, pod_ip: str, host_ip: str,
                    default_mode: int) -> None:
    for item in items or []:
        path = str(item.get("path", ""))
        try:
            if item.get("fieldRef"):
                value = envsources.field_value(pod, str(item["fieldRef"].get("fieldPath", "")),
                                               pod_ip, host_ip)
            elif item.get("resourceFieldRef"):
                ref = item["resourceFieldRef"]
                target = envsources.container_named(pod, str(ref.get("containerName", "")))
                value = envsources.resource_value(ref, target, allocatable)
            else:
                raise MountError(f"downwardAPI item {path!r} has no fieldRef or "
                                 "resourceFieldRef")
        except envsources.EnvError as exc:
            raise MountError(str(exc)) from None
        _put(payload, path, value.encode(), _mode(item, default_mode))


def payload(volume: Mapping[str, Any], pod: Mapping[str, Any], sources: envsources.Sources,
            pod_ip: str, host_ip: str) -> Payload:
    """The files of a configMap, secret, downwardAPI or projected volume (MountError when it
    cannot be set up now)."""
    kind = kind_of(volume)
    src = volume.get(kind) or {}
    out = Payload()
    default = src.get("defaultMode", DEFAULT_MODE)
    default = int(default) if isinstance(default, int) else DEFAULT_MODE
    if kind == "configMap":
        name = str(src.get("name", ""))
        _object_files(out, "configmap", sources.config_maps.get(name), name, src.get("items"),
                      bool(src.get("optional")), default)
    elif kind == "secret":
        name = str(src.get("secretName", ""))
        _object_files(out, "secret", sources.secrets.get(name), name, src.get("items"),
                      bool(src.get("optional")), default)
    elif kind == "downwardAPI":
        _downward_files(out, src.get("items") or [], pod, sources.allocatable, pod_ip, host_ip,
                        default)
    elif kind == "projected":
        for source in src.get("sources") or []:
            if source.get("configMap") is not None:
                ref = source["configMap"]
                name = str(ref.get("name", ""))
                _object_files(out, "configmap", sources.config_maps.get(name), name,
                              ref.get("items"), bool(ref.get("optional")), default)
            elif source.get("secret") is not None:
                ref = source["secret"]
                name = str(ref.get("name", ""))
                _object_files(out, "secret", sources.secrets.get(name), name, ref.get("items"),
                              bool(ref.get("optional")), default)
            elif source.get("downwardAPI") is not None:
                _downward_files(out, source["downwardAPI"].get("items") or [], pod,
                                sources.allocatable, pod_ip, host_ip, default)
            elif source.get("serviceAccountToken") is not None:
                path = source["serviceAccountToken"].get("path", "token")
                out.warnings.append(
                    f"serviceAccountToken projection {path!r} not written: the local engine "
                    "issues no service account tokens")
            else:
                out.warnings.append(f"projected source {next(iter(source), '?')!r} is not "
                                    "supported by the local engine; skipped")
    else:
        raise Unsupported(f"the local engine cannot provide {kind} volumes")
    return out
