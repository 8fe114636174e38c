"""Defaulting: what the API server fills in, per kind, and that it never overrides a value."""

from __future__ import annotations

import pytest

from probelab.k8s.defaults import apply_defaults, image_pull_policy
from support.samples import container, deployment, pod, service


def test_deployment_defaults() -> None:
    obj = deployment()
    del obj["spec"]["replicas"]
    spec = apply_defaults(obj)["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    assert "minReadySeconds" not in spec
    pod_spec = spec["template"]["spec"]
    assert (pod_spec["restartPolicy"], pod_spec["terminationGracePeriodSeconds"],
            pod_spec["dnsPolicy"], pod_spec["schedulerName"]) == (
        "Always", 30, "ClusterFirst", "default-scheduler")
    assert "enableServiceLinks" not in pod_spec  # a Pod default, not a template one


def test_given_values_are_kept() -> None:
    obj = deployment()
    obj["spec"]["replicas"] = 0
    obj["spec"]["strategy"] = {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    obj["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 0
    spec = apply_defaults(obj)["spec"]
    assert spec["replicas"] == 0
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] == 0


def test_recreate_gets_no_rolling_update() -> None:
    obj = deployment()
    obj["spec"]["strategy"] = {"type": "Recreate"}
    assert apply_defaults(obj)["spec"]["strategy"] == {"type": "Recreate"}


def test_container_and_probe_defaults() -> None:
    c = container(apply_defaults(deployment()))
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert [p["protocol"] for p in c["ports"]] == ["TCP", "TCP"]
    assert c["readinessProbe"] == {
        "httpGet": {"path": "/healthz", "port": "admin", "scheme": "HTTP"},
        "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert c["lifecycle"]["preStop"]["httpGet"]["scheme"] == "HTTP"


def test_probe_zeroes_count_as_unset_and_other_values_stay() -> None:
    obj = deployment()
    container(obj)["livenessProbe"] = {"tcpSocket": {"port": 8080}, "periodSeconds": 0,
                                       "failureThreshold": 7, "initialDelaySeconds": 0}
    probe = container(apply_defaults(obj))["livenessProbe"]
    assert probe == {"tcpSocket": {"port": 8080}, "periodSeconds": 10, "failureThreshold": 7,
                     "initialDelaySeconds": 0, "timeoutSeconds": 1, "successThreshold": 1}


def test_http_get_path_defaults_to_root() -> None:
    obj = deployment()
    container(obj)["readinessProbe"] = {"httpGet": {"port": 8081}}
    assert container(apply_defaults(obj))["readinessProbe"]["httpGet"]["path"] == "/"


@pytest.mark.parametrize(("image", "policy"), [
    ("probelab/simpleweb", "Always"),
    ("probelab/simpleweb:latest", "Always"),
    ("probelab/simpleweb:1.0", "IfNotPresent"),
    ("registry.local:5000/simpleweb", "Always"),
    ("registry.local:5000/simpleweb:2.0", "IfNotPresent"),
    ("simpleweb@sha256:" + "a" * 64, "IfNotPresent"),
    ("simpleweb:latest@sha256:" + "a" * 64, "Always"),
    (None, "IfNotPresent"),
])
def test_image_pull_policy(image: str | None, policy: str) -> None:
    assert image_pull_policy(image) == policy


def test_pod_defaults() -> None:
    spec = apply_defaults(pod())["spec"]
    assert spec["enableServiceLinks"] is True
    assert spec["restartPolicy"] == "Always"


def test_service_defaults() -> None:
    obj = service()
    obj["spec"]["ports"].append({"name": "admin", "port": 81})
    spec = apply_defaults(obj)["spec"]
    assert spec["sessionAffinity"] == "None"
    assert spec["externalTrafficPolicy"] == "Cluster"
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert spec["ports"] == [{"port": 80, "targetPort": "http", "protocol": "TCP"},
                             {"name": "admin", "port": 81, "protocol": "TCP",
                              "targetPort": 81}]
    del obj["spec"]["type"]
    plain = apply_defaults(obj)["spec"]
    assert plain["type"] == "ClusterIP"
    assert "externalTrafficPolicy" not in plain


def test_client_ip_affinity_gets_its_timeout() -> None:
    obj = service()
    obj["spec"]["sessionAffinity"] = "ClientIP"
    config = apply_defaults(obj)["spec"]["sessionAffinityConfig"]
    assert config == {"clientIP": {"timeoutSeconds": 10800}}


def test_namespace_gets_its_name_label() -> None:
    ns = apply_defaults({"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": "probes"}})
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "probes"}


def test_endpoint_slice_ports_default_to_tcp() -> None:
    eps = apply_defaults({"kind": "EndpointSlice", "ports": [{"port": 8080}]})
    assert eps["ports"] == [{"port": 8080, "protocol": "TCP", "name": ""}]


def test_defaulting_copies_and_is_idempotent() -> None:
    original = deployment()
    once = apply_defaults(original)
    assert original == deployment()
    assert apply_defaults(once) == once


def test_unknown_kinds_and_wrong_types_pass_through() -> None:
    assert apply_defaults({"kind": "ConfigMap", "data": {"a": "b"}}) == {
        "kind": "ConfigMap", "data": {"a": "b"}}
    weird = {"kind": "Deployment", "spec": {"template": {"spec": {"containers": ["x", 3]}},
                                            "strategy": "fast"}}
    out = apply_defaults(weird)
    assert out["spec"]["strategy"] == "fast"
    assert out["spec"]["template"]["spec"]["containers"] == ["x", 3]
