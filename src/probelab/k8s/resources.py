"""The table of resources the local engine serves, with their API group, version and kind.

The store, the API server's routes and discovery, and kubectl's resource lookups all read this
one table, so adding a resource is one line here (plus its rules in the registry).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResourceInfo:
    """One served resource (`plural` is the URL segment and the store's key)."""

    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = (
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch",
    )
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


RESOURCES: tuple[ResourceInfo, ...] = (
    ResourceInfo("", "v1", "Namespace", "namespaces", False, ("ns",), ("status",)),
    ResourceInfo("", "v1", "Pod", "pods", True, ("po",),
                 ("status", "log", "eviction", "exec", "attach", "portforward"),
                 categories=("all",)),
    ResourceInfo("", "v1", "Service", "services", True, ("svc",), ("status",), categories=("all",)),
    ResourceInfo("", "v1", "Endpoints", "endpoints", True, ("ep",)),
    ResourceInfo("", "v1", "Event", "events", True, ("ev",)),
    ResourceInfo("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
    ResourceInfo("", "v1", "Secret", "secrets", True),
    ResourceInfo("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    ResourceInfo(
        "apps", "v1", "Deployment", "deployments", True, ("deploy",), ("status", "scale"),
        categories=("all",),
    ),
    ResourceInfo(
        "apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), ("status", "scale"),
        categories=("all",),
    ),
    ResourceInfo("", "v1", "Node", "nodes", False, ("no",), ("status",)),
    ResourceInfo("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",),
                 ("status",)),
    ResourceInfo(
        "apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), ("status", "scale"),
        categories=("all",),
    ),
    ResourceInfo(
        "apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), ("status",), categories=("all",),
    ),
    ResourceInfo("apps", "v1", "ControllerRevision", "controllerrevisions", True),
    ResourceInfo("batch", "v1", "Job", "jobs", True, (), ("status",), categories=("all",)),
    ResourceInfo("batch", "v1", "CronJob", "cronjobs", True, ("cj",), ("status",),
                 categories=("all",)),
    ResourceInfo("networking.k8s.io", "v1", "Ingress", "ingresses", True, ("ing",), ("status",)),
    ResourceInfo("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    ResourceInfo(
        "autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True,
        ("hpa",), ("status",), categories=("all",),
    ),
)

BY_PLURAL: dict[str, ResourceInfo] = {r.plural: r for r in RESOURCES}
BY_KIND: dict[str, ResourceInfo] = {r.kind: r for r in RESOURCES}

# Legacy group-versions still accepted for Deployments and ReplicaSets and converted to apps/v1.
# Real API servers stopped serving them in 1.16 (kubernetes CHANGELOG/CHANGELOG-1.16.md); old
# manifests still use them, so the engine takes them with a deprecation warning (docs/api.md).
LEGACY_WORKLOAD_VERSIONS: frozenset[str] = frozenset(
    {"extensions/v1beta1", "apps/v1beta1", "apps/v1beta2"}
)


def for_kind(kind: str) -> ResourceInfo | None:
    """The served resource of a kind (`Deployment` -> deployments), or None."""
    return BY_KIND.get(kind)


def for_plural(plural: str) -> ResourceInfo | None:
    return BY_PLURAL.get(plural)
