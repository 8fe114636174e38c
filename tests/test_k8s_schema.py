"""Strict field validation: the fields a kind's schema does not know, with upstream paths."""

from __future__ import annotations

from probelab.k8s.defaults import apply_defaults
from probelab.k8s.schema import model_name, type_errors, unknown_fields
from support.samples import deployment, pod, service


def test_valid_objects_have_no_unknown_fields() -> None:
    for obj in (deployment(), service(), pod()):
        assert unknown_fields(obj) == []
        assert unknown_fields(apply_defaults(obj)) == []


def test_typos_are_found_at_every_depth() -> None:
    obj = deployment()
    obj["metadata"]["nmae"] = "x"
    obj["spec"]["replica"] = 3
    c = obj["spec"]["template"]["spec"]["containers"][0]
    c["readinesProbe"] = c.pop("readinessProbe")
    c["lifecycle"]["preStop"]["httpGet"]["prot"] = 1
    obj["spec"]["template"]["spec"]["containers"].append({"name": "b", "image": "b",
                                                          "ports": [{"containerPrt": 1}]})
    assert unknown_fields(obj) == [  # in document order
        "metadata.nmae",
        "spec.template.spec.containers[0].lifecycle.preStop.httpGet.prot",
        "spec.template.spec.containers[0].readinesProbe",
        "spec.template.spec.containers[1].ports[0].containerPrt",
        "spec.replica",
    ]


def test_free_form_values_are_not_judged() -> None:
    obj = deployment()
    obj["spec"]["strategy"] = {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}
    c = obj["spec"]["template"]["spec"]["containers"][0]
    c["resources"] = {"limits": {"cpu": "1", "memory": "64Mi"}}
    obj["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]
    obj["metadata"]["annotations"] = {"anything.goes/here": "x"}
    assert unknown_fields(obj) == []


def test_other_kinds() -> None:
    svc = service()
    svc["spec"]["ports"][0]["nodeport"] = 30000
    assert unknown_fields(svc) == ["spec.ports[0].nodeport"]
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
             "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Started", "x": 1}
    assert unknown_fields(event) == ["x"]
    eps = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True,
                                                                      "redy": True}}]}
    assert unknown_fields(eps) == ["endpoints[0].conditions.redy"]


def test_model_names() -> None:
    assert model_name("apps/v1", "Deployment") == "V1Deployment"
    assert model_name("v1", "Event") == "CoreV1Event"
    assert model_name("discovery.k8s.io/v1", "EndpointSlice") == "V1EndpointSlice"
    assert model_name("autoscaling/v1", "Scale") == "V1Scale"
    assert model_name("v1", "NoSuchKind") is None
    assert model_name(None, "Pod") is None


def test_unknown_kinds_and_non_objects_are_not_judged() -> None:
    assert unknown_fields({"apiVersion": "example.com/v1", "kind": "Widget", "x": 1}) == []
    assert unknown_fields("text") == []
    assert unknown_fields({"apiVersion": "v1", "kind": "Pod", "spec": "x"}) == []


def test_type_errors_name_the_field_and_both_types() -> None:
    obj = deployment()
    obj["spec"]["replicas"] = "three"
    obj["spec"]["paused"] = "yes"
    obj["metadata"]["labels"] = {"app": 5}
    c = obj["spec"]["template"]["spec"]["containers"][0]
    c["ports"] = {"containerPort": 8080}
    c["readinessProbe"]["periodSeconds"] = True
    obj["spec"]["strategy"] = {"rollingUpdate": {"maxSurge": ["x"]}}  # IntOrString: free-form
    assert type_errors(obj) == [
        "metadata.labels[app]: expected a string, got a number",
        "spec.replicas: expected an integer, got a string",
        "spec.template.spec.containers[0].ports: expected a list, got an object",
        "spec.template.spec.containers[0].readinessProbe.periodSeconds: expected an integer, "
        "got a boolean",
        "spec.paused: expected a boolean, got a string",
    ]


def test_type_errors_accept_nulls_and_valid_objects_but_not_fractions() -> None:
    obj = deployment()
    obj["spec"]["minReadySeconds"] = None
    assert type_errors(obj) == []
    obj["spec"]["replicas"] = 3.0  # Go's decoder refuses a fraction for an int32 too
    assert type_errors(obj) == ["spec.replicas: expected an integer, got a number"]
    assert type_errors(service()) == [] and type_errors(pod()) == []
    assert type_errors({"apiVersion": "v1", "kind": "Pod", "spec": "x"}) == [
        "spec: expected an object, got a string"]
