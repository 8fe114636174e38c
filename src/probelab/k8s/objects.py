"""The object model: an API object is a plain JSON mapping, exactly what the API serves.

The store keeps these dicts, the API server returns them, the controllers, the kubelet and the
proxy read and write them. There is no second model: where a component decides on a part of an
object (a probe, a hook, a container's ports), it reads it through the typed, read-only views
of `probelab.k8s.views`, built from the dict on demand.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def meta(obj: Obj) -> Obj:
    """`metadata` of an object, or an empty mapping; never creates it (read-only use)."""
    return obj.get("metadata") or {}


def spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def status(obj: Obj) -> Obj:
    return obj.get("status") or {}
