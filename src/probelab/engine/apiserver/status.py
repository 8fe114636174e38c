"""`Status` objects: how the API server reports every failure (and some successes).

Shapes and messages follow `staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go`
(NewNotFound, NewAlreadyExists, NewConflict, NewInvalid, NewBadRequest, ...): `details.kind` is the
resource (plural) for object errors and the Kind for Invalid; `details.group` is set for named
groups; the message names the qualified resource (`deployments.apps "x" not found`).
Used by the registry (raises `ApiError`) and the API server (renders it).
"""

from __future__ import annotations

from typing import Any

from probelab.engine.core.store import StoreError
from probelab.k8s.resources import ResourceInfo


class ApiError(Exception):
    """A request failure with its HTTP code, machine-readable reason and Status details."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        return status_body(self.code, self.reason, self.message, self.details)


def status_body(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def success_status(info: ResourceInfo, name: str, uid: str | None) -> dict[str, Any]:
    """What DELETE returns for kinds whose registry does not return the deleted object."""
    details: dict[str, Any] = {"name": name, **_group(info), "kind": info.plural}
    if uid:
        details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": details}


def _group(info: ResourceInfo) -> dict[str, str]:
    return {"group": info.group} if info.group else {}


def qualified(info: ResourceInfo) -> str:
    """`pods`, `deployments.apps`: how messages name a resource."""
    return f"{info.plural}.{info.group}" if info.group else info.plural


def resource_details(info: ResourceInfo, name: str) -> dict[str, Any]:
    return {"name": name, **_group(info), "kind": info.plural}


def not_found(info: ResourceInfo, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(info)} "{name}" not found',
                    resource_details(info, name))


def already_exists(info: ResourceInfo, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{qualified(info)} "{name}" already exists',
                    resource_details(info, name))


def conflict(info: ResourceInfo, name: str, why: str) -> ApiError:
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {qualified(info)} "{name}": {why}',
                    resource_details(info, name))


def forbidden(info: ResourceInfo, name: str, why: str) -> ApiError:
    return ApiError(403, "Forbidden", f'{qualified(info)} "{name}" is forbidden: {why}',
                    resource_details(info, name))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}",
                    {"causes": [{"message": message}]})


def invalid(info: ResourceInfo, name: str, causes: list[dict[str, str]]) -> ApiError:
    """422 with one cause per field error (`{"reason", "message", "field"}`)."""
    texts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
    summary = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    kind_group = f"{info.kind}.{info.group}" if info.group else info.kind
    details = {"name": name, **_group(info), "kind": info.kind, "causes": causes}
    return ApiError(422, "Invalid", f'{kind_group} "{name}" is invalid: {summary}', details)


def field_cause(field: str, message: str, reason: str = "FieldValueInvalid") -> dict[str, str]:
    return {"reason": reason, "message": message, "field": field}


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def from_store_error(exc: StoreError, info: ResourceInfo | None, name: str) -> ApiError:
    """Map a store error to the Status the real API server would send."""
    if info is not None and name:
        if exc.reason == "NotFound":
            return not_found(info, name)
        if exc.reason == "AlreadyExists":
            return already_exists(info, name)
        if exc.reason == "Conflict":
            return ApiError(409, "Conflict", str(exc), resource_details(info, name))
    return ApiError(exc.code, exc.reason, str(exc))


# The messages of generic HTTP-level failures, as the real server words them.
NOT_FOUND_PATH = "the server could not find the requested resource"
METHOD_NOT_ALLOWED = "the server does not allow this method on the requested resource"
UNAUTHORIZED = "Unauthorized"
TOO_LARGE = "the server has received a request that is too large"
