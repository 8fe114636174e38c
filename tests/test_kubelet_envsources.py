"""Table tests of how the kubelet resolves a container's environment (engine/kubelet/envsources.py
via command.container_env): ConfigMaps, Secrets, envFrom, the downward API, resources, and the
errors a container waits with (pkg/kubelet/kubelet_pods.go makeEnvironmentVariables)."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest

from probelab.engine.kubelet.command import EnvError, container_env
from probelab.engine.kubelet.envsources import (
    Allocatable,
    Sources,
    is_env_var_name,
    parse_quantity,
    referenced,
    resource_value,
)

POD = {"metadata": {"name": "web-1", "namespace": "probes", "uid": "u-1",
                    "labels": {"app": "web"}, "annotations": {"note": "x"}},
       "spec": {"nodeName": "probelab", "containers": [
           {"name": "main", "resources": {"limits": {"cpu": "500m", "memory": "128Mi"},
                                          "requests": {"cpu": "250m"}}},
           {"name": "side"}]}}
CM = {"kind": "ConfigMap", "metadata": {"name": "cfg"},
      "data": {"A": "1", "B": "two", "1BAD": "x", "config.yaml": "v: 1"},
      "binaryData": {"BIN": base64.b64encode(b"\x00").decode()}}
SECRET = {"kind": "Secret", "metadata": {"name": "sec"},
          "data": {"P": base64.b64encode(b"pw").decode()}}
SOURCES = Sources({"cfg": CM}, {"sec": SECRET}, Allocatable(4000, 8 * 2**30, 100 * 2**30))


def env_of(container: dict, sources: Sources = SOURCES,
           warnings: list | None = None) -> dict[str, str]:
    return container_env(POD, container, "127.244.0.7", "127.0.0.1", host_env={},
                         sources=sources, warnings=warnings)


def ref(kind: str, name: str, key: str, optional: bool = False) -> dict:
    return {"valueFrom": {kind: {"name": name, "key": key, "optional": optional}}}


@pytest.mark.parametrize(("entry", "expected"), [
    (ref("configMapKeyRef", "cfg", "A"), "1"),
    (ref("secretKeyRef", "sec", "P"), "pw"),  # decoded
    ({"valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}}, "u-1"),
    ({"valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}, "web"),
    ({"valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['note']"}}}, "x"),
    ({"valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}}, "default"),
    ({"valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}}, "127.244.0.7"),
    ({"valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}, "1"),  # 500m rounds up
    ({"valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}}, "500"),
    ({"valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
     "250"),
    ({"valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
     "128"),
    ({"valueFrom": {"resourceFieldRef": {"resource": "requests.memory"}}}, "0"),
    # an unset limit reads as the node's allocatable
    ({"valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "containerName": "side"}}},
     "4"),
    ({"valueFrom": {"resourceFieldRef": {"resource": "limits.ephemeral-storage",
                                         "divisor": "1Gi", "containerName": "side"}}}, "100"),
])
def test_value_from(entry: dict, expected: str) -> None:
    container = POD["spec"]["containers"][0]
    assert env_of({**container, "env": [{"name": "X", **entry}]})["X"] == expected


@pytest.mark.parametrize(("entry", "message"), [
    (ref("configMapKeyRef", "nope", "A"), 'configmap "nope" not found'),
    (ref("secretKeyRef", "nope", "P"), 'secret "nope" not found'),
    (ref("configMapKeyRef", "cfg", "K"), "couldn't find key K in ConfigMap probes/cfg"),
    (ref("secretKeyRef", "sec", "K"), "couldn't find key K in Secret probes/sec"),
    # binaryData is not read for env, as upstream
    (ref("configMapKeyRef", "cfg", "BIN"), "couldn't find key BIN in ConfigMap probes/cfg"),
    ({"valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}},
     'unsupported fieldRef fieldPath "spec.bogus"'),
    ({"valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}},
     "unsupported container resource : limits.gpu"),
])
def test_missing_sources_are_the_kubelets_errors(entry: dict, message: str) -> None:
    with pytest.raises(EnvError) as err:
        env_of({"env": [{"name": "X", **entry}]})
    assert str(err.value) == message


@pytest.mark.parametrize("entry", [
    ref("configMapKeyRef", "nope", "A", optional=True),
    ref("configMapKeyRef", "cfg", "K", optional=True),
    ref("secretKeyRef", "nope", "P", optional=True),
    ref("secretKeyRef", "sec", "K", optional=True),
])
def test_optional_sources_leave_the_variable_unset(entry: dict) -> None:
    assert "X" not in env_of({"env": [{"name": "X", **entry}]})


def test_env_from_with_prefix_skips_invalid_names_with_an_event() -> None:
    warnings: list = []
    env = env_of({"envFrom": [{"configMapRef": {"name": "cfg"}},
                              {"secretRef": {"name": "sec"}, "prefix": "S_"},
                              {"configMapRef": {"name": "missing", "optional": True}}]},
                 warnings=warnings)
    assert env["A"] == "1" and env["B"] == "two" and env["config.yaml"] == "v: 1"
    assert env["S_P"] == "pw"
    assert "1BAD" not in env and "BIN" not in env
    assert warnings == [("InvalidEnvironmentVariableNames",
                         "Keys [1BAD] from the EnvFrom configMap probes/cfg were skipped since "
                         "they are considered invalid environment variable names.")]


def test_env_from_missing_object_is_an_error() -> None:
    with pytest.raises(EnvError, match='configmap "nope" not found'):
        env_of({"envFrom": [{"configMapRef": {"name": "nope"}}]})


def test_env_wins_over_env_from_and_expands_against_it() -> None:
    env = env_of({"envFrom": [{"configMapRef": {"name": "cfg"}}],
                  "env": [{"name": "A", "value": "over $(B) $(NOPE) $$(B)"}]})
    assert env["A"] == "over two $(NOPE) $(B)"


def test_a_value_from_a_source_is_not_expanded() -> None:
    sources = Sources({"c": {"data": {"V": "$(POD_IP)"}}})
    assert env_of({"env": [{"name": "X", **ref("configMapKeyRef", "c", "V")}]},
                  sources)["X"] == "$(POD_IP)"


@pytest.mark.parametrize(("name", "ok"), [
    ("A", True), ("a.b-c_d", True), ("_x", True), ("1A", False), ("A B", False),
    (".", False), ("..", False), ("..a", False), ("A=B", False),
])
def test_is_env_var_name(name: str, ok: bool) -> None:
    assert is_env_var_name(name) is ok


@pytest.mark.parametrize(("text", "value"), [
    ("1", Decimal(1)), ("500m", Decimal("0.5")), ("128Mi", Decimal(128 * 2**20)),
    ("1k", Decimal(1000)), ("1e3", Decimal(1000)), ("2Gi", Decimal(2 * 2**30)),
    ("0.5", Decimal("0.5")),
])
def test_parse_quantity(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


def test_a_bad_quantity_is_an_error() -> None:
    with pytest.raises(EnvError):
        resource_value({"resource": "limits.cpu", "divisor": "lots"}, {}, Allocatable())


def test_referenced_names_the_objects_a_pod_needs() -> None:
    pod = {"spec": {"containers": [{"envFrom": [{"configMapRef": {"name": "a"}},
                                                {"secretRef": {"name": "s1"}}],
                                    "env": [ref("configMapKeyRef", "b", "k") | {"name": "X"},
                                            ref("secretKeyRef", "s2", "k") | {"name": "Y"}]}],
                    "volumes": [{"name": "v", "configMap": {"name": "c"}},
                                {"name": "w", "secret": {"secretName": "s3"}},
                                {"name": "p", "projected": {"sources": [
                                    {"configMap": {"name": "d"}}, {"secret": {"name": "s4"}}]}}]}}
    assert referenced(pod) == ({"a", "b", "c", "d"}, {"s1", "s2", "s3", "s4"})
