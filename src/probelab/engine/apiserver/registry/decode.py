"""Turning a request body into an object of the served version, as the API server's decoder
does before any rule runs: kind and apiVersion checked against the URL (defaulted from it when
missing), legacy versions converted, wrong types refused (400), unknown fields refused under
`fieldValidation=Strict`, else dropped (with a warning under `Warn`)
(`staging/src/k8s.io/apimachinery/pkg/runtime/serializer`,
`staging/src/k8s.io/apiserver/pkg/endpoints/handlers/rest.go`)."""

from __future__ import annotations

import copy
from typing import Any

from probelab.engine.apiserver import model
from probelab.engine.apiserver.status import bad_request
from probelab.k8s.objects import Obj
from probelab.k8s.resources import ResourceInfo


def decode(info: ResourceInfo, group_version: str, body: Any, field_validation: str,
           ) -> tuple[Obj, list[str]]:
    """Check kind/apiVersion against the URL, convert legacy versions, check unknown fields.

    Missing kind/apiVersion are taken from the URL, as the real decoder defaults them.
    """
    if not isinstance(body, dict):
        raise bad_request(f"Object 'Kind' is missing in '{str(body)[:200]}'")
    obj = copy.deepcopy(body)
    api_version = obj.get("apiVersion") or group_version
    kind = obj.get("kind") or info.kind
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise bad_request("apiVersion and kind must be strings")
    if api_version != group_version:
        raise bad_request(f"the API version in the data ({api_version}) does not match the "
                          f"expected API version ({group_version})")
    if kind != info.kind:
        raise bad_request(f'{kind} in version "{api_version}" cannot be handled as a '
                          f'{info.kind}: no kind "{kind}" is registered for the URL')
    obj["apiVersion"], obj["kind"] = api_version, kind
    check_metadata_types(obj)
    warnings: list[str] = []
    obj, warning = model.to_served_version(obj)
    if warning:
        warnings.append(warning)
    wrong = model.type_errors(obj)
    if wrong:  # a real server fails these while decoding, before any validation
        version = group_version.rsplit("/", 1)[-1]
        raise bad_request(f'{info.kind} in version "{version}" cannot be handled as a '
                          f"{info.kind}: " + "; ".join(wrong))
    # Unknown fields are never stored: refused under Strict, dropped with a warning under
    # Warn (the default), dropped silently under Ignore, as decoding into Go types does.
    unknown = model.drop_unknown_fields(obj)
    if unknown and field_validation == "Strict":
        version = group_version.rsplit("/", 1)[-1]
        raise bad_request(f'{info.kind} in version "{version}" cannot be handled as a '
                          f"{info.kind}: strict decoding error: "
                          + ", ".join(f'unknown field "{p}"' for p in unknown))
    if field_validation == "Warn":
        warnings.extend(f'unknown field "{p}"' for p in unknown)
    obj["apiVersion"], obj["kind"] = info.api_version, info.kind
    return obj, warnings


def check_metadata_types(obj: Obj) -> None:
    """Type errors the real decoder reports before any validation (400)."""
    m = obj.get("metadata", {})
    if not isinstance(m, dict):
        raise bad_request("json: cannot unmarshal into Go struct field .metadata of type "
                          "v1.ObjectMeta (metadata must be an object)")
    for key in ("name", "namespace", "generateName", "resourceVersion", "uid"):
        if key in m and m[key] is not None and not isinstance(m[key], str):
            raise bad_request(f"json: cannot unmarshal {type(m[key]).__name__} into Go struct "
                              f"field ObjectMeta.metadata.{key} of type string")
    for key in ("labels", "annotations"):
        value = m.get(key)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise bad_request(f"json: cannot unmarshal into Go struct field "
                              f"ObjectMeta.metadata.{key} of type map[string]string")
    for key in ("spec", "status"):
        if key in obj and obj[key] is not None and not isinstance(obj[key], dict):
            raise bad_request(f"json: cannot unmarshal {type(obj[key]).__name__} into Go "
                              f"struct field .{key} (must be an object)")


def patch_resource_version(doc: Any) -> str | None:
    if isinstance(doc, dict):
        rv = (doc.get("metadata") or {}).get("resourceVersion")
        return str(rv) if rv else None
    return None
