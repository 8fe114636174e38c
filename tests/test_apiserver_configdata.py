"""ConfigMaps and Secrets through the engine's API server with the official client: stringData
folded into data, Secret types and their keys, key and size rules, immutability, Tables
(pkg/apis/core/validation/validation.go, pkg/registry/core/{configmap,secret}), and the pure
rules of probelab.k8s.configdata."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from probelab.k8s import configdata
from probelab.k8s.checks import Checker
from support.api_engine import ApiEngine


@pytest.fixture(scope="module")
def engine() -> Iterator[ApiEngine]:
    with ApiEngine() as running:
        yield running


@pytest.fixture(scope="module")
def core(engine: ApiEngine) -> Iterator[client.CoreV1Api]:
    api = config.new_client_from_config(config_file=str(engine.kubeconfig()), context="probelab")
    yield client.CoreV1Api(api)
    api.close()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def status_of(err: ApiException) -> dict:
    return json.loads(err.body)


def test_a_secret_s_string_data_is_stored_as_base64_data_only(core: client.CoreV1Api) -> None:
    core.create_namespaced_secret("default", {
        "metadata": {"name": "sd"}, "stringData": {"P": "pw"}, "data": {"Q": b64("q")}})
    got = core.read_namespaced_secret("sd", "default")
    assert got.type == "Opaque"
    assert got.data == {"P": b64("pw"), "Q": b64("q")}
    assert got.string_data is None
    core.patch_namespaced_secret("sd", "default", {"stringData": {"P": "new"}})
    assert core.read_namespaced_secret("sd", "default").data["P"] == b64("new")


def test_config_map_data_and_binary_data_round_trip(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {
        "metadata": {"name": "cm1"}, "data": {"a.yaml": "x: 1"},
        "binaryData": {"bin": base64.b64encode(b"\xff\x00").decode()}})
    got = core.read_namespaced_config_map("cm1", "default")
    assert got.data == {"a.yaml": "x: 1"}
    assert base64.b64decode(got.binary_data["bin"]) == b"\xff\x00"
    names = [c.metadata.name for c in core.list_namespaced_config_map("default").items]
    assert "cm1" in names


@pytest.mark.parametrize(("body", "causes"), [
    ({"kind": "ConfigMap", "data": {"a b": "1"}}, ["data[a b]"]),
    ({"kind": "ConfigMap", "data": {"..x": "1"}}, ["data[..x]"]),
    ({"kind": "ConfigMap", "data": {"k": "1"}, "binaryData": {"k": b64("1")}}, ["data[k]"]),
    ({"kind": "ConfigMap", "data": {"big": "x" * (configdata.MAX_SIZE + 1)}}, [""]),
    ({"kind": "Secret", "type": "kubernetes.io/tls", "data": {"tls.crt": b64("c")}},
     ["data[tls.key]"]),
    ({"kind": "Secret", "type": "kubernetes.io/dockerconfigjson", "data": {}},
     ["data[.dockerconfigjson]"]),
    ({"kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
      "data": {".dockerconfigjson": b64("not json")}}, ["data[.dockerconfigjson]"]),
])
def test_invalid_objects_get_422_with_the_field(core: client.CoreV1Api, body: dict,
                                                causes: list[str]) -> None:
    kind = body.pop("kind")
    create = (core.create_namespaced_config_map if kind == "ConfigMap"
              else core.create_namespaced_secret)
    with pytest.raises(ApiException) as err:
        create("default", {"metadata": {"name": "bad"}, **body})
    assert err.value.status == 422
    assert [c.get("field", "") for c in status_of(err.value)["details"]["causes"]] == causes


def test_data_that_is_not_base64_is_a_bad_request(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as err:
        core.create_namespaced_secret("default", {"metadata": {"name": "b64"},
                                                  "data": {"k": "not base64!"}})
    assert err.value.status == 400 and "illegal base64 data" in status_of(err.value)["message"]


def test_a_tls_secret_with_both_keys_is_accepted(core: client.CoreV1Api) -> None:
    core.create_namespaced_secret("default", {
        "metadata": {"name": "tls"}, "type": "kubernetes.io/tls",
        "data": {"tls.crt": b64("c"), "tls.key": b64("k")}})
    with pytest.raises(ApiException) as err:  # a Secret's type never changes
        core.patch_namespaced_secret("tls", "default", {"type": "Opaque"})
    assert status_of(err.value)["message"] == 'Secret "tls" is invalid: type: field is immutable'


def test_an_immutable_config_map_keeps_its_data_and_the_flag(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {
        "metadata": {"name": "frozen"}, "immutable": True, "data": {"A": "1"}})
    for patch, field in (({"data": {"A": "2"}}, "data"), ({"immutable": False}, "immutable")):
        with pytest.raises(ApiException) as err:
            core.patch_namespaced_config_map("frozen", "default", patch)
        status = status_of(err.value)
        assert err.value.status == 422
        assert status["message"] == (f'ConfigMap "frozen" is invalid: {field}: Forbidden: '
                                     "field is immutable when `immutable` is set")
    core.patch_namespaced_config_map("frozen", "default", {"metadata": {"labels": {"a": "b"}}})
    assert core.read_namespaced_config_map("frozen", "default").metadata.labels == {"a": "b"}


def test_an_immutable_secret_keeps_its_data(core: client.CoreV1Api) -> None:
    core.create_namespaced_secret("default", {"metadata": {"name": "fs"}, "immutable": True,
                                              "stringData": {"A": "1"}})
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_secret("fs", "default", {"stringData": {"A": "2"}})
    assert err.value.status == 422 and "data: Forbidden" in status_of(err.value)["message"]


@pytest.mark.parametrize(("resource", "columns", "cells"), [
    ("secrets", ["Name", "Type", "Data", "Age"], ["tab", "Opaque", 2]),
    ("configmaps", ["Name", "Data", "Age"], ["tab", 3]),
])
def test_tables_have_kubectls_columns(engine: ApiEngine, core: client.CoreV1Api, resource: str,
                                      columns: list[str], cells: list) -> None:
    if resource == "secrets":
        core.create_namespaced_secret("default", {"metadata": {"name": "tab"},
                                                  "stringData": {"a": "1", "b": "2"}})
    else:
        core.create_namespaced_config_map("default", {
            "metadata": {"name": "tab"}, "data": {"a": "1", "b": "2"},
            "binaryData": {"c": b64("3")}})
    code, _, body = engine.request(
        "GET", f"/api/v1/namespaces/default/{resource}/tab",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    table = json.loads(body)
    assert code == 200
    assert [c["name"] for c in table["columnDefinitions"]] == columns
    assert table["rows"][0]["cells"][:len(cells)] == cells


@pytest.mark.parametrize(("key", "ok"), [
    ("a", True), ("A_b-c.d", True), ("config.yaml", True), ("a b", False), ("a/b", False),
    (".", False), ("..", False), ("..a", False), ("x" * 253, True), ("x" * 254, False),
])
def test_config_map_keys(key: str, ok: bool) -> None:
    assert (configdata.key_errors(key) == []) is ok


def test_validation_rules_without_a_server() -> None:
    check = Checker()
    configdata.validate_secret(check, {"type": "kubernetes.io/basic-auth", "data": {}}, None)
    assert [e.field for e in check.errors] == ["data[username]", "data[password]"]
    check = Checker()
    old = {"immutable": True, "data": {"A": "1"}}
    configdata.validate_config_map(check, {"immutable": True, "data": {"A": "1"}}, old)
    assert check.errors == []
