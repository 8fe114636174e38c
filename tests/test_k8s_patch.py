"""PATCH semantics: RFC 6902, RFC 7386 and Kubernetes strategic merge, with what kubectl sends."""

from __future__ import annotations

from typing import Any

import pytest

from probelab.k8s.defaults import apply_defaults
from probelab.k8s.patch import json_merge_patch, json_patch, strategic_merge_patch
from support.samples import container, deployment, service

# --- strategic merge patch: what kubectl sends ----------------------------------------------


def test_kubectl_set_image() -> None:
    target = apply_defaults(deployment())
    target["spec"]["template"]["spec"]["containers"].append(
        {"name": "sidecar", "image": "busybox:1"})
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "simpleweb", "image": "probelab/simpleweb:2.0"}]}}}}
    out = strategic_merge_patch(target, patch, "Deployment")
    containers = out["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [
        ("simpleweb", "probelab/simpleweb:2.0"), ("sidecar", "busybox:1")]
    # everything else of the container is kept (a merge patch would have dropped it)
    assert containers[0]["readinessProbe"] == container(target)["readinessProbe"]
    assert target["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.0")


def test_the_same_patch_as_merge_patch_replaces_the_list() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "simpleweb", "image": "probelab/simpleweb:2.0"}]}}}}
    out = json_merge_patch(deployment(), patch)
    assert out["spec"]["template"]["spec"]["containers"] == [
        {"name": "simpleweb", "image": "probelab/simpleweb:2.0"}]


def test_kubectl_rollout_restart() -> None:
    patch = {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2026-11-25T22:00:00Z"}}}}}
    out = strategic_merge_patch(deployment(), patch, "Deployment")
    meta = out["spec"]["template"]["metadata"]
    assert meta == {"labels": {"app": "simpleprobe"}, "annotations": {
        "kubectl.kubernetes.io/restartedAt": "2026-11-25T22:00:00Z"}}


def test_kubectl_apply_three_way_patch_with_set_element_order() -> None:
    target = deployment()
    c = container(target)
    c["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "simpleweb"}],
            "containers": [{
                "$setElementOrder/env": [{"name": "C"}, {"name": "B"}],
                "name": "simpleweb",
                "env": [{"name": "C", "value": "3"}, {"$patch": "delete", "name": "A"}],
                "readinessProbe": {"periodSeconds": 2},
            }],
        }}},
    }
    out = strategic_merge_patch(target, patch, "Deployment")
    c2 = container(out)
    assert c2["env"] == [{"name": "C", "value": "3"}, {"name": "B", "value": "2"}]
    assert c2["readinessProbe"] == {"httpGet": {"path": "/healthz", "port": "admin"},
                                    "periodSeconds": 2}
    assert "$setElementOrder/env" not in c2
    assert out["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/last-applied-configuration": "{}"}


def test_container_ports_merge_by_container_port_and_null_deletes() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{
        "name": "simpleweb",
        "ports": [{"containerPort": 8081, "name": "metrics"}, {"containerPort": 9000}],
        "lifecycle": None}]}}}}
    c = container(strategic_merge_patch(deployment(), patch, "Deployment"))
    assert c["ports"] == [{"name": "http", "containerPort": 8080},
                          {"name": "metrics", "containerPort": 8081},
                          {"containerPort": 9000}]
    assert "lifecycle" not in c


def test_service_ports_merge_by_port() -> None:
    patch = {"spec": {"ports": [{"port": 80, "nodePort": 30080}, {"port": 81, "name": "b"}]}}
    out = strategic_merge_patch(service(), patch, "Service")
    assert out["spec"]["ports"] == [{"port": 80, "targetPort": "http", "nodePort": 30080},
                                    {"port": 81, "name": "b"}]


def test_patch_replace_directive_on_a_list_and_a_map() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "only", "image": "x"}, {"$patch": "replace"}]}}}}
    out = strategic_merge_patch(deployment(), patch, "Deployment")
    assert out["spec"]["template"]["spec"]["containers"] == [{"name": "only", "image": "x"}]
    out = strategic_merge_patch(deployment(), {"spec": {"selector": {
        "$patch": "replace", "matchLabels": {"x": "y"}}}}, "Deployment")
    assert out["spec"]["selector"] == {"matchLabels": {"x": "y"}}


def test_patch_delete_directive_on_a_map() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "simpleweb", "lifecycle": {"$patch": "delete"}}]}}}}
    assert "lifecycle" not in container(strategic_merge_patch(deployment(), patch,
                                                              "Deployment"))


def test_retain_keys_clears_the_other_strategy_fields() -> None:
    target = apply_defaults(deployment())
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate",
                                   "rollingUpdate": None}}}
    out = strategic_merge_patch(target, patch, "Deployment")
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_finalizers_merge_as_a_set_and_can_be_deleted_from() -> None:
    target = {"metadata": {"name": "a", "finalizers": ["a", "b"]}}
    out = strategic_merge_patch(target, {"metadata": {"finalizers": ["b", "c"]}}, "Pod")
    assert out["metadata"]["finalizers"] == ["a", "b", "c"]
    out = strategic_merge_patch(out, {"metadata": {"$deleteFromPrimitiveList/finalizers":
                                                   ["a"]}}, "Pod")
    assert out["metadata"]["finalizers"] == ["b", "c"]


