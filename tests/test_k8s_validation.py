"""Validation rules, one table row each: the change to a valid object and the error it causes."""

from __future__ import annotations

from typing import Any

import pytest

from probelab.k8s import defaults
from probelab.k8s.validation import FieldError, Reason, describe, validate
from support.samples import deployment, pod, service, set_path

C0 = "spec.template.spec.containers[0]"


def errors_of(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[FieldError]:
    return validate(defaults.apply_defaults(obj), old)


def test_the_samples_are_valid() -> None:
    for obj in (deployment(), service(), pod()):
        assert errors_of(obj) == []


def test_the_issue_message_example() -> None:
    obj = set_path(deployment(), f"{C0}.readinessProbe.periodSeconds", -5)
    errors = errors_of(obj)
    assert describe(obj, errors) == ('Deployment "simpleprobe": spec.template.spec.'
                                     'containers[0].readinessProbe.periodSeconds: must be >= 1')
    assert errors[0].reason == "FieldValueInvalid"


DEPLOYMENT_CASES = [
    # (path to set, value (... deletes), expected field, reason, message part)
    ("metadata.name", "Simple_Probe", "metadata.name", Reason.INVALID, "RFC 1123 subdomain"),
    ("metadata.name", ..., "metadata.name", Reason.REQUIRED, "name or generateName"),
    ("metadata.name", "a" * 254, "metadata.name", Reason.INVALID, "no more than 253"),
    ("metadata.namespace", "Probes", "metadata.namespace", Reason.INVALID, "RFC 1123 label"),
    ("metadata.labels", {"bad key!": "x"}, "metadata.labels", Reason.INVALID, "name part"),
    ("metadata.labels", {"app": "-x"}, "metadata.labels[app]", Reason.INVALID, "valid label"),
    ("metadata.labels", {"app": 3}, "metadata.labels[app]", Reason.INVALID, "must be a string"),
    ("metadata.labels", {"/x": "y"}, "metadata.labels", Reason.INVALID, "prefix part"),
    ("metadata.annotations", {"a": "x" * 300000}, "metadata.annotations", Reason.TOO_LONG,
     "262144 bytes"),
    ("spec.replicas", -1, "spec.replicas", Reason.INVALID, "must be >= 0"),
    ("spec.replicas", "3", "spec.replicas", Reason.INVALID, "must be an integer"),
    ("spec.selector", ..., "spec.selector", Reason.REQUIRED, ""),
    ("spec.selector", {}, "spec.selector", Reason.INVALID, "empty selector"),
    ("spec.selector.matchLabels", {"app": "other"}, "spec.template.metadata.labels",
     Reason.INVALID, "`selector` does not match template `labels`"),
    ("spec.selector.matchExpressions", [{"key": "app", "operator": "Near"}],
     "spec.selector.matchExpressions[0].operator", Reason.NOT_SUPPORTED, '"Near"'),
    ("spec.selector.matchExpressions", [{"key": "app", "operator": "In"}],
     "spec.selector.matchExpressions[0].values", Reason.REQUIRED, ""),
    ("spec.template", ..., "spec.template", Reason.REQUIRED, ""),
    ("spec.template.spec.containers", [], "spec.template.spec.containers", Reason.REQUIRED,
     ""),
    ("spec.template.spec.restartPolicy", "Never", "spec.template.spec.restartPolicy",
     Reason.NOT_SUPPORTED, 'supported values: "Always"'),
    ("spec.template.spec.terminationGracePeriodSeconds", -1,
     "spec.template.spec.terminationGracePeriodSeconds", Reason.INVALID, ">= 0"),
    (f"{C0}.name", "Simple_Web", f"{C0}.name", Reason.INVALID, "RFC 1123 label"),
    (f"{C0}.name", ..., f"{C0}.name", Reason.REQUIRED, ""),
    (f"{C0}.image", ..., f"{C0}.image", Reason.REQUIRED, ""),
    (f"{C0}.image", " x ", f"{C0}.image", Reason.INVALID, "whitespace"),
    (f"{C0}.imagePullPolicy", "Sometimes", f"{C0}.imagePullPolicy", Reason.NOT_SUPPORTED, ""),
    (f"{C0}.ports[0].containerPort", 70000, f"{C0}.ports[0].containerPort", Reason.INVALID,
     "between 1 and 65535"),
    (f"{C0}.ports[0].containerPort", ..., f"{C0}.ports[0].containerPort", Reason.REQUIRED, ""),
    (f"{C0}.ports[1].name", "http", f"{C0}.ports[1].name", Reason.DUPLICATE, '"http"'),
    (f"{C0}.ports[0].name", "web--port", f"{C0}.ports[0].name", Reason.INVALID,
     "consecutive hyphens"),
    (f"{C0}.ports[0].name", "a-very-long-port-name", f"{C0}.ports[0].name", Reason.INVALID,
     "no more than 15"),
    (f"{C0}.ports[0].protocol", "HTTP", f"{C0}.ports[0].protocol", Reason.NOT_SUPPORTED, ""),
    (f"{C0}.readinessProbe.timeoutSeconds", -1, f"{C0}.readinessProbe.timeoutSeconds",
     Reason.INVALID, "must be >= 1"),
    (f"{C0}.readinessProbe.failureThreshold", -2, f"{C0}.readinessProbe.failureThreshold",
     Reason.INVALID, "must be >= 1"),
    (f"{C0}.readinessProbe.initialDelaySeconds", -1,
     f"{C0}.readinessProbe.initialDelaySeconds", Reason.INVALID, "must be >= 0"),
    (f"{C0}.readinessProbe.httpGet", ..., f"{C0}.readinessProbe", Reason.REQUIRED,
     "must specify a handler type"),
    (f"{C0}.readinessProbe.tcpSocket", {"port": 8081}, f"{C0}.readinessProbe.tcpSocket",
     Reason.FORBIDDEN, "more than 1 handler type"),
    (f"{C0}.readinessProbe.httpGet.port", ..., f"{C0}.readinessProbe.httpGet.port",
     Reason.REQUIRED, ""),
    (f"{C0}.readinessProbe.httpGet.port", 0, f"{C0}.readinessProbe.httpGet.port",
     Reason.REQUIRED, ""),
    (f"{C0}.readinessProbe.httpGet.port", "8081", f"{C0}.readinessProbe.httpGet.port",
     Reason.INVALID, "numeric string"),
    (f"{C0}.readinessProbe.httpGet.scheme", "FTP", f"{C0}.readinessProbe.httpGet.scheme",
     Reason.NOT_SUPPORTED, ""),
    (f"{C0}.readinessProbe.terminationGracePeriodSeconds", 5,
     f"{C0}.readinessProbe.terminationGracePeriodSeconds", Reason.INVALID, "readinessProbes"),
    (f"{C0}.livenessProbe", {"tcpSocket": {"port": 8080}, "successThreshold": 2},
     f"{C0}.livenessProbe.successThreshold", Reason.INVALID, "must be 1"),
    (f"{C0}.startupProbe", {"exec": {"command": []}}, f"{C0}.startupProbe.exec.command",
     Reason.REQUIRED, ""),
    (f"{C0}.lifecycle.preStop", {}, f"{C0}.lifecycle.preStop", Reason.REQUIRED,
     "handler type"),
    (f"{C0}.lifecycle.preStop", {"sleep": {"seconds": 40}}, f"{C0}.lifecycle.preStop.sleep"
     ".seconds", Reason.INVALID, "terminationGracePeriodSeconds (30)"),
    (f"{C0}.lifecycle.preStop", {"sleep": {"seconds": -1}}, f"{C0}.lifecycle.preStop.sleep"
     ".seconds", Reason.INVALID, "non-negative"),
    (f"{C0}.env", [{"value": "x"}], f"{C0}.env[0].name", Reason.REQUIRED, ""),
    (f"{C0}.env", [{"name": "A=B"}], f"{C0}.env[0].name", Reason.INVALID, "other than '='"),
    (f"{C0}.env", [{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "a"}}}],
     f"{C0}.env[0].valueFrom", Reason.INVALID, "`value` is not empty"),
    (f"{C0}.volumeMounts", [{"name": "data", "mountPath": "/d"}],
     f"{C0}.volumeMounts[0].name", Reason.NOT_FOUND, '"data"'),
    (f"{C0}.command", "python -m web", f"{C0}.command", Reason.INVALID, "list of strings"),
    ("spec.strategy.type", "BlueGreen", "spec.strategy.type", Reason.NOT_SUPPORTED,
     '"Recreate", "RollingUpdate"'),
    ("spec.strategy", {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}},
     "spec.strategy.rollingUpdate", Reason.FORBIDDEN, "'Recreate'"),
    ("spec.strategy", {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}},
     "spec.strategy.rollingUpdate.maxUnavailable", Reason.INVALID,
     "may not be 0 when `maxSurge` is 0"),
    ("spec.strategy", {"rollingUpdate": {"maxSurge": "0%", "maxUnavailable": 0}},
     "spec.strategy.rollingUpdate.maxUnavailable", Reason.INVALID, "may not be 0"),
    ("spec.strategy", {"rollingUpdate": {"maxSurge": "25", "maxUnavailable": 1}},
     "spec.strategy.rollingUpdate.maxSurge", Reason.INVALID, "percent string"),
    ("spec.strategy", {"rollingUpdate": {"maxSurge": -1}},
     "spec.strategy.rollingUpdate.maxSurge", Reason.INVALID, "must be >= 0"),
    ("spec.strategy", {"rollingUpdate": {"maxUnavailable": "150%"}},
     "spec.strategy.rollingUpdate.maxUnavailable", Reason.INVALID, "100%"),
    ("spec.revisionHistoryLimit", -1, "spec.revisionHistoryLimit", Reason.INVALID, ">= 0"),
    # list fields: a value that is not a list, an item that is not an object
    (f"{C0}.env", {"A": "x"}, f"{C0}.env", Reason.INVALID, "must be a list"),
    (f"{C0}.env", ["A=x"], f"{C0}.env[0]", Reason.INVALID, "must be an object"),
    (f"{C0}.ports", [8080], f"{C0}.ports[0]", Reason.INVALID, "must be an object"),
    (f"{C0}.volumeMounts", "/data", f"{C0}.volumeMounts", Reason.INVALID, "must be a list"),
    ("spec.template.spec.volumes", [None, 1], "spec.template.spec.volumes[1]", Reason.INVALID,
     "must be an object"),
    ("spec.template.spec.initContainers", {}, "spec.template.spec.initContainers",
     Reason.INVALID, "must be a list"),
    ("spec.template.spec.containers", ["web"], "spec.template.spec.containers[0]",
     Reason.INVALID, "must be an object"),
    ("spec.selector.matchExpressions", "app=web", "spec.selector.matchExpressions",
     Reason.INVALID, "must be a list"),
    ("spec.selector.matchExpressions", [3], "spec.selector.matchExpressions[0]",
     Reason.INVALID, "must be an object"),
    ("spec.minReadySeconds", 700, "spec.progressDeadlineSeconds", Reason.INVALID,
     "greater than minReadySeconds"),
]


