"""The one place the API layer calls the pure `probelab.k8s` model: defaulting, validation,
legacy conversion, unknown-field detection and patch application.

Kept as a thin adapter so the registry reads as Kubernetes rules, and so the shape of the model's
results (FieldError, warnings) is translated into Status causes in one spot.
"""

from __future__ import annotations

import copy
from typing import Any

from probelab.engine.api.status import ApiError, field_cause

# The model modules land in parallel; until each exists the API serves without that step.
try:
    from probelab.k8s import defaults
except ImportError:  # pragma: no cover - transitional
    defaults = None  # type: ignore[assignment]
try:
    from probelab.k8s import validation
except ImportError:  # pragma: no cover - transitional
    validation = None  # type: ignore[assignment]
try:
    from probelab.k8s import convert
except ImportError:  # pragma: no cover - transitional
    convert = None  # type: ignore[assignment]
try:
    from probelab.k8s import schema
except ImportError:  # pragma: no cover - transitional
    schema = None  # type: ignore[assignment]
try:
    from probelab.k8s import patch
except ImportError:  # pragma: no cover - transitional
    patch = None  # type: ignore[assignment]

Obj = dict[str, Any]


def apply_defaults(obj: Obj) -> Obj:
    return defaults.apply_defaults(obj) if defaults else copy.deepcopy(obj)


def validate(obj: Obj, old: Obj | None = None) -> list[dict[str, str]]:
    """Field errors of `obj` as Status causes (`reason`, `message`, `field`)."""
    causes = []
    for err in validation.validate(obj, old) if validation else ():
        field = getattr(err, "field", "") or ""
        message = getattr(err, "message", None) or getattr(err, "detail", None) or str(err)
        reason = getattr(err, "reason", None) or _REASONS.get(
            str(getattr(getattr(err, "type", None), "name", "")), "FieldValueInvalid")
        causes.append(field_cause(field, str(message), str(reason)))
    return causes


_REASONS = {
    "REQUIRED": "FieldValueRequired",
    "INVALID": "FieldValueInvalid",
    "NOT_SUPPORTED": "FieldValueNotSupported",
    "FORBIDDEN": "FieldValueForbidden",
    "DUPLICATE": "FieldValueDuplicate",
    "TOO_LONG": "FieldValueTooLong",
}


def to_served_version(obj: Obj) -> tuple[Obj, str | None]:
    """Legacy Deployment versions -> apps/v1 (with the deprecation warning), others unchanged."""
    if convert is not None:
        return convert.to_served_version(obj)
    if obj.get("apiVersion") in ("extensions/v1beta1", "apps/v1beta1", "apps/v1beta2"):
        obj = copy.deepcopy(obj)
        warning = (f"{obj['apiVersion']} {obj.get('kind')} is deprecated in v1.9+, "
                   f"unavailable in v1.16+; use apps/v1 {obj.get('kind')}")
        obj["apiVersion"] = "apps/v1"
        spec = obj.setdefault("spec", {})
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
        if not spec.get("selector") and labels:
            spec["selector"] = {"matchLabels": dict(labels)}
        return obj, warning
    return obj, None


def warm() -> None:
    """Load the schema tables now, so the first write does not pay for it."""
    if schema is not None and hasattr(schema, "warm"):
        schema.warm()


def unknown_fields(obj: Obj) -> list[str]:
    return list(schema.unknown_fields(obj)) if schema else []


class PatchType:
    MERGE = "application/merge-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"
    JSON = "application/json-patch+json"
    APPLY_YAML = "application/apply-patch+yaml"
    APPLY_CBOR = "application/apply-patch+cbor"


SUPPORTED_PATCHES = (PatchType.JSON, PatchType.MERGE, PatchType.STRATEGIC)


def apply_patch(target: Obj, patch_doc: Any, patch_type: str, kind: str) -> Obj:
    """The patched object; `ApiError` (400/422) when the patch cannot be applied."""
    target = copy.deepcopy(target)
    try:
        if patch_type == PatchType.JSON:
            if not isinstance(patch_doc, list):
                raise ApiError(400, "BadRequest", "json: cannot unmarshal object into Go value "
                               "of type jsonpatch.Patch (a JSON patch is a list of operations)")
            if patch is None:
                raise ApiError(415, "UnsupportedMediaType", "json patch not available yet")
            return patch.json_patch(target, patch_doc)
        if not isinstance(patch_doc, dict):
            raise ApiError(400, "BadRequest",
                           "json: cannot unmarshal a non-object into a merge patch")
        if patch is None:
            return _merge(target, patch_doc)
        if patch_type == PatchType.MERGE:
            return patch.json_merge_patch(target, patch_doc)
        return patch.strategic_merge_patch(target, patch_doc, kind)
    except ApiError:
        raise
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error "
                       f"in our request: {exc}") from None


def _merge(target: Any, doc: Any) -> Any:  # pragma: no cover - transitional RFC 7386 merge
    if not isinstance(doc, dict):
        return copy.deepcopy(doc)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in doc.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out
