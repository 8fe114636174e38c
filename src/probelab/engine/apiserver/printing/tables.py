"""Server-side printing: `meta.k8s.io/v1` Table objects, the columns `kubectl get` shows.

`kubectl get` asks the API server for `application/json;as=Table;v=v1;g=meta.k8s.io` and prints
the rows it gets back; without a Table it would print only names. The API server
(`apiserver.server`) calls `to_table` for lists, single objects and each watch event. Like
the real server, every row carries every cell (also the `priority: 1` ones) and kubectl hides
the priority columns unless `-o wide` is given. The cells come from `printing.printers`.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from probelab.engine.apiserver.printing import printers, workloads
from probelab.k8s.objects import Obj


class IncludeObject(Enum):
    """What each row carries besides its cells (`?includeObject=`; kubectl's default: Metadata)."""

    NONE = "None"  # cells only
    METADATA = "Metadata"  # a PartialObjectMetadata (kubectl uses it for -L, --show-labels, -A)
    OBJECT = "Object"  # the whole object (kubectl asks for it with --sort-by)


def _col(name: str, description: str, kind: str = "string", priority: int = 0,
         fmt: str = "") -> dict[str, Any]:
    return {"name": name, "type": kind, "format": fmt, "description": description,
            "priority": priority}


_NAME = _col("Name", "Name of the object, unique within its namespace.", fmt="name")
_AGE = _col("Age", "Time since the object was created (metadata.creationTimestamp).")
_CONTAINERS = _col("Containers", "Names of the containers in the pod template.", priority=1)
_IMAGES = _col("Images", "Images of the containers in the pod template.", priority=1)
_SELECTOR = _col("Selector", "Label selector of the pods this object manages.", priority=1)

Printer = Callable[[Obj, float], list[Any]]

PRINTERS: dict[str, tuple[list[dict[str, Any]], Printer]] = {
    "pods": ([
        _NAME,
        _col("Ready", "Ready containers out of all containers of the pod."),
        _col("Status", "The aggregate state of the pod's containers."),
        _col("Restarts", "Container restarts in this pod, and how long ago the last one was."),
        _AGE,
        _col("IP", "The pod's IP address.", priority=1),
        _col("Node", "The node the pod is bound to.", priority=1),
        _col("Nominated Node", "The node the scheduler nominated for preemption.", priority=1),
        _col("Readiness Gates", "Readiness gates that pass, out of all gates.", priority=1),
    ], printers.pod_cells),
    "deployments": ([
        _NAME,
        _col("Ready", "Ready pods out of the desired replicas."),
        _col("Up-to-date", "Pods that run the current pod template.", "integer"),
        _col("Available", "Pods ready for at least minReadySeconds.", "integer"),
        _AGE, _CONTAINERS, _IMAGES, _SELECTOR,
    ], printers.deployment_cells),
    "replicasets": ([
        _NAME,
        _col("Desired", "The number of pods wanted (spec.replicas).", "integer"),
        _col("Current", "The number of pods that exist (status.replicas).", "integer"),
        _col("Ready", "The number of ready pods (status.readyReplicas).", "integer"),
        _AGE, _CONTAINERS, _IMAGES, _SELECTOR,
    ], printers.replicaset_cells),
    "services": ([
        _NAME,
        _col("Type", "How the service is exposed (ClusterIP, NodePort, LoadBalancer...)."),
        _col("Cluster-IP", "The service's virtual IP inside the cluster."),
        _col("External-IP", "Addresses outside the cluster that reach the service."),
        _col("Port(s)", "Service ports, with their node ports, and protocols."),
        _AGE,
        _col("Selector", "Labels of the pods that back the service.", priority=1),
    ], printers.service_cells),
    "endpoints": ([
        _NAME,
        _col("Endpoints", "Ready pod addresses with their ports (the first three)."),
        _AGE,
    ], printers.endpoints_cells),
    "endpointslices": ([
        _NAME,
        _col("AddressType", "The kind of addresses in the slice (IPv4, IPv6, FQDN)."),
        _col("Ports", "The ports of the slice (the first three)."),
        _col("Endpoints", "The addresses of the slice (the first three)."),
        _AGE,
    ], printers.endpointslice_cells),
    "events": ([
        _col("Last Seen", "Time since the event was last observed."),
        _col("Type", "Normal or Warning."),
        _col("Reason", "Short, machine-readable reason of the event."),
        _col("Object", "The object the event is about (kind/name)."),
        _col("Subobject", "The part of the object the event is about.", priority=1),
        _col("Source", "The component that reported the event.", priority=1),
        _col("Message", "What happened, for humans."),
        _col("First Seen", "Time since the event was first observed.", priority=1),
        _col("Count", "How many times the event was observed.", "integer", priority=1),
        {**_NAME, "priority": 1},
    ], printers.event_cells),
    "namespaces": ([
        _NAME,
        _col("Status", "The phase of the namespace (Active or Terminating)."),
        _AGE,
    ], printers.namespace_cells),
    "nodes": ([
        _NAME,
        _col("Status", "Ready or NotReady, and SchedulingDisabled when cordoned."),
        _col("Roles", "The node's roles (node-role.kubernetes.io/ROLE labels)."),
        _AGE,
        _col("Version", "The kubelet's version (status.nodeInfo.kubeletVersion)."),
        _col("Internal-IP", "The node's InternalIP address.", priority=1),
        _col("External-IP", "The node's ExternalIP address.", priority=1),
        _col("OS-Image", "The operating system image (status.nodeInfo.osImage).", priority=1),
        _col("Kernel-Version", "The kernel version (status.nodeInfo.kernelVersion).",
             priority=1),
        _col("Container-Runtime", "The container runtime and its version.", priority=1),
    ], printers.node_cells),
    "poddisruptionbudgets": ([
        _NAME,
        _col("Min Available", "The minimum number or percentage of available pods."),
        _col("Max Unavailable", "The maximum number or percentage of unavailable pods."),
        _col("Allowed Disruptions", "How many pods may be disrupted now.", "integer"),
        _AGE,
    ], printers.pdb_cells),
    "statefulsets": ([
        _NAME,
        _col("Ready", "Ready pods out of the desired replicas."),
        _AGE, _CONTAINERS, _IMAGES,
    ], workloads.statefulset_cells),
    "daemonsets": ([
        _NAME,
        _col("Desired", "Nodes that should run the daemon pod.", "integer"),
        _col("Current", "Nodes that run at least one daemon pod.", "integer"),
        _col("Ready", "Nodes whose daemon pod is ready.", "integer"),
        _col("Up-to-date", "Nodes that run the current pod template.", "integer"),
        _col("Available", "Nodes whose daemon pod is available.", "integer"),
        _col("Node Selector", "The node selector of the pod template."),
        _AGE, _CONTAINERS, _IMAGES, _SELECTOR,
    ], workloads.daemonset_cells),
    "jobs": ([
        _NAME,
        _col("Status", "Complete, Failed, Running, Suspended..."),
        _col("Completions", "Succeeded pods out of the desired completions."),
        _col("Duration", "How long the job ran, or has been running."),
        _AGE, _CONTAINERS, _IMAGES, _SELECTOR,
    ], workloads.job_cells),
    "cronjobs": ([
        _NAME,
        _col("Schedule", "The cron schedule."),
        _col("Timezone", "The time zone of the schedule."),
        _col("Suspend", "Whether new runs are suspended.", "boolean"),
        _col("Active", "The number of running jobs.", "integer"),
        _col("Last Schedule", "Time since the last job was scheduled."),
        _AGE, _CONTAINERS, _IMAGES, _SELECTOR,
    ], workloads.cronjob_cells),
    "ingresses": ([
        _NAME,
        _col("Class", "The ingress class."),
        _col("Hosts", "The hosts of the rules."),
        _col("Address", "Addresses of the load balancer."),
        _col("Ports", "The ports the ingress serves."),
        _AGE,
    ], workloads.ingress_cells),
    "horizontalpodautoscalers": ([
        _NAME,
        _col("Reference", "The scaled object (kind/name)."),
        _col("Targets", "Current and target values of the metrics."),
        _col("MinPods", "The lower limit of replicas."),
        _col("MaxPods", "The upper limit of replicas.", "integer"),
        _col("Replicas", "The current number of replicas.", "integer"),
        _AGE,
    ], workloads.hpa_cells),
    "controllerrevisions": ([
        _NAME,
        _col("Controller", "The object this revision belongs to."),
        _col("Revision", "The revision number.", "integer"),
        _AGE,
    ], workloads.controllerrevision_cells),
    "ingressclasses": ([
        _NAME,
        _col("Controller", "The controller that implements the class."),
        _col("Parameters", "The class's parameters object."),
        _AGE,
    ], workloads.ingressclass_cells),
    "configmaps": ([
        _NAME, _col("Data", "The number of keys (data and binaryData).", "integer"), _AGE,
    ], printers.configmap_cells),
    "secrets": ([
        _NAME, _col("Type", "The type of the secret."),
        _col("Data", "The number of keys in data.", "integer"), _AGE,
    ], printers.secret_cells),
}

_DEFAULT: tuple[list[dict[str, Any]], Printer] = ([_NAME, _AGE], printers.default_cells)


def columns(resource: str) -> list[dict[str, Any]]:
    """The column definitions of a resource's Table (copies, safe to change)."""
    return [dict(c) for c in PRINTERS.get(resource, _DEFAULT)[0]]


def _row_object(obj: Obj, include: IncludeObject) -> Obj | None:
    if include is IncludeObject.OBJECT:
        return obj
    if include is IncludeObject.METADATA:
        return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata") or {}}
    return None


def to_table(
    resource: str,
    objects: list[Obj],
    now: float,
    include_object: IncludeObject | str = IncludeObject.METADATA,
    resource_version: str | None = None,
    continue_token: str | None = None,
) -> Obj:
    """A `meta.k8s.io/v1` Table of `objects` (one object for a get or a watch event)."""
    include = IncludeObject(include_object)
    cols, printer = PRINTERS.get(resource, _DEFAULT)
    rows = []
    for obj in objects:
        row: Obj = {"cells": printer(obj, now)}
        if resource == "pods" and (conditions := printers.pod_conditions(obj)):
            row["conditions"] = conditions
        if (row_obj := _row_object(obj, include)) is not None:
            row["object"] = row_obj
        rows.append(row)
    metadata: Obj = {}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [dict(c) for c in cols],
        "rows": rows,
    }


def wants_table(accept: str | None) -> bool:
    """True when an Accept header asks for a Table (`application/json;as=Table;v=v1;g=...`).

    kubectl lists the Table types first and plain JSON last; the server picks the first it
    can serve, so the Table wins whenever one is listed in a JSON flavour.
    """
    for media in (accept or "").split(","):
        params = [part.strip() for part in media.split(";")]
        if params[0] not in ("application/json", "*/*"):
            continue
        opts = dict(part.split("=", 1) for part in params[1:] if "=" in part)
        if opts.get("as") == "Table" and opts.get("g", "meta.k8s.io") == "meta.k8s.io":
            return True
    return False
