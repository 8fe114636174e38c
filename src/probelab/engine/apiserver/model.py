"""The one place the API layer calls the pure `probelab.k8s` model: defaulting, validation,
legacy conversion, unknown-field detection and patch application.

Kept as a thin adapter so the registry reads as Kubernetes rules, and so the shape of the model's
results (FieldError, warnings) is translated into Status causes in one spot.
"""

from __future__ import annotations

import copy
from typing import Any

from probelab.engine.apiserver.status import ApiError, field_cause
from probelab.k8s import convert, defaults, patch, schema, validation
from probelab.k8s.objects import Obj


def apply_defaults(obj: Obj) -> Obj:
    return defaults.apply_defaults(obj)


def validate(obj: Obj, old: Obj | None = None) -> list[dict[str, str]]:
    """Field errors of `obj` as Status causes (`reason`, `message`, `field`)."""
    causes = []
    for err in validation.validate(obj, old):
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
    return convert.to_served_version(obj)


def warm() -> None:
    """Load the schema tables now, so the first write does not pay for it."""
    schema.warm()


def type_errors(obj: Obj) -> list[str]:
    return schema.type_errors(obj)


def drop_unknown_fields(obj: Obj) -> list[str]:
    """Remove the fields the schema does not know; their paths, in document order."""
    return schema.drop_unknown_fields(obj)


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
            return patch.json_patch(target, patch_doc)
        if not isinstance(patch_doc, dict):
            raise ApiError(400, "BadRequest",
                           "json: cannot unmarshal a non-object into a merge patch")
        if patch_type == PatchType.MERGE:
            return patch.json_merge_patch(target, patch_doc)
        return patch.strategic_merge_patch(target, patch_doc, kind)
    except ApiError:
        raise
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error "
                       f"in our request: {exc}") from None