def test_lists_without_a_strategy_are_replaced() -> None:
    target = {"spec": {"containers": [{"name": "a", "args": ["1", "2"]}],
                       "tolerations": [{"key": "a"}]}}
    patch = {"spec": {"containers": [{"name": "a", "args": ["3"]}], "tolerations": []}}
    out = strategic_merge_patch(target, patch, "Pod")
    assert out == {"spec": {"containers": [{"name": "a", "args": ["3"]}], "tolerations": []}}


def test_missing_merge_key_is_an_error() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}
    with pytest.raises(ValueError, match="merge key 'name'"):
        strategic_merge_patch(deployment(), patch, "Deployment")


def test_scale_patch_on_any_kind() -> None:
    out = strategic_merge_patch(deployment(), {"spec": {"replicas": 10}}, "Deployment")
    assert out["spec"]["replicas"] == 10


# --- RFC 7386 ------------------------------------------------------------------------------


@pytest.mark.parametrize(("target", "patch", "result"), [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
])
def test_rfc7386_examples(target: Any, patch: Any, result: Any) -> None:
    assert json_merge_patch(target, patch) == result


def test_kubectl_scale_subresource_merge_patch() -> None:
    scale = {"kind": "Scale", "spec": {"replicas": 1}, "status": {"replicas": 1}}
    assert json_merge_patch(scale, {"spec": {"replicas": 3}})["spec"] == {"replicas": 3}


# --- RFC 6902 ------------------------------------------------------------------------------

DOC = {"foo": ["bar", "baz"], "obj": {"a/b": 1, "m~n": 2}}


@pytest.mark.parametrize(("ops", "result"), [
    ([{"op": "add", "path": "/foo/1", "value": "qux"}],
     {**DOC, "foo": ["bar", "qux", "baz"]}),
    ([{"op": "add", "path": "/foo/-", "value": "end"}],
     {**DOC, "foo": ["bar", "baz", "end"]}),
    ([{"op": "add", "path": "/new", "value": {"x": 1}}], {**DOC, "new": {"x": 1}}),
    ([{"op": "remove", "path": "/foo/0"}], {**DOC, "foo": ["baz"]}),
    ([{"op": "remove", "path": "/obj/a~1b"}], {**DOC, "obj": {"m~n": 2}}),
    ([{"op": "replace", "path": "/obj/m~0n", "value": 3}], {**DOC, "obj": {"a/b": 1,
                                                                          "m~n": 3}}),
    ([{"op": "move", "from": "/foo/0", "path": "/first"}],
     {**DOC, "foo": ["baz"], "first": "bar"}),
    ([{"op": "copy", "from": "/obj", "path": "/copy"}], {**DOC, "copy": DOC["obj"]}),
    ([{"op": "test", "path": "/foo/1", "value": "baz"},
      {"op": "replace", "path": "", "value": [1]}], [1]),
])
def test_json_patch_operations(ops: list[dict[str, Any]], result: Any) -> None:
    assert json_patch(DOC, ops) == result
    assert DOC["foo"] == ["bar", "baz"]  # the target is not changed


@pytest.mark.parametrize(("ops", "message"), [
    ([{"op": "test", "path": "/foo/0", "value": "nope"}], "operation 0: test failed"),
    ([{"op": "test", "path": "/obj/a~1b", "value": True}], "test failed"),
    ([{"op": "remove", "path": "/missing"}], "not found"),
    ([{"op": "replace", "path": "/missing", "value": 1}], "'missing' not found"),
    ([{"op": "add", "path": "/foo/5", "value": 1}], "out of range"),
    ([{"op": "add", "path": "/foo/01", "value": 1}], "not a valid array index"),
    ([{"op": "add", "path": "foo", "value": 1}], "must start with '/'"),
    ([{"op": "add", "path": "/x"}], "needs a 'value'"),
    ([{"op": "jump", "path": "/x"}], "unsupported operation 'jump'"),
    ([{"op": "move", "from": "/obj", "path": "/obj/inner"}], "its own children"),
    ([{"op": "add", "path": "/foo/0/deeper", "value": 1}], "cannot"),
    (["add"], "must be an object"),
    ({"op": "add"}, "must be a list"),
    ([{"op": "add", "path": "/a", "value": 1}, {"op": "remove", "path": "/b"}],
     "operation 1"),
])
def test_json_patch_failures(ops: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        json_patch(DOC, ops)


def test_merge_list_that_did_not_exist_drops_delete_directives() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{
        "name": "simpleweb", "env": [{"name": "A", "value": "1"},
                                     {"name": "B", "$patch": "delete"}]}]}}}}
    c = container(strategic_merge_patch(deployment(), patch, "Deployment"))
    assert c["env"] == [{"name": "A", "value": "1"}]