@pytest.mark.parametrize(("path", "value", "field", "reason", "part"), DEPLOYMENT_CASES,
                         ids=[f"{c[0]}={str(c[1])[:20]}" for c in DEPLOYMENT_CASES])
def test_deployment_rules(path: str, value: Any, field: str, reason: Reason,
                          part: str) -> None:
    errors = errors_of(set_path(deployment(), path, value))
    matching = [e for e in errors if e.field == field and e.reason == reason]
    assert matching, f"no {reason.value} at {field}: {errors}"
    assert any(part in e.message for e in matching), matching


def test_zero_probe_numbers_are_defaulted_like_go_int32() -> None:
    obj = set_path(deployment(), f"{C0}.readinessProbe.periodSeconds", 0)
    assert errors_of(obj) == []
    # validate() expects a defaulted object: without defaults the 0 is an explicit bad value
    fields = [e.field for e in validate(obj, None)]
    assert f"{C0}.readinessProbe.periodSeconds" in fields


def test_duplicate_container_names_across_init_containers() -> None:
    obj = deployment()
    spec = obj["spec"]["template"]["spec"]
    spec["initContainers"] = [{"name": "simpleweb", "image": "busybox"}]
    errors = errors_of(obj)
    assert [(e.field, e.reason) for e in errors] == [
        (f"{C0}.name", Reason.DUPLICATE)]


