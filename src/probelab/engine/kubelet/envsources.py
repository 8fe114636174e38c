"""Where a container's environment variables come from besides literal values: ConfigMaps,
Secrets, the pod itself (downward API) and the container's resources. Pure: the caller passes
what the kubelet would have fetched (`Sources`), and gets the variables or the error the
container waits with.

Sources (kubernetes/kubernetes):
- `pkg/kubelet/kubelet_pods.go` makeEnvironmentVariables: `envFrom` first (a ConfigMap's
  `data`, a Secret's decoded `data`, each key with the optional `prefix`; keys that are not
  valid variable names are skipped and named in an `InvalidEnvironmentVariableNames` Warning),
  then `env` in order, a literal value `$(VAR)`-expanded against what is defined so far; a
  missing object is the manager's NotFound (`configmap "x" not found`, `secret "x" not found`),
  a missing key `couldn't find key K in ConfigMap ns/name` (or Secret); `optional: true` skips
  either. Only `data` counts, never a ConfigMap's `binaryData`.
- `pkg/fieldpath/fieldpath.go` ExtractFieldPathAsString and `podFieldSelectorRuntimeValue`
  (status.podIP(s), status.hostIP(s), spec.nodeName, spec.serviceAccountName).
- `pkg/api/v1/resource/helpers.go` ExtractContainerResourceValue: limits/requests of cpu,
  memory and ephemeral-storage, divided by `divisor` (default 1) and rounded up; cpu in
  millicores first. The kubelet fills unset limits with the node's allocatable
  (`defaultPodLimitsForDownwardAPI`); unset requests are 0.
- `staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go` IsEnvVarName.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from probelab.k8s import configdata

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_FIELD_INDEX = re.compile(r"^metadata\.(labels|annotations)\['([^']*)'\]$")
RESOURCES = ("cpu", "memory", "ephemeral-storage")


class EnvError(ValueError):
    """An env entry that cannot be resolved (the container waits in
    CreateContainerConfigError with this message)."""


@dataclass(frozen=True)
class Allocatable:
    """The node's allocatable resources: what an unset limit reads as."""

    cpu_milli: int = 1000
    memory: int = 0
    ephemeral_storage: int = 0

    def of(self, resource: str) -> Decimal:
        if resource == "cpu":
            return Decimal(self.cpu_milli) / 1000
        return Decimal(self.memory if resource == "memory" else self.ephemeral_storage)


@dataclass(frozen=True)
class Sources:
    """What the kubelet fetched for one pod: its namespace's ConfigMaps and Secrets (by name;
    a name that is absent does not exist) and the node's allocatable resources."""

    config_maps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    secrets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    allocatable: Allocatable = field(default_factory=Allocatable)


def is_env_var_name(name: str) -> bool:
    """IsEnvVarName: `[-._a-zA-Z][-._a-zA-Z0-9]*`, and not `.`, `..` or `..`-prefixed."""
    return bool(_ENV_NAME.match(name)) and name not in (".", "..") and not name.startswith("..")


# ---- quantities ------------------------------------------------------------------------------
_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
           "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
           "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")


