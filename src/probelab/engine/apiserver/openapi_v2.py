"""The OpenAPI v2 (Swagger 2.0) document `/openapi/v2`, as JSON or as the protobuf kubectl asks
for.

kubectl needs it for one thing the v3 documents do not give it: validating a `kind: List` (what
`kubectl get deploy,svc -o yaml` prints). Its query-parameter verifier
(`k8s.io/cli-runtime/pkg/resource/query_param_verifier_v3.go`) says `v1 List` never supports
server-side `fieldValidation`, so with `--validate=strict` (the default) kubectl validates the
List on its side (`k8s.io/kubectl/pkg/validation/schema.go`) with the v2 schemas
(`k8s.io/kubectl/pkg/util/openapi/validation`): each item against the definition whose
`x-kubernetes-group-version-kind` names the item's kind. The discovery client fetches the
document as protobuf (`Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`,
the gnostic `openapi_v2.Document`, `openapiv2_pb`); without the protobuf, or with a 404, every
`kubectl apply -f list.yaml` fails with "failed to download openapi".

The document is built from the same served kinds (`probelab.k8s.resources`) and the same schemas
as the v3 documents (`openapi`), so a kind added there is here too: the v3 schemas with `$ref`s to
`#/definitions/`, and, because Swagger 2.0 has no `oneOf`, IntOrString and Quantity as
`type: string` (`format: int-or-string`), as the upstream v2 document writes them. Paths are the
v3 operations with Swagger's body parameters, `consumes` and `produces`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from probelab.engine.apiserver import openapi, openapiv2_pb

PROTOBUF_TYPES = ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
                  "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
Schema = dict[str, Any]


def _v2_schema(node: Any) -> Any:
    """One v3 schema node as Swagger 2.0: definitions refs, no oneOf."""
    if isinstance(node, list):
        return [_v2_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = value.replace("#/components/schemas/", "#/definitions/")
        elif key == "oneOf" and isinstance(value, list):
            kinds = {v.get("type") for v in value if isinstance(v, dict)}
            out["type"] = "string"
            if "integer" in kinds:
                out["format"] = "int-or-string"
        elif key == "type" and isinstance(value, list):
            out[key] = "string" if "string" in value else value[0]
        elif key.startswith("x-kubernetes-"):
            out[key] = value  # vendor extensions are data, not schemas
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _v2_schema(sub) for name, sub in value.items()}
        else:
            out[key] = _v2_schema(value)
    return out


def _parameter(param: Schema) -> Schema:
    out = {"name": param["name"], "in": param["in"], "type": "string", "uniqueItems": True}
    if param.get("description"):
        out["description"] = param["description"]
    if param.get("required"):
        out["required"] = True
    return out


def _operation(op: Schema) -> Schema:
    out: Schema = {"operationId": op["operationId"]}
    params = [_parameter(p) for p in op.get("parameters") or []]
    body = op.get("requestBody")
    if body:
        content = body["content"]
        out["consumes"] = list(content)
        schema = next(iter(content.values()))["schema"]
        params.insert(0, {"name": "body", "in": "body", "required": True,
                          "schema": _v2_schema(schema)})
    if params:
        out["parameters"] = params
    responses: Schema = {}
    produces: list[str] = []
    for code, response in op.get("responses", {}).items():
        entry: Schema = {"description": response.get("description", "")}
        for media, content in (response.get("content") or {}).items():
            produces.append(media)
            entry["schema"] = _v2_schema(content["schema"])
        responses[code] = entry
    out["produces"] = sorted(set(produces))
    out["responses"] = responses
    out["schemes"] = ["https"]
    for key, value in op.items():
        if key.startswith("x-kubernetes-"):
            out[key] = value
    return out


def _path_item(item: Schema) -> Schema:
    out: Schema = {}
    for method in ("get", "put", "post", "delete", "patch"):
        if method in item:
            out[method] = _operation(item[method])
    if item.get("parameters"):
        out["parameters"] = [_parameter(p) for p in item["parameters"]]
    return out


@functools.cache
def document() -> Schema:
    """The whole v2 document: every served group-version's paths and definitions."""
    paths: dict[str, Schema] = {}
    kinds = openapi.served_kinds()
    for served in kinds:
        for path, item in openapi.paths_of(served).items():
            paths[path] = _path_item(item)
    definitions = {name: _v2_schema(schema)
                   for name, schema in openapi.schemas(kinds).items()}
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes (probelab engine)", "version": openapi.API_VERSION},
        "paths": dict(sorted(paths.items())),
        "definitions": definitions,
    }


@functools.cache
def json_bytes() -> bytes:
    return json.dumps(document(), separators=(",", ":")).encode()


@functools.cache
def protobuf_bytes() -> bytes:
    return openapiv2_pb.encode_document(document())


def etag(data: bytes) -> str:
    return '"' + hashlib.sha512(data).hexdigest().upper() + '"'


def wants_protobuf(accept: str | None) -> bool:
    """Whether the Accept header prefers the protobuf document (kubectl's discovery client
    sends only that type)."""
    for part in (accept or "").split(","):
        media = part.split(";")[0].strip().lower()
        if media in PROTOBUF_TYPES:
            return True
        if media in ("application/json", "*/*", "application/*"):
            return False
    return False
