"""Which lists a strategic merge patch merges, and by which key.

In Kubernetes this is metadata on the Go API types (`patchStrategy:"merge"` and
`patchMergeKey:"name"` struct tags in `staging/src/k8s.io/api/core/v1/types.go`, `apps/v1`,
`meta/v1`); every other list is replaced as a whole. This table holds those tags for the kinds the
engine serves. `patch.strategic_merge_patch` asks it about every list it meets.
"""

from __future__ import annotations

# Where the PodSpec sits in each kind that has one.
POD_SPEC_AT: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
}

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")

# PodSpec list -> merge key
POD_SPEC_LISTS = {
    **{name: "name" for name in CONTAINER_LISTS},
    "volumes": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "schedulingGates": "name",
}

# Container list -> merge key
CONTAINER_FIELD_LISTS = {
    "ports": "containerPort",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
}

# ObjectMeta list -> merge key ("" = a set of primitive values)
METADATA_LISTS = {"finalizers": "", "ownerReferences": "uid"}

# Lists of particular kinds, by full path
KIND_LISTS = {
    ("Service", ("spec", "ports")): "port",
    ("Deployment", ("status", "conditions")): "type",
    ("ReplicaSet", ("status", "conditions")): "type",
    ("Pod", ("status", "conditions")): "type",
    ("Namespace", ("status", "conditions")): "type",
}


def list_strategy(kind: str, path: tuple[str, ...]) -> str | None:
    """The merge key of the list at `path` (map keys from the object root) in a `kind`.

    None: the list is replaced by the patch's list. "": merged as a set of primitive values.
    """
    if (kind, path) in KIND_LISTS:
        return KIND_LISTS[(kind, path)]
    if len(path) >= 2 and path[-2] == "metadata" and path[-1] in METADATA_LISTS:
        return METADATA_LISTS[path[-1]]
    pod = POD_SPEC_AT.get(kind)
    if pod is None or path[: len(pod)] != pod:
        return None
    rest = path[len(pod):]
    if len(rest) == 1:
        return POD_SPEC_LISTS.get(rest[0])
    if len(rest) == 2 and rest[0] in CONTAINER_LISTS:
        return CONTAINER_FIELD_LISTS.get(rest[1])
    return None
