"""OpenAPI v3 documents for kubectl: `/openapi/v3` and one document per group-version.

What kubectl 1.37 does with them (`k8s.io/cli-runtime/pkg/resource/query_param_verifier_v3.go`,
`k8s.io/kubectl/pkg/cmd/util/factory_client_access.go`): before `create`/`apply`/`replace` it
looks in the document of the object's group-version for a PATCH operation tagged with the
object's `x-kubernetes-group-version-kind` that takes the `fieldValidation` query parameter.
If it finds one, it leaves validation to the server and sends `?fieldValidation=Strict`; if the
group-version is missing it falls back to client-side validation against `/openapi/v2`
(protobuf), which this engine does not serve. So every served kind gets its paths here, and
the API server enforces strict field validation. `kubectl explain` and client-side `apply`
(strategic merge patch metadata) also read `components.schemas`.

The schemas are the upstream API definitions shipped as JSON Schema in the `kubernetes-validate`
package (a test dependency): `$ref`s are moved to `#/components/schemas/`, nullable type lists
are folded back to OpenAPI types. Without that package (a plain install) they are rebuilt from
the model metadata of the `kubernetes` client (field names, types and descriptions), with the
strategic-merge keys of `probelab.k8s.patch_strategy`, so `kubectl apply` and `kubectl explain`
still work. Documents are built once per process.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from probelab.k8s.resources import RESOURCES, ResourceInfo

Schema = dict[str, Any]

OPENAPI_VERSION = "3.0.0"
API_VERSION = "v1.37.0"
META = "io.k8s.apimachinery.pkg.apis.meta.v1"
# Content types the engine accepts for PATCH; server-side apply is not among them.
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")


@dataclass(frozen=True)
class Served:
    """One kind at one group-version, as the API server serves it."""

    info: ResourceInfo
    group: str
    version: str
    schema_name: str  # key in components.schemas

    @property
    def prefix(self) -> str:
        return f"apis/{self.group}/{self.version}" if self.group else f"api/{self.version}"


def package(group: str, version: str) -> str:
    """The upstream schema package of a group-version (`io.k8s.api.<group>.<version>`, the
    group's first label, `core` for the legacy group): `apps/v1` -> `io.k8s.api.apps.v1`,
    `discovery.k8s.io/v1` -> `io.k8s.api.discovery.v1`, `networking.k8s.io/v1` ->
    `io.k8s.api.networking.v1`, `autoscaling/v2` -> `io.k8s.api.autoscaling.v2`."""
    return f"io.k8s.api.{group.split('.')[0] or 'core'}.{version}"


# Legacy group-versions under which the engine still accepts Deployments (gone from real servers
# since 1.16, kept for old manifests);
# their schema is the apps/v1 one under the legacy name.
LEGACY_DEPLOYMENTS = (("extensions", "v1beta1"), ("apps", "v1beta1"), ("apps", "v1beta2"))


def served_kinds() -> list[Served]:
    out = [Served(r, r.group, r.version, f"{package(r.group, r.version)}.{r.kind}")
           for r in RESOURCES]
    deployments = next(r for r in RESOURCES if r.kind == "Deployment")
    out += [Served(deployments, g, v, f"io.k8s.api.{g}.{v}.Deployment")
            for g, v in LEGACY_DEPLOYMENTS]
    return out


def group_versions() -> dict[str, list[Served]]:
    """`api/v1`, `apis/apps/v1`, ... -> the kinds served there."""
    by_gv: dict[str, list[Served]] = {}
    for s in served_kinds():
        by_gv.setdefault(s.prefix, []).append(s)
    return by_gv


# --- schemas ------------------------------------------------------------------------------


@functools.cache
def _upstream_definitions() -> dict[str, Schema]:
    """The newest `_definitions.json` of kubernetes-validate, or {} when it is not installed."""
    try:
        root = resources.files("kubernetes_validate") / "kubernetes-json-schema"
        dirs = [d for d in root.iterdir() if re.fullmatch(r"v[\d.]+-local", d.name)]
    except (ModuleNotFoundError, FileNotFoundError):
        return {}
    if not dirs:
        return {}
    newest = max(dirs, key=lambda d: tuple(int(x) for x in d.name[1:-6].split(".")))
    return json.loads((newest / "_definitions.json").read_text())["$defs"]


def _definitions() -> dict[str, Schema]:
    return _upstream_definitions() or _client_definitions()


# Client model of each served kind (and of what the documents reference by upstream name).
_CLIENT_MODELS = {
    "io.k8s.api.core.v1.Namespace": "V1Namespace", "io.k8s.api.core.v1.Pod": "V1Pod",
    "io.k8s.api.core.v1.Service": "V1Service", "io.k8s.api.core.v1.Endpoints": "V1Endpoints",
    "io.k8s.api.core.v1.Event": "CoreV1Event",
    "io.k8s.api.discovery.v1.EndpointSlice": "V1EndpointSlice",
    "io.k8s.api.apps.v1.Deployment": "V1Deployment",
    "io.k8s.api.apps.v1.ReplicaSet": "V1ReplicaSet",
    "io.k8s.api.autoscaling.v1.Scale": "V1Scale",
    "io.k8s.api.core.v1.Node": "V1Node", "io.k8s.api.apps.v1.StatefulSet": "V1StatefulSet",
    "io.k8s.api.apps.v1.DaemonSet": "V1DaemonSet",
    "io.k8s.api.apps.v1.ControllerRevision": "V1ControllerRevision",
    "io.k8s.api.batch.v1.Job": "V1Job", "io.k8s.api.batch.v1.CronJob": "V1CronJob",
    "io.k8s.api.networking.v1.Ingress": "V1Ingress",
    "io.k8s.api.networking.v1.IngressClass": "V1IngressClass",
    "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler": "V2HorizontalPodAutoscaler",
    "io.k8s.api.core.v1.ConfigMap": "V1ConfigMap", "io.k8s.api.core.v1.Secret": "V1Secret",
    "io.k8s.api.policy.v1.PodDisruptionBudget": "V1PodDisruptionBudget",
    f"{META}.Status": "V1Status", f"{META}.DeleteOptions": "V1DeleteOptions",
}
_LIST_TYPE = re.compile(r"^list\[(.+)\]$", re.IGNORECASE)
_DICT_TYPE = re.compile(r"^dict(?:\(str, (.+)\)|\[str, (.+)\])$", re.IGNORECASE)
_PRIMITIVE_TYPES: dict[str, Schema] = {
    "str": {"type": "string"}, "int": {"type": "integer", "format": "int32"},
    "bool": {"type": "boolean"}, "float": {"type": "number", "format": "double"},
    "bytes": {"type": "string", "format": "byte"},  # base64 in JSON (e.g. Secret data)
    "datetime": {"type": "string", "format": "date-time"}, "date": {"type": "string"},
    "object": {}, "bytearray": {"type": "string", "format": "byte"},
}


def _merge_keys() -> dict[tuple[str, str], str]:
    """(client model, JSON field) -> strategic merge key ("" for a set of primitives)."""
    from probelab.k8s import patch_strategy as ps

    keys = {("V1PodSpec", field): key for field, key in ps.POD_SPEC_LISTS.items()}
    for model in ("V1Container", "V1EphemeralContainer"):
        keys.update({(model, field): key for field, key in ps.CONTAINER_FIELD_LISTS.items()})
    keys.update({("V1ObjectMeta", field): key for field, key in ps.METADATA_LISTS.items()})
    keys[("V1ServiceSpec", "ports")] = "port"
    for model in ("V1DeploymentStatus", "V1ReplicaSetStatus", "V1PodStatus",
                  "V1NamespaceStatus"):
        keys[(model, "conditions")] = "type"
    return keys


@functools.cache
def _client_definitions() -> dict[str, Schema]:
    """JSON Schema definitions rebuilt from the `kubernetes` client's models, keyed like the
    upstream ones for the served kinds and by client model name for everything below them."""
    try:
        from kubernetes.client import models
    except ImportError:  # pragma: no cover - the client is a runtime dependency
        return {}
    merge_keys = _merge_keys()
    out: dict[str, Schema] = {}
    model_key = {model: name for name, model in _CLIENT_MODELS.items()}

    def ref(type_name: str) -> Schema:
        if type_name in _PRIMITIVE_TYPES:
            return dict(_PRIMITIVE_TYPES[type_name])
        if m := _LIST_TYPE.match(type_name):
            return {"type": "array", "items": ref(m.group(1))}
        if m := _DICT_TYPE.match(type_name):
            return {"type": "object", "additionalProperties": ref(m.group(1) or m.group(2))}
        add(type_name)
        return {"$ref": "#/$defs/" + model_key.get(type_name, type_name)}

    def add(model: str) -> None:
        key = model_key.get(model, model)
        cls = getattr(models, model, None)
        if key in out or cls is None:
            return
        out[key] = {}  # placeholder: models refer to themselves (JSONSchemaProps-like)
        fields = getattr(cls, "model_fields", {})
        properties = {}
        for attr, type_name in cls.openapi_types.items():
            name = cls.attribute_map[attr]
            prop = ref(type_name)
            description = getattr(fields.get(attr), "description", None)
            if description:
                prop["description"] = description
            if (model, name) in merge_keys:
                key_name = merge_keys[(model, name)]
                prop["x-kubernetes-patch-strategy"] = "merge"
                if key_name:
                    prop["x-kubernetes-patch-merge-key"] = key_name
            properties[name] = prop
        schema: Schema = {"type": "object", "properties": properties}
        if cls.__doc__ and not cls.__doc__.startswith(model):
            schema["description"] = cls.__doc__.strip().splitlines()[0]
        out[key] = schema

    # The PATCH body: the client has no model for it (upstream: an empty object schema).
    out[f"{META}.Patch"] = {"type": "object", "description": "Patch is provided to give a "
                            "concrete name and type to the Kubernetes PATCH request body."}
    for name, model in _CLIENT_MODELS.items():
        add(model)
        list_model = getattr(models, model + "List", None)
        if list_model is not None and name.startswith("io.k8s.api."):
            model_key[model + "List"] = name + "List"
            add(model + "List")
    return out


def _openapi_schema(node: Any) -> Any:
    """One JSON Schema node as OpenAPI 3.0: refs moved, `[T, "null"]` types folded to `T`."""
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    for key, value in node.items():
        if key in ("$schema", "$id"):
            continue
        if key == "$ref":
            out[key] = "#/components/schemas/" + value.rsplit("/", 1)[-1]
        elif key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            out[key] = kinds[0] if len(kinds) == 1 else kinds
        elif key == "enum" and isinstance(value, list):
            out[key] = [v for v in value if v is not None]
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _openapi_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _openapi_schema(value)
        elif key in ("oneOf", "anyOf", "allOf") and isinstance(value, list):
            out[key] = [_openapi_schema(sub) for sub in value]
        else:
            out[key] = value
    return out


def _refs(schema: Any) -> set[str]:
    found = re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(schema))
    return set(found)


def _gvk(s: Served) -> dict[str, str]:
    return {"group": s.group, "version": s.version, "kind": s.info.kind}


def _kind_schema(s: Served, upstream: dict[str, Schema]) -> Schema:
    base_name = f"{package(s.info.group, s.info.version)}.{s.info.kind}"
    if base_name not in upstream:
        return {"type": "object", "description": f"{s.info.kind} (schema not available)",
                "x-kubernetes-preserve-unknown-fields": True,
                "x-kubernetes-group-version-kind": [_gvk(s)]}
    schema = _openapi_schema(upstream[base_name])
    for field in ("apiVersion", "kind"):  # the JSON Schema pins them; OpenAPI does not
        if field in schema.get("properties", {}):
            schema["properties"][field].pop("enum", None)
    schema["x-kubernetes-group-version-kind"] = [_gvk(s)]
    return schema


def schemas(kinds: list[Served]) -> dict[str, Schema]:
    """The kinds' schemas, their list and Scale kinds, and everything they reference."""
    upstream = _definitions()
    out: dict[str, Schema] = {s.schema_name: _kind_schema(s, upstream) for s in kinds}
    wanted = {f"{META}.{n}" for n in ("Status", "DeleteOptions", "Patch", "WatchEvent")}
    for s in kinds:
        wanted.add(f"{package(s.info.group, s.info.version)}.{s.info.kind}List")
        if "scale" in s.info.subresources:
            wanted.add("io.k8s.api.autoscaling.v1.Scale")
    todo = sorted(wanted | set().union(*(_refs(v) for v in out.values())))
    while todo:
        name = todo.pop()
        if name in out or name not in upstream:
            continue
        out[name] = _openapi_schema(upstream[name])
        todo += sorted(_refs(out[name]) - out.keys())
    for s in kinds:  # a legacy Deployment's list: the apps/v1 list of the legacy items
        base = f"{package(s.info.group, s.info.version)}.{s.info.kind}"
        if s.schema_name != base and base + "List" in out:
            listed = json.loads(json.dumps(out[base + "List"]).replace(
                f'"#/components/schemas/{base}"', f'"#/components/schemas/{s.schema_name}"'))
            listed["x-kubernetes-group-version-kind"] = [
                {**_gvk(s), "kind": s.info.list_kind}]
            out[s.schema_name + "List"] = listed
    return dict(sorted(out.items()))


# --- paths --------------------------------------------------------------------------------


def _param(name: str, where: str = "query", description: str = "") -> Schema:
    param: Schema = {"name": name, "in": where, "description": description,
                     "schema": {"type": "string", "uniqueItems": True}}
    if where == "path":
        param["required"] = True
    return param


_PARAM_TEXT = {
    "name": "name of the object",
    "namespace": "object name and auth scope, such as for teams and projects",
    "dryRun": "when present, changes are not persisted (only `All` is accepted)",
    "fieldManager": "name of the actor making the change",
    "fieldValidation": "how to treat unknown or duplicate fields: Ignore, Warn or Strict",
    "pretty": "if 'true', the output is pretty printed",
}


def _operation(action: str, gvk: dict[str, str], op_id: str, kind_ref: str,
               body_types: tuple[str, ...] = (), params: tuple[str, ...] = ()) -> Schema:
    op: Schema = {
        "operationId": op_id,
        "parameters": [_param(p, description=_PARAM_TEXT.get(p, "")) for p in params],
        "responses": {"200": {"description": "OK", "content": {
            "application/json": {"schema": {"$ref": kind_ref}}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    }
    if body_types:
        body_ref = f"#/components/schemas/{META}.Patch" if action == "patch" else kind_ref
        op["requestBody"] = {"required": True, "content": {
            t: {"schema": {"$ref": body_ref}} for t in body_types}}
    return op


def paths_of(s: Served) -> dict[str, Schema]:
    """List/create, get/replace/patch/delete, and the subresources of one served kind."""
    gvk, kind, plural = _gvk(s), s.info.kind, s.info.plural
    ref = f"#/components/schemas/{s.schema_name}"
    scope = f"/{s.prefix}/namespaces/{{namespace}}" if s.info.namespaced else f"/{s.prefix}"
    path_params = [_param("namespace", "path", _PARAM_TEXT["namespace"])] \
        if s.info.namespaced else []
    op_base = f"{s.group.split('.')[0] or 'core'}{s.version.capitalize()}"
    ns_word = "Namespaced" if s.info.namespaced else ""
    json_body = ("application/json",)
    collection = {
        "parameters": path_params,
        "get": _operation("list", gvk, f"list{op_base}{ns_word}{kind}", ref + "List",
                          params=("pretty",)),
        "post": _operation("post", gvk, f"create{op_base}{ns_word}{kind}", ref, json_body,
                           _WRITE_PARAMS),
    }
    item_params = [_param("name", "path", _PARAM_TEXT["name"]), *path_params]
    item = {
        "parameters": item_params,
        "get": _operation("get", gvk, f"read{op_base}{ns_word}{kind}", ref, params=("pretty",)),
        "put": _operation("put", gvk, f"replace{op_base}{ns_word}{kind}", ref, json_body,
                          _WRITE_PARAMS),
        "patch": _operation("patch", gvk, f"patch{op_base}{ns_word}{kind}", ref, PATCH_TYPES,
                            _WRITE_PARAMS),
        "delete": _operation("delete", gvk, f"delete{op_base}{ns_word}{kind}",
                             f"#/components/schemas/{META}.Status", json_body, ("dryRun",)),
    }
    paths = {f"{scope}/{plural}": collection, f"{scope}/{plural}/{{name}}": item}
    for sub in s.info.subresources:
        if sub in ("exec", "attach", "portforward"):
            continue  # connect operations (WebSocket streams): nothing for kubectl to read
        sub_gvk, sub_ref = gvk, ref
        if sub == "scale":
            sub_gvk = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
            sub_ref = "#/components/schemas/io.k8s.api.autoscaling.v1.Scale"
        name = f"{op_base}{ns_word}{kind}{sub.capitalize()}"
        if sub == "log":
            paths[f"{scope}/{plural}/{{name}}/log"] = {"parameters": item_params, "get": {
                "operationId": f"read{name}", "x-kubernetes-action": "get",
                "x-kubernetes-group-version-kind": gvk,
                "responses": {"200": {"description": "OK", "content": {
                    "text/plain": {"schema": {"type": "string"}}}}}}}
            continue
        paths[f"{scope}/{plural}/{{name}}/{sub}"] = {
            "parameters": item_params,
            "get": _operation("get", sub_gvk, f"read{name}", sub_ref, params=("pretty",)),
            "put": _operation("put", sub_gvk, f"replace{name}", sub_ref, json_body,
                              _WRITE_PARAMS),
            "patch": _operation("patch", sub_gvk, f"patch{name}", sub_ref, PATCH_TYPES,
                                _WRITE_PARAMS),
        }
    if s.info.namespaced:
        paths[f"/{s.prefix}/{plural}"] = {"get": _operation(
            "list", gvk, f"list{op_base}{kind}ForAllNamespaces", ref + "List",
            params=("pretty",))}
    return paths


# --- documents ----------------------------------------------------------------------------


@functools.cache
def document_bytes(gv_path: str) -> bytes | None:
    """The JSON document of one group-version (`api/v1`, `apis/apps/v1`), or None if unknown."""
    kinds = group_versions().get(gv_path.strip("/"))
    if kinds is None:
        return None
    paths: dict[str, Schema] = {}
    for s in kinds:
        paths.update(paths_of(s))
    doc = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Kubernetes (probelab engine)", "version": API_VERSION},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas(kinds)},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def document_hash(gv_path: str) -> str:
    data = document_bytes(gv_path)
    return hashlib.sha512(data or b"").hexdigest().upper()


@functools.cache
def index_bytes() -> bytes:
    """`/openapi/v3`: where each group-version's document is, with a content hash for caches."""
    paths = {
        gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash={document_hash(gv)}"}
        for gv in sorted(group_versions())
    }
    return json.dumps({"paths": paths}, separators=(",", ":")).encode()