def test_a_recreate_strategy_is_valid() -> None:
    assert errors_of(set_path(deployment(), "spec.strategy", {"type": "Recreate"})) == []


def test_selector_is_immutable_on_update() -> None:
    old = defaults.apply_defaults(deployment())
    new = set_path(deployment(), "spec.selector.matchLabels", {"app": "simpleprobe",
                                                               "tier": "web"})
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "web"
    assert errors_of(new) == []
    errors = errors_of(new, old)
    assert [(e.field, e.message) for e in errors] == [("spec.selector", "field is immutable")]
    assert errors_of(deployment(), old) == []


SERVICE_CASES = [
    ("metadata.name", "1web", "metadata.name", Reason.INVALID, "DNS-1035"),
    ("spec.type", "Ingress", "spec.type", Reason.NOT_SUPPORTED, '"ClusterIP"'),
    ("spec.ports", [], "spec.ports", Reason.REQUIRED, ""),
    ("spec.ports[0].port", 0, "spec.ports[0].port", Reason.REQUIRED, ""),
    ("spec.ports[0].port", 65536, "spec.ports[0].port", Reason.INVALID, "65535"),
    ("spec.ports[0].targetPort", 99999, "spec.ports[0].targetPort", Reason.INVALID, "65535"),
    ("spec.ports[0].targetPort", "Http_Port", "spec.ports[0].targetPort", Reason.INVALID,
     "alpha-numeric"),
    ("spec.ports[0].protocol", "ICMP", "spec.ports[0].protocol", Reason.NOT_SUPPORTED, ""),
    ("spec.ports[0].nodePort", 8080, "spec.ports[0].nodePort", Reason.INVALID,
     "30000-32767"),
    ("spec.sessionAffinity", "Cookie", "spec.sessionAffinity", Reason.NOT_SUPPORTED, ""),
    ("spec.selector", {"app": "-"}, "spec.selector[app]", Reason.INVALID, "valid label"),
    ("spec.externalTrafficPolicy", "Nearest", "spec.externalTrafficPolicy",
     Reason.NOT_SUPPORTED, ""),
]


