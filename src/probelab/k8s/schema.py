"""Strict field validation: which fields of an object are not in the Kubernetes schema.

The API server's registry calls `unknown_fields` on every write and answers
`strict decoding error: unknown field "spec.foo"` (kubectl sends `fieldValidation=Strict`), so a
typo like `readinesProbe` is an error instead of a silently missing probe. The schema is the
model metadata of the official `kubernetes` client (a runtime dependency): each model class
lists its JSON field names (`attribute_map`) and their types (`openapi_types`), generated from
the upstream OpenAPI document. Free-form values (`object`: IntOrString, Quantity, RawExtension,
`fieldsV1`) are not descended into. Paths use the upstream format: `spec.containers[0].foo`.

Importing the client's models takes about a second, so it happens on first use and every
model's field table is cached.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from typing import Any

_PRIMITIVES = frozenset({"str", "int", "bool", "float", "datetime", "date", "object",
                         "bytearray", "file"})
_LIST = re.compile(r"^list\[(.+)\]$", re.IGNORECASE)
_DICT = re.compile(r"^dict(?:\(str, (.+)\)|\[str, (.+)\])$", re.IGNORECASE)

# Kinds whose client model is not simply `<Version><Kind>` of their group-version.
_MODEL_NAMES = {
    ("v1", "Event"): "CoreV1Event",
    ("v1", "EventList"): "CoreV1EventList",
    ("events.k8s.io/v1", "Event"): "EventsV1Event",
    ("events.k8s.io/v1", "EventList"): "EventsV1EventList",
}


def unknown_fields(obj: Any) -> list[str]:
    """Dotted paths of the fields of `obj` its kind's schema does not know (in object order).

    Objects of a kind the client has no model for are not judged (empty list).
    """
    return _judge(obj, lambda value, model, path, found: _walk(value, model, path, found, False))


def drop_unknown_fields(obj: Any) -> list[str]:
    """Remove from `obj` (in place) the fields `unknown_fields` reports, and return their paths.

    A real API server decodes a body into its Go types, which have no place for an unknown
    field: under `fieldValidation=Warn` or `Ignore` the field is gone from what is stored
    (`staging/src/k8s.io/apiserver/pkg/endpoints/handlers/rest.go`, KEP-2885).
    """
    return _judge(obj, lambda value, model, path, found: _walk(value, model, path, found, True))


def _judge(obj: Any, walk: Callable[[Any, str, str, list[str]], None]) -> list[str]:
    """What `walk` finds in `obj` from its kind's model down; [] for a kind without a model."""
    if not isinstance(obj, dict):
        return []
    model = model_name(obj.get("apiVersion"), obj.get("kind"))
    if model is None:
        return []
    found: list[str] = []
    walk(obj, model, "", found)
    return found


def model_name(api_version: Any, kind: Any) -> str | None:
    """The client model class of a kind (`apps/v1`, `Deployment` -> `V1Deployment`)."""
    if not isinstance(api_version, str) or not isinstance(kind, str) or not kind:
        return None
    name = _MODEL_NAMES.get((api_version, kind))
    if name is None:
        version = api_version.rsplit("/", 1)[-1]
        name = version[:1].upper() + version[1:] + kind
    return name if _fields(name) is not None else None


@functools.cache
def _models() -> Any:
    return importlib.import_module("kubernetes.client.models")


@functools.cache
def _fields(model: str) -> dict[str, str] | None:
    """JSON field name -> client type name, for one model class (None when no such class)."""
    cls = getattr(_models(), model, None)
    types = getattr(cls, "openapi_types", None)
    attributes = getattr(cls, "attribute_map", None)
    if not isinstance(types, dict) or not isinstance(attributes, dict):
        return None
    return {attributes[attr]: type_name for attr, type_name in types.items()
            if attr in attributes}


def _walk(value: Any, type_name: str, path: str, found: list[str], prune: bool) -> None:
    if type_name in _PRIMITIVES or value is None:
        return
    listed = _LIST.match(type_name)
    if listed:
        if isinstance(value, list):
            for i, item in enumerate(value):
                _walk(item, listed.group(1), f"{path}[{i}]", found, prune)
        return
    mapped = _DICT.match(type_name)
    if mapped:
        inner = mapped.group(1) or mapped.group(2)
        if isinstance(value, dict) and inner not in _PRIMITIVES:
            for key, item in value.items():
                _walk(item, inner, f"{path}[{key}]", found, prune)
        return
    fields = _fields(type_name)
    if fields is None or not isinstance(value, dict):
        return
    unknown = []
    for key, item in value.items():
        child = f"{path}.{key}" if path else str(key)
        sub = fields.get(str(key))
        if sub is None:
            found.append(child)
            unknown.append(key)
        else:
            _walk(item, sub, child, found, prune)
    if prune:
        for key in unknown:
            del value[key]


def type_errors(obj: Any) -> list[str]:
    """Fields whose JSON type does not fit the schema (`spec.replicas: expected an integer,
    got a string`), in document order. `null` fits everywhere (it means "not set").

    A real API server fails such a body while decoding it (400 BadRequest, "cannot unmarshal
    string into Go struct field ... of type int32") before any validation runs.
    """
    return _judge(obj, _check_types)


_JSON_NAMES = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
               int: "a number", float: "a number"}
_EXPECTED = {"str": ("a string", (str,)), "datetime": ("a string", (str,)),
             "date": ("a string", (str,)), "int": ("an integer", (int,)),
             "float": ("a number", (int, float)), "bool": ("a boolean", (bool,))}


def _check_types(value: Any, type_name: str, path: str, found: list[str]) -> None:
    if value is None or type_name in ("object", "file", "bytearray"):
        return
    where = path or "the object"
    got = _JSON_NAMES.get(type(value), type(value).__name__)
    if type_name in _EXPECTED:
        expected, kinds = _EXPECTED[type_name]
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if not ok:
            found.append(f"{where}: expected {expected}, got {got}")
        return
    listed = _LIST.match(type_name)
    if listed:
        if not isinstance(value, list):
            found.append(f"{where}: expected a list, got {got}")
            return
        for i, item in enumerate(value):
            _check_types(item, listed.group(1), f"{path}[{i}]", found)
        return
    mapped = _DICT.match(type_name)
    if mapped:
        if not isinstance(value, dict):
            found.append(f"{where}: expected an object, got {got}")
            return
        for key, item in value.items():
            _check_types(item, mapped.group(1) or mapped.group(2), f"{path}[{key}]", found)
        return
    fields = _fields(type_name)
    if fields is None:
        return
    if not isinstance(value, dict):
        found.append(f"{where}: expected an object, got {got}")
        return
    for key, item in value.items():
        sub = fields.get(str(key))
        if sub is not None:
            _check_types(item, sub, f"{path}.{key}" if path else str(key), found)


def warm() -> None:
    """Import the client's models now (an engine may call this at start-up)."""
    _models()