def parse_quantity(text: Any) -> Decimal:
    """A resource.Quantity string (`500m`, `128Mi`, `1e3`, 2) as a number."""
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise EnvError(f"quantities must match the regular expression "
                       f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {text!r}")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        raise EnvError(f"invalid quantity {text!r}") from None
    suffix = match.group(2) or ""
    if suffix[:1] in ("e", "E"):
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * Decimal(_SUFFIX[suffix])


def resource_value(ref: Mapping[str, Any], container: Mapping[str, Any],
                   allocatable: Allocatable) -> str:
    """ExtractContainerResourceValue of `container`, limits defaulted to `allocatable`."""
    which = str(ref.get("resource", ""))
    kind, _, resource = which.partition(".")
    if kind not in ("limits", "requests") or resource not in RESOURCES:
        raise EnvError(f"unsupported container resource : {which}")
    divisor = parse_quantity(ref.get("divisor") or "1")
    if divisor == 0:
        divisor = Decimal(1)
    values = (container.get("resources") or {}).get(kind) or {}
    if resource in values:
        amount = parse_quantity(values[resource])
    elif kind == "limits":
        amount = allocatable.of(resource)
    else:
        amount = Decimal(0)
    if resource == "cpu":  # in millicores, each rounded up, as Quantity.MilliValue does
        ratio = math.ceil(amount * 1000) / math.ceil(divisor * 1000)
    else:
        ratio = math.ceil(amount) / math.ceil(divisor)
    return str(math.ceil(ratio))


def field_value(pod: Mapping[str, Any], path: str, pod_ip: str, host_ip: str) -> str:
    """The downward API value of a `fieldRef.fieldPath`."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return str(simple[path] or "")
    match = _FIELD_INDEX.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):  # volumes only: key="value" lines
        items = sorted((meta.get(path.split(".")[1]) or {}).items())
        return "\n".join(f'{k}="{v}"' for k, v in items)
    raise EnvError(f'unsupported fieldRef fieldPath "{path}"')


def container_named(pod: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    for c in (pod.get("spec") or {}).get("containers") or []:
        if c.get("name") == name:
            return c
    raise EnvError(f"container {name} not found")


# ---- env and envFrom -------------------------------------------------------------------------
@dataclass
class Resolution:
    """The resolved variables (in order), and the Warning Events to record."""

    env: dict[str, str]
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (reason, message)


def _lookup(kind: str, store: Mapping[str, Mapping[str, Any]], name: str, optional: bool,
            ) -> Mapping[str, Any] | None:
    obj = store.get(name)
    if obj is None and not optional:
        raise EnvError(f'{kind} "{name}" not found')
    return obj


def _values(kind: str, obj: Mapping[str, Any]) -> dict[str, str]:
    """The `data` of a ConfigMap, or the decoded `data` of a Secret."""
    if kind == "secret":
        return {k: (configdata.decode_b64(v) or b"").decode(errors="replace")
                for k, v in (obj.get("data") or {}).items()}
    return {k: str(v) for k, v in (obj.get("data") or {}).items()}


def resolve(pod: Mapping[str, Any], container: Mapping[str, Any], base: Mapping[str, str],
            sources: Sources, pod_ip: str, host_ip: str, expand: Any) -> Resolution:
    """`base` plus the container's envFrom and env, as makeEnvironmentVariables orders them.
    `expand(text, env)` is the `$(VAR)` expansion (command.expand)."""
    namespace = str((pod.get("metadata") or {}).get("namespace", ""))
    out = Resolution(dict(base))
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        for key, label, store in (("configMapRef", "configmap", sources.config_maps),
                                  ("secretRef", "secret", sources.secrets)):
            ref = source.get(key)
            if ref is None:
                continue
            name = str(ref.get("name", ""))
            obj = _lookup(label, store, name, bool(ref.get("optional")))
            if obj is None:
                continue
            invalid = []
            for k, v in _values(label, obj).items():
                k = prefix + k
                if not is_env_var_name(k):
                    invalid.append(k)
                    continue
                out.env[k] = v
            if invalid:
                what = "configMap" if label == "configmap" else "secret"
                out.warnings.append(("InvalidEnvironmentVariableNames",
                                     f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom "
                                     f"{what} {namespace}/{name} were skipped since they are "
                                     "considered invalid environment variable names."))
    for entry in container.get("env") or []:
        name = str(entry.get("name", ""))
        value_from = entry.get("valueFrom")
        if not value_from:
            out.env[name] = expand(str(entry.get("value") or ""), out.env)
            continue
        value = _value_from(pod, container, value_from, sources, pod_ip, host_ip, namespace)
        if value is not None:
            out.env[name] = value
    return out


def _value_from(pod: Mapping[str, Any], container: Mapping[str, Any],
                source: Mapping[str, Any], sources: Sources, pod_ip: str, host_ip: str,
                namespace: str) -> str | None:
    """One `valueFrom`; None when an optional source is missing (the variable is unset)."""
    if source.get("fieldRef"):
        return field_value(pod, str(source["fieldRef"].get("fieldPath", "")), pod_ip, host_ip)
    if source.get("resourceFieldRef"):
        ref = source["resourceFieldRef"]
        target = (container_named(pod, str(ref["containerName"])) if ref.get("containerName")
                  else container)
        return resource_value(ref, target, sources.allocatable)
    for key, label, title, store in (
            ("configMapKeyRef", "configmap", "ConfigMap", sources.config_maps),
            ("secretKeyRef", "secret", "Secret", sources.secrets)):
        ref = source.get(key)
        if ref is None:
            continue
        name, wanted = str(ref.get("name", "")), str(ref.get("key", ""))
        optional = bool(ref.get("optional"))
        obj = _lookup(label, store, name, optional)
        if obj is None:
            return None
        values = _values(label, obj)
        if wanted not in values:
            if optional:
                return None
            raise EnvError(f"couldn't find key {wanted} in {title} {namespace}/{name}")
        return values[wanted]
    kind = next(iter(source), "valueFrom")
    raise EnvError(f"{kind} is not supported by the local engine")


def referenced(pod: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """The names of the ConfigMaps and Secrets a pod's containers and volumes refer to (what
    the kubelet would fetch for it)."""
    spec = pod.get("spec") or {}
    cms: set[str] = set()
    secrets: set[str] = set()
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            for src in c.get("envFrom") or []:
                if src.get("configMapRef"):
                    cms.add(str(src["configMapRef"].get("name", "")))
                if src.get("secretRef"):
                    secrets.add(str(src["secretRef"].get("name", "")))
            for entry in c.get("env") or []:
                vf = entry.get("valueFrom") or {}
                if vf.get("configMapKeyRef"):
                    cms.add(str(vf["configMapKeyRef"].get("name", "")))
                if vf.get("secretKeyRef"):
                    secrets.add(str(vf["secretKeyRef"].get("name", "")))
    for volume in spec.get("volumes") or []:
        if volume.get("configMap"):
            cms.add(str(volume["configMap"].get("name", "")))
        if volume.get("secret"):
            secrets.add(str(volume["secret"].get("secretName", "")))
        for src in (volume.get("projected") or {}).get("sources") or []:
            if src.get("configMap"):
                cms.add(str(src["configMap"].get("name", "")))
            if src.get("secret"):
                secrets.add(str(src["secret"].get("name", "")))
    return cms, secrets
