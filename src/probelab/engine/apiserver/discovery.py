"""Which group-versions the engine serves, and the legacy discovery documents that list them.

Shapes follow `staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/types.go` (APIVersions,
APIGroupList, APIGroup, APIResourceList). Clients that ask for aggregated discovery
(`as=APIGroupDiscoveryList`) get these plain documents and fall back, as kubectl does.
Legacy Deployment versions (`extensions/v1beta1`, `apps/v1beta1`, `apps/v1beta2`) are served
for old manifests only (real servers dropped them in 1.16); they are converted to apps/v1 on the
way in.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from typing import Any

from probelab.engine.core.version import GIT_VERSION, KUBE_MAJOR, KUBE_MINOR
from probelab.k8s.resources import BY_PLURAL, RESOURCES, ResourceInfo

# group -> its versions, preferred first
GROUP_VERSIONS: dict[str, tuple[str, ...]] = {
    "apps": ("v1", "v1beta2", "v1beta1"),
    "discovery.k8s.io": ("v1",),
    "extensions": ("v1beta1",),
    "policy": ("v1",),
    "batch": ("v1",),
    "networking.k8s.io": ("v1",),
    "autoscaling": ("v2",),
}

LEGACY: frozenset[str] = frozenset({"extensions/v1beta1", "apps/v1beta1", "apps/v1beta2"})

# Verbs of subresources (`pkg/registry/...` REST storages: scale and status get/patch/update).
SUBRESOURCE_VERBS = {"status": ("get", "patch", "update"), "scale": ("get", "patch", "update"),
                     "log": ("get",), "eviction": ("create",), "exec": ("create", "get"),
                     "attach": ("create", "get"),
                     "portforward": ("create", "get")}
# Kinds of the streaming subresources' options (`pkg/api/v1/...` PodExecOptions, ...).
SUBRESOURCE_KINDS = {"exec": "PodExecOptions", "attach": "PodAttachOptions",
                     "portforward": "PodPortForwardOptions"}


@dataclass(frozen=True)
class Served:
    """One resource as served under one group-version (legacy versions reuse apps/v1 storage)."""

    info: ResourceInfo
    group_version: str

    @property
    def legacy(self) -> bool:
        return self.group_version in LEGACY


def served_resources(group_version: str) -> dict[str, Served]:
    """plural -> Served for a group-version ("v1", "apps/v1", ...); empty if not served."""
    if group_version in LEGACY:
        return {"deployments": Served(BY_PLURAL["deployments"], group_version)}
    return {r.plural: Served(r, group_version) for r in RESOURCES
            if r.api_version == group_version}


def version_info() -> dict[str, str]:
    return {
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "compiler": "cpython",
        "platform": f"{sys.platform}/{platform.machine()}",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                        "serverAddress": server_address}],
    }


def _group_doc(group: str) -> dict[str, Any]:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in GROUP_VERSIONS[group]]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group(group: str) -> dict[str, Any] | None:
    if group not in GROUP_VERSIONS:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group)}


def api_group_list() -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group_doc(g) for g in GROUP_VERSIONS]}


def _resource_entry(info: ResourceInfo, legacy: bool = False) -> dict[str, Any]:
    """One APIResource; legacy versions carry no short names or categories, so that `deploy`
    and `all` resolve to apps/v1 alone (kubectl warns when a short name matches twice)."""
    entry: dict[str, Any] = {
        "name": info.plural,
        "singularName": info.singular,
        "namespaced": info.namespaced,
        "kind": info.kind,
        "verbs": list(info.verbs),
    }
    if legacy:
        return entry
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    return entry


def _subresource_entry(info: ResourceInfo, sub: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": f"{info.plural}/{sub}", "singularName": "",
                             "namespaced": info.namespaced, "kind": info.kind,
                             "verbs": list(SUBRESOURCE_VERBS.get(sub, ("get",)))}
    if sub == "scale":
        entry.update(group="autoscaling", version="v1", kind="Scale")
    if sub in SUBRESOURCE_KINDS:
        entry["kind"] = SUBRESOURCE_KINDS[sub]
    if sub == "eviction":  # kubectl drain finds the Eviction version here
        entry.update(group="policy", version="v1", kind="Eviction")
    return entry


def api_resource_list(group_version: str) -> dict[str, Any] | None:
    served = served_resources(group_version)
    if not served:
        return None
    resources = []
    for s in served.values():
        resources.append(_resource_entry(s.info, s.legacy))
        resources.extend(_subresource_entry(s.info, sub) for sub in s.info.subresources)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": resources}
