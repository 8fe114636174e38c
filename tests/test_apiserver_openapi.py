"""The OpenAPI v3 documents kubectl reads (validation, `apply` patches, `explain`), built from
the upstream schemas when `kubernetes-validate` is installed and from the `kubernetes` client's
models otherwise (a plain install)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from probelab.engine.apiserver import openapi


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


def test_unknown_group_version_has_no_document() -> None:
    assert openapi.document_bytes("apis/nothing/v1") is None