@pytest.mark.parametrize(("path", "value", "field", "reason", "part"), SERVICE_CASES,
                         ids=[f"{c[0]}={str(c[1])[:20]}" for c in SERVICE_CASES])
def test_service_rules(path: str, value: Any, field: str, reason: Reason, part: str) -> None:
    errors = errors_of(set_path(service(), path, value))
    matching = [e for e in errors if e.field == field and e.reason == reason]
    assert matching, f"no {reason.value} at {field}: {errors}"
    assert any(part in e.message for e in matching), matching


def test_service_with_two_ports_needs_names_and_unique_ports() -> None:
    obj = service()
    obj["spec"]["ports"] = [{"port": 80, "targetPort": "http"}, {"port": 80, "name": "b"}]
    found = {(e.field, e.reason) for e in errors_of(obj)}
    assert found == {("spec.ports[0].name", Reason.REQUIRED),
                     ("spec.ports[1]", Reason.DUPLICATE)}
    obj["spec"]["ports"] = [{"port": 80, "name": "a"}, {"port": 80, "name": "b",
                                                       "protocol": "UDP"}]
    assert errors_of(obj) == []


def test_node_port_on_a_cluster_ip_service_is_forbidden() -> None:
    obj = set_path(service(), "spec.type", "ClusterIP")
    obj["spec"]["ports"][0]["nodePort"] = 30080
    errors = errors_of(obj)
    assert [(e.field, e.reason) for e in errors] == [("spec.ports[0].nodePort",
                                                      Reason.FORBIDDEN)]


def test_namespace_names_are_dns_labels() -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "probes.v2"}}
    assert [e.field for e in errors_of(ns)] == ["metadata.name"]
    ns["metadata"]["name"] = "probes"
    assert errors_of(ns) == []
    ns["metadata"]["namespace"] = "Ignored_Here"  # the API server clears it for Namespaces
    assert errors_of(ns) == []


def test_pod_rules_use_spec_paths() -> None:
    obj = pod()
    obj["spec"]["containers"][0]["readinessProbe"]["periodSeconds"] = -1
    obj["spec"]["restartPolicy"] = "Sometimes"
    assert [(e.field, e.reason) for e in errors_of(obj)] == [
        ("spec.restartPolicy", Reason.NOT_SUPPORTED),
        ("spec.containers[0].readinessProbe.periodSeconds", Reason.INVALID)]


def test_replica_set_needs_a_matching_selector() -> None:
    rs = deployment()
    rs["kind"] = "ReplicaSet"
    del rs["spec"]["selector"]
    assert [(e.field, e.reason) for e in errors_of(rs)] == [("spec.selector",
                                                             Reason.REQUIRED)]


def test_endpoint_slice_needs_an_address_type() -> None:
    eps = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "web-abc"}, "endpoints": [{"addresses": []}]}
    assert [(e.field, e.reason) for e in errors_of(eps)] == [
        ("addressType", Reason.REQUIRED), ("endpoints[0].addresses", Reason.REQUIRED)]
    eps["endpoints"] = [{"addresses": ["127.0.0.1"]}, "127.0.0.2"]
    assert [(e.field, e.reason) for e in errors_of(eps)] == [
        ("addressType", Reason.REQUIRED), ("endpoints[1]", Reason.INVALID)]


def test_wrong_types_are_errors_not_exceptions() -> None:
    assert [e.field for e in validate([], None)] == [""]
    bad = {"kind": "Deployment", "metadata": "x", "spec": {"template": {"spec": {
        "containers": "web"}}, "selector": 5, "strategy": []}}
    fields = [e.field for e in validate(bad, None)]
    assert fields == ["metadata", "spec.selector", "spec.template.spec.containers",
                      "spec.strategy"]


def test_describe_joins_every_error_on_one_line() -> None:
    obj = set_path(deployment(), "spec.replicas", -1)
    obj["spec"]["template"]["spec"]["containers"][0]["image"] = ""
    line = describe(obj, errors_of(obj))
    assert "\n" not in line
    assert line == ('Deployment "simpleprobe": spec.replicas: must be >= 0; '
                    f'{C0}.image: Required value')


def test_field_errors_read_as_plain_strings_for_the_api() -> None:
    error = errors_of(set_path(deployment(), "spec.replicas", -1))[0]
    assert (error.field, error.message, str(error.reason)) == (
        "spec.replicas", "must be >= 0", "FieldValueInvalid")
    assert str(error) == "spec.replicas: must be >= 0"
