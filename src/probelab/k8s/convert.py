"""Conversion of legacy Deployments and ReplicaSets (`extensions/v1beta1`, `apps/v1beta1`,
`apps/v1beta2`) to the `apps/v1` objects the engine serves.

The 2017 manifests this project started from use `extensions/v1beta1`; Kubernetes stopped serving
these versions in 1.16. The API server's registry (before defaulting) and the CLI's manifest
loader call `to_served_version`, which applies what the old version defaulted differently and
drops what apps/v1 lacks, so the object behaves as it did on the cluster it was written for:

- `extensions/v1beta1` and `apps/v1beta1` defaulted `spec.selector` (and empty
  `metadata.labels`) from the template labels (`pkg/apis/extensions/v1beta1/defaults.go`,
  `pkg/apis/apps/v1beta1/defaults.go`); `apps/v1beta2` already required a selector.
- `extensions/v1beta1` rolled with maxSurge 1 / maxUnavailable 1 and kept every old ReplicaSet
  with no progress deadline (both max int32); `apps/v1beta1` kept 2 old ReplicaSets.
- `spec.rollbackTo` (the pre-`kubectl rollout undo` rollback request) does not exist in apps/v1.

The warning has the wording of the API server's deprecation warnings
(`staging/src/k8s.io/apiserver/pkg/endpoints/deprecation/deprecation.go`), with the releases
from the generated `zz_generated.prerelease-lifecycle.go` of each version.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from probelab.k8s.objects import Obj

SERVED_VERSION = "apps/v1"
MAX_INT32 = 2**31 - 1
REMOVED_IN = "1.16"


@dataclass(frozen=True)
class Legacy:
    """What one old group-version of one kind did differently from apps/v1."""

    deprecated_in: str
    selector_from_labels: bool
    rolling_update: dict[str, Any] = field(default_factory=dict)  # maxSurge/maxUnavailable
    spec_defaults: dict[str, Any] = field(default_factory=dict)  # when absent
    dropped: tuple[str, ...] = ()  # spec fields apps/v1 lacks


_EXTENSIONS_DEPLOYMENT = Legacy(
    "1.8", True, {"maxSurge": 1, "maxUnavailable": 1},
    {"revisionHistoryLimit": MAX_INT32, "progressDeadlineSeconds": MAX_INT32}, ("rollbackTo",))

LEGACY: dict[tuple[str, str], Legacy] = {
    ("extensions/v1beta1", "Deployment"): _EXTENSIONS_DEPLOYMENT,
    ("apps/v1beta1", "Deployment"): Legacy(
        "1.8", True, spec_defaults={"revisionHistoryLimit": 2}, dropped=("rollbackTo",)),
    ("apps/v1beta2", "Deployment"): Legacy("1.9", False),
    ("extensions/v1beta1", "ReplicaSet"): Legacy("1.8", True),
    ("apps/v1beta2", "ReplicaSet"): Legacy("1.9", False),
}


def deprecation_warning(api_version: str, kind: str) -> str:
    legacy = LEGACY[(api_version, kind)]
    return (f"{api_version} {kind} is deprecated in v{legacy.deprecated_in}+, unavailable in "
            f"v{REMOVED_IN}+; use {SERVED_VERSION} {kind}")


def is_legacy(obj: Any) -> bool:
    return isinstance(obj, dict) and _key(obj) in LEGACY


def to_served_version(obj: Any) -> tuple[Any, str | None]:
    """(the apps/v1 object, the deprecation warning) — or (obj, None) when nothing to convert."""
    if not is_legacy(obj):
        return obj, None
    api_version, kind = _key(obj)
    legacy = LEGACY[(api_version, kind)]
    out = copy.deepcopy(obj)
    out["apiVersion"] = SERVED_VERSION
    spec = out.get("spec")
    if isinstance(spec, dict):
        _convert_spec(out, spec, legacy, kind)
    return out, deprecation_warning(api_version, kind)


def _key(obj: Obj) -> tuple[str, str]:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if isinstance(api_version, str) and isinstance(kind, str):
        return api_version, kind
    return "", ""


def _convert_spec(obj: Obj, spec: Obj, legacy: Legacy, kind: str) -> None:
    for name in legacy.dropped:
        spec.pop(name, None)
    template = spec.get("template")
    meta = template.get("metadata") if isinstance(template, dict) else None
    labels = meta.get("labels") if isinstance(meta, dict) else None
    if legacy.selector_from_labels and isinstance(labels, dict):
        if spec.get("selector") is None:
            spec["selector"] = {"matchLabels": dict(labels)}
        obj_meta = obj.get("metadata")
        if isinstance(obj_meta, dict) and not obj_meta.get("labels"):
            obj_meta["labels"] = dict(labels)
    for name, value in legacy.spec_defaults.items():
        if spec.get(name) is None:
            spec[name] = value
    if kind == "Deployment" and legacy.rolling_update:
        _legacy_strategy(spec, legacy.rolling_update)


def _legacy_strategy(spec: Obj, defaults: dict[str, Any]) -> None:
    """extensions/v1beta1 defaulted the rolling update whenever it was (or was set to be) used."""
    strategy = spec.get("strategy")
    if strategy is None:
        strategy = spec["strategy"] = {}
    if not isinstance(strategy, dict):
        return
    if strategy.get("type") is None:
        strategy["type"] = "RollingUpdate"
    if strategy["type"] != "RollingUpdate" and strategy.get("rollingUpdate") is None:
        return
    rolling = strategy.get("rollingUpdate")
    if rolling is None:
        rolling = strategy["rollingUpdate"] = {}
    if isinstance(rolling, dict):
        for name, value in defaults.items():
            if rolling.get(name) is None:
                rolling[name] = value
