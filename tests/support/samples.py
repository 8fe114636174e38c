"""Small, valid objects for the k8s model tests; each test changes one field and looks."""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]

_DEPLOYMENT: Obj = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "simpleprobe", "namespace": "probes"},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "simpleprobe"}},
        "template": {
            "metadata": {"labels": {"app": "simpleprobe"}},
            "spec": {
                "containers": [{
                    "name": "simpleweb",
                    "image": "probelab/simpleweb:1.0",
                    "ports": [{"name": "http", "containerPort": 8080},
                              {"name": "admin", "containerPort": 8081}],
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": "admin"}},
                    "lifecycle": {"preStop": {"httpGet": {"path": "/prestop",
                                                          "port": "admin"}}},
                }],
            },
        },
    },
}

_SERVICE: Obj = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "simpleprobe", "namespace": "probes"},
    "spec": {"type": "NodePort", "selector": {"app": "simpleprobe"},
             "ports": [{"port": 80, "targetPort": "http"}]},
}


def deployment() -> Obj:
    return copy.deepcopy(_DEPLOYMENT)


def service() -> Obj:
    return copy.deepcopy(_SERVICE)


def pod() -> Obj:
    template = _DEPLOYMENT["spec"]["template"]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "simpleprobe-abc", "namespace": "probes",
                         "labels": dict(template["metadata"]["labels"])},
            "spec": copy.deepcopy(template["spec"])}


def container(obj: Obj) -> Obj:
    """The first container of a Deployment or a Pod."""
    spec = obj["spec"]["template"]["spec"] if obj["kind"] == "Deployment" else obj["spec"]
    return spec["containers"][0]


def set_path(obj: Obj, dotted: str, value: Any) -> Obj:
    """Set `a.b[0].c` in `obj` (created maps along the way); `...` as value deletes it."""
    parts: list[str | int] = []
    for piece in dotted.split("."):
        name, _, rest = piece.partition("[")
        parts.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            parts.append(int(index))
            rest = rest.lstrip("[")
    node: Any = obj
    for part in parts[:-1]:
        node = node[part] if isinstance(part, int) else node.setdefault(part, {})
    if value is ...:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return obj
