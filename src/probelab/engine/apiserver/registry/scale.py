"""The scale subresource (`autoscaling/v1` Scale) of Deployments and ReplicaSets
(`pkg/registry/apps/deployment/storage/storage.go` ScaleREST): read the replica count and the
selector, write only `spec.replicas`."""

from __future__ import annotations

from typing import Any

from probelab.engine.apiserver.status import ApiError, bad_request, conflict, field_cause
from probelab.k8s.labels import SelectorError, from_label_selector
from probelab.k8s.objects import Obj
from probelab.k8s.resources import ResourceInfo


def scale_of(obj: Obj) -> Obj:
    """The autoscaling/v1 Scale view of a Deployment or ReplicaSet."""
    m = obj["metadata"]
    spec = obj.get("spec") or {}
    try:
        selector = selector_string(spec.get("selector"))
    except SelectorError:
        selector = ""
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: m[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                       "creationTimestamp") if k in m},
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                   "selector": selector},
    }


def selector_string(spec: Any) -> str:
    """The string form of a structured label selector (`app=web,tier in (a,b)`)."""
    parts = []
    for req in from_label_selector(spec).requirements:
        values = sorted(req.values)
        if req.op.value == "In" and len(values) == 1:
            parts.append(f"{req.key}={values[0]}")
        elif req.op.value in ("In", "NotIn"):
            parts.append(f"{req.key} {req.op.value.lower()} ({','.join(values)})")
        elif req.op.value == "Exists":
            parts.append(req.key)
        else:
            parts.append(f"!{req.key}")
    return ",".join(parts)


def scaled(info: ResourceInfo, obj: Obj, scale: Any) -> Obj:
    """`obj` with the replicas of the Scale body `scale`, after the Scale's own checks."""
    if not isinstance(scale, dict):
        raise bad_request("Object 'Kind' is missing in the Scale body")
    kind = scale.get("kind") or "Scale"
    if kind != "Scale":
        raise bad_request(f'{kind} cannot be handled as a Scale')
    name = obj["metadata"]["name"]
    wanted_rv = (scale.get("metadata") or {}).get("resourceVersion")
    if wanted_rv and str(wanted_rv) != obj["metadata"]["resourceVersion"]:
        raise conflict(info, name, "the object has been modified; please apply your "
                       "changes to the latest version and try again")
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: '
                       f"spec.replicas: Invalid value: {replicas!r}: must be greater than "
                       "or equal to 0",
                       {"name": name, "group": "autoscaling", "kind": "Scale", "causes": [
                           field_cause("spec.replicas", "must be greater than or equal "
                                       "to 0")]})
    obj["spec"]["replicas"] = replicas
    return obj
