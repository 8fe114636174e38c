"""The object model: an API object is a plain JSON mapping, exactly what the API serves.

The store keeps these dicts, the API server returns them, the controllers, the kubelet and the
proxy read and write them. There is no second model: where a component needs a typed value (the
kubelet's `probe_rules.ProbeSpec`), it derives it from the dict where it decides.
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


def is_hashable(value: Any) -> bool:
    """Whether a decoded JSON/YAML value can key a dict (a YAML mapping key, a patch list
    element's identity): lists and mappings cannot."""
    try:
        hash(value)
    except TypeError:
        return False
    return True
