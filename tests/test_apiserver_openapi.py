"""The OpenAPI v3 documents kubectl reads (validation, `apply` patches, `explain`), built from
the upstream schemas when `kubernetes-validate` is installed and from the `kubernetes` client's
models otherwise (a plain install); and the v2 document (JSON and protobuf) kubectl validates
`kind: List` items with (kubectl itself reads it in tests/test_kubectl_apimisc.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from probelab.engine.apiserver import openapi, openapi_v2, protobuf


def _document(gv: str) -> dict[str, Any]:
    data = openapi.document_bytes(gv)
    assert data is not None
    return json.loads(data)


@pytest.fixture(params=["upstream", "client"])
def source(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "client":
        monkeypatch.setattr(openapi, "_upstream_definitions", lambda: {})
    elif not openapi._upstream_definitions():
        pytest.skip("kubernetes-validate is not installed")
    openapi.document_bytes.cache_clear()
    yield request.param
    openapi.document_bytes.cache_clear()


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _at(doc: dict[str, Any], root: str, *path: str) -> dict[str, Any]:
    schema = _resolve(doc, doc["components"]["schemas"][root])
    for name in path:
        schema = _resolve(doc, schema["items"] if name == "[]" else schema["properties"][name])
    return schema


def test_every_served_kind_has_its_paths_and_gvk(source: str) -> None:
    index = json.loads(openapi.index_bytes())["paths"]
    for gv, kinds in openapi.group_versions().items():
        assert index[gv]["serverRelativeURL"].startswith(f"/openapi/v3/{gv}?hash=")
        doc = _document(gv)
        for served in kinds:
            schema = doc["components"]["schemas"][served.schema_name]
            assert {"group": served.group, "version": served.version,
                    "kind": served.info.kind} in schema["x-kubernetes-group-version-kind"]
            patches = [op["patch"] for op in doc["paths"].values() if "patch" in op
                       and op["patch"]["x-kubernetes-group-version-kind"]["kind"]
                       == served.info.kind]
            assert patches, served
            assert all("fieldValidation" in [p["name"] for p in op["parameters"]]
                       for op in patches)


def test_schemas_carry_types_descriptions_and_merge_keys(source: str) -> None:
    doc = _document("apis/apps/v1")
    deployment = "io.k8s.api.apps.v1.Deployment"
    replicas = _at(doc, deployment, "spec", "replicas")
    assert replicas["type"] == "integer" and "desired pods" in replicas["description"]
    pod_spec = _at(doc, deployment, "spec", "template", "spec")
    containers = pod_spec["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"].startswith("merge")
    ports = _at(doc, deployment, "spec", "template", "spec", "containers", "[]")
    assert ports["properties"]["ports"]["x-kubernetes-patch-merge-key"] == "containerPort"
    labels = _at(doc, deployment, "metadata")["properties"]["labels"]
    assert labels["type"] == "object" and labels["additionalProperties"]["type"] == "string"
    core = _document("api/v1")
    svc_ports = _at(core, "io.k8s.api.core.v1.Service", "spec")["properties"]["ports"]
    assert svc_ports["x-kubernetes-patch-merge-key"] == "port"


def test_every_reference_resolves_in_every_document(source: str) -> None:
    """Legacy Deployment documents included: their list kinds are there too."""
    for gv in openapi.group_versions():
        doc = _document(gv)
        refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(doc)))
        assert refs and refs <= doc["components"]["schemas"].keys(), gv


def test_unknown_group_version_has_no_document() -> None:
    assert openapi.document_bytes("apis/nothing/v1") is None


# ---- OpenAPI v2 (what kubectl validates `kind: List` items with) ----------

def _v2_definition(proto_doc: bytes, name: str) -> dict[int, list[int | bytes]]:
    """The fields of one definition of the protobuf v2 document, read back with the engine's
    own wire reader: Document.definitions (9) > NamedSchema (1) {name 1, value 2}."""
    by_number = _fields(proto_doc)
    for named in _fields(by_number[9][0])[1]:
        entry = _fields(named)
        if entry[1][0] == name.encode():
            return _fields(entry[2][0])
    raise AssertionError(f"no definition {name}")


def _fields(data: Any) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for number, value in protobuf.fields(data):
        out.setdefault(number, []).append(value)
    return out


def test_v2_has_every_served_kind_with_its_gvk_as_json_and_protobuf() -> None:
    doc = openapi_v2.document()
    assert doc["swagger"] == "2.0"
    proto_doc = openapi_v2.protobuf_bytes()
    assert _fields(proto_doc)[1] == [b"2.0"]
    for served in openapi.served_kinds():
        gvk = {"group": served.group, "version": served.version, "kind": served.info.kind}
        schema = doc["definitions"][served.schema_name]
        assert gvk in schema["x-kubernetes-group-version-kind"]
        # Schema.vendor_extension (31): NamedAny {name 1, value 2: Any {yaml 2}}
        extensions = {_fields(e)[1][0]: _fields(_fields(e)[2][0])[2][0]
                      for e in _v2_definition(proto_doc, served.schema_name)[31]}
        assert gvk in json.loads(extensions[b"x-kubernetes-group-version-kind"])
    refs = set(re.findall(r'"\$ref":"#/definitions/([^"]+)"', openapi_v2.json_bytes().decode()))
    assert refs and refs <= doc["definitions"].keys()  # every reference resolves
    assert "#/components" not in openapi_v2.json_bytes().decode()


def test_v2_schemas_are_swagger_2() -> None:
    definitions = openapi_v2.document()["definitions"]
    int_or_string = definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert int_or_string == {"type": "string", "format": "int-or-string"} | (
        {"description": int_or_string["description"]} if "description" in int_or_string
        else {})
    spec = definitions["io.k8s.api.apps.v1.DeploymentSpec"]
    assert spec["properties"]["replicas"]["type"] == "integer"
    assert spec["properties"]["template"]["$ref"] == (
        "#/definitions/io.k8s.api.core.v1.PodTemplateSpec")
    # Schema.properties (25) > NamedSchema; type (22) > TypeItem {value 1}
    spec_pb = _v2_definition(openapi_v2.protobuf_bytes(), "io.k8s.api.apps.v1.DeploymentSpec")
    properties = {_fields(p)[1][0]: _fields(_fields(p)[2][0])
                  for p in _fields(spec_pb[25][0])[1]}
    assert _fields(properties[b"replicas"][22][0])[1] == [b"integer"]
    assert properties[b"template"][1] == [b"#/definitions/io.k8s.api.core.v1.PodTemplateSpec"]


def test_v2_paths_have_swagger_parameters() -> None:
    paths = openapi_v2.document()["paths"]
    patch = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" in patch["consumes"]
    names = {p["name"]: p["in"] for p in patch["parameters"]}
    assert names["body"] == "body" and names["fieldValidation"] == "query"
    assert names["dryRun"] == "query"
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
