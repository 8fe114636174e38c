"""The engine's API server, driven over HTTPS by the official `kubernetes` client and raw HTTP.

One API server runs per module on a free loopback port, with the namespace controller (which
empties and removes deleted namespaces) but no other controller and no kubelet, so every object
stays exactly as the API left it; the client connects through a kubeconfig context exactly as it
would to a real cluster. Each test uses its own namespace.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from probelab.engine.controllers.namespace import NamespaceController
from support.api_engine import ApiEngine
from support.waiting import wait_until

_names = itertools.count()





@pytest.fixture(scope="module")
def engine() -> Iterator[ApiEngine]:
    with ApiEngine((NamespaceController,)) as running:
        # The controller waits 5 s before emptying a namespace, as Kubernetes does; these
        # tests are about what the API does around it, so they need not wait that long.
        for component in running.components:
            if component.name == "namespace":
                component.deletion_grace_s = 0.1
        yield running


@pytest.fixture(scope="module")
def api_client(engine: ApiEngine) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(engine.kubeconfig()), context="probelab")
    yield api
    api.close()


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture
def ns(core: client.CoreV1Api) -> str:
    name = f"t{next(_names)}"
    core.create_namespace({"metadata": {"name": name}})
    return name


def deployment(name: str = "web", replicas: int = 2, image: str = "probelab/simpleweb:1.0",
               labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                {"name": "simpleweb", "image": image,
                 "ports": [{"name": "http", "containerPort": 8080}],
                 "env": [{"name": "A", "value": "1"}]},
                {"name": "sidecar", "image": "busybox:1"},
            ]}},
        },
    }


def pod(name: str, labels: dict[str, str] | None = None, node: str | None = None
        ) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "probelab/simpleweb:1.0"}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def status_of(exc: ApiException) -> dict[str, Any]:
    return json.loads(exc.body)


# ---- discovery ----------

def test_discovery_lists_groups_resources_and_subresources(api_client: client.ApiClient) -> None:
    assert client.CoreApi(api_client).get_api_versions().versions == ["v1"]
    groups = {g.name: g.preferred_version.group_version
              for g in client.ApisApi(api_client).get_api_versions().groups}
    assert groups["apps"] == "apps/v1"
    assert groups["discovery.k8s.io"] == "discovery.k8s.io/v1"
    core_names = {r.name for r in client.CoreV1Api(api_client).get_api_resources().resources}
    assert {"namespaces", "pods", "pods/log", "pods/status", "services", "endpoints",
            "events"} <= core_names
    apps_resources = {r.name: r for r in client.AppsV1Api(api_client).get_api_resources()
                      .resources}
    assert {"deployments", "deployments/scale", "deployments/status", "replicasets"} <= set(
        apps_resources)
    assert apps_resources["deployments/scale"].kind == "Scale"
    assert apps_resources["deployments"].short_names == ["deploy"]
    slices = client.DiscoveryV1Api(api_client).get_api_resources().resources
    assert [r.name for r in slices] == ["endpointslices"]
    version = client.VersionApi(api_client).get_code()
    assert (version.major, version.minor) == ("1", "37")


def test_version_and_health_are_public_but_everything_else_needs_the_token(
        engine: ApiEngine) -> None:
    code, _, body = engine.request("GET", "/version", token=None)
    assert code == 200 and json.loads(body)["major"] == "1"
    for path in ("/api", "/apis", "/api/v1/namespaces", "/openapi/v3"):
        code, headers, body = engine.request("GET", path, token=None)
        assert code == 401, path
        assert headers["Content-Type"].startswith("application/json")
        assert json.loads(body)["reason"] == "Unauthorized"
    code, _, _ = engine.request("GET", "/api/v1/namespaces", token="wrong-token")
    assert code == 401


def test_the_client_with_a_wrong_token_gets_401(engine: ApiEngine, tmp_path) -> None:
    path = engine.kubeconfig(tmp_path / "kc", token="not-the-token")
    api = config.new_client_from_config(config_file=str(path), context="probelab")
    try:
        with pytest.raises(ApiException) as caught:
            client.CoreV1Api(api).list_namespace()
        assert caught.value.status == 401
    finally:
        api.close()


def test_openapi_v3_index_points_at_a_document_per_group_version(engine: ApiEngine) -> None:
    code, _, body = engine.request("GET", "/openapi/v3")
    assert code == 200
    paths = json.loads(body)["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/discovery.k8s.io/v1",
            "apis/extensions/v1beta1"} <= set(paths)
    code, headers, body = engine.request("GET", paths["apis/apps/v1"]["serverRelativeURL"])
    assert code == 200 and "immutable" in headers["Cache-Control"]
    doc = json.loads(body)
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps", "version": "v1", "kind": "Deployment"}
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    assert engine.request("GET", "/openapi/v3/apis/nothing/v9")[0] == 404
    code, headers, body = engine.request("GET", "/openapi/v2")
    assert code == 200 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["swagger"] == "2.0"
    accept = {"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"}
    code, headers, body = engine.request("GET", "/openapi/v2", headers=accept)
    assert code == 200 and headers["Content-Type"] == "application/octet-stream"
    assert body.startswith(b"\x0a\x032.0")  # Document.swagger = "2.0"
    again = engine.request("GET", "/openapi/v2", headers={**accept,
                                                          "If-None-Match": headers["ETag"]})
    assert again[0] == 304
    assert engine.request("GET", "/openapi/v9")[0] == 404


# ---- CRUD ----------------------------------------------------------------------------------------

def _crud_table(core: client.CoreV1Api, apps: client.AppsV1Api,
                disc: client.DiscoveryV1Api) -> dict[str, tuple[Any, ...]]:
    """resource -> (body, create, read, list, replace, patch, delete)."""
    def ns_fns(prefix: str, api: Any) -> tuple[Any, ...]:
        return tuple(getattr(api, f"{verb}_namespaced_{prefix}") for verb in
                     ("create", "read", "list", "replace", "patch", "delete"))

    return {
        "pods": (pod("p"), *ns_fns("pod", core)),
        "services": ({"metadata": {"name": "s"}, "spec": {"selector": {"app": "x"},
                      "ports": [{"port": 80, "targetPort": 8080}]}}, *ns_fns("service", core)),
        "endpoints": ({"metadata": {"name": "e"}, "subsets": [{"addresses": [
                       {"ip": "127.244.0.9"}], "ports": [{"port": 8080}]}]},
                      *ns_fns("endpoints", core)),
        "events": ({"metadata": {"name": "ev"}, "involvedObject": {"kind": "Pod", "name": "p"},
                    "reason": "Testing", "message": "hello", "type": "Normal"},
                   *ns_fns("event", core)),
        "endpointslices": ({"metadata": {"name": "es"}, "addressType": "IPv4",
                            "endpoints": [{"addresses": ["127.244.0.9"]}],
                            "ports": [{"port": 8080}]}, *ns_fns("endpoint_slice", disc)),
        "deployments": (deployment("d"), *ns_fns("deployment", apps)),
        "replicasets": ({"metadata": {"name": "rs"}, "spec": {
                         "replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                         "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
                             "containers": [{"name": "c", "image": "i"}]}}}},
                        *ns_fns("replica_set", apps)),
    }


@pytest.mark.parametrize("resource", ["pods", "services", "endpoints", "events",
                                      "endpointslices", "deployments", "replicasets"])
def test_crud_of_every_namespaced_resource(api_client: client.ApiClient, core: client.CoreV1Api,
                                           apps: client.AppsV1Api, ns: str,
                                           resource: str) -> None:
    table = _crud_table(core, apps, client.DiscoveryV1Api(api_client))
    body, create, read, list_, replace, patch, delete = table[resource]
    name = body["metadata"]["name"]
    created = create(ns, body)
    meta = created.metadata
    assert meta.uid and meta.resource_version and meta.creation_timestamp
    assert meta.namespace == ns
    assert read(name, ns).metadata.uid == meta.uid
    assert [o.metadata.name for o in list_(ns).items] == [name]
    current = read(name, ns)
    current.metadata.labels = {"changed": "yes"}
    replaced = replace(name, ns, current)
    assert replaced.metadata.labels == {"changed": "yes"}
    assert int(replaced.metadata.resource_version) > int(meta.resource_version)
    patched = patch(name, ns, {"metadata": {"annotations": {"k": "v"}}})
    assert patched.metadata.annotations == {"k": "v"}
    assert patched.metadata.labels == {"changed": "yes"}
    delete(name, ns)
    with pytest.raises(ApiException) as caught:
        read(name, ns)
    assert caught.value.status == 404


def test_namespace_crud_and_cluster_scope(engine: ApiEngine, core: client.CoreV1Api) -> None:
    created = core.create_namespace({"metadata": {"name": "crud-ns", "labels": {"a": "1"}}})
    assert created.status.phase == "Active"
    assert created.metadata.labels["kubernetes.io/metadata.name"] == "crud-ns"
    assert "crud-ns" in [n.metadata.name for n in core.list_namespace().items]
    patched = core.patch_namespace("crud-ns", {"metadata": {"labels": {"b": "2"}}})
    assert patched.metadata.labels["a"] == "1" and patched.metadata.labels["b"] == "2"
    code, _, body = engine.request("DELETE", "/api/v1/namespaces/crud-ns")
    deleted = json.loads(body)  # the namespace, marked; the controller removes it
    assert (code, deleted["kind"], deleted["status"]["phase"]) == (200, "Namespace",
                                                                    "Terminating")
    assert deleted["metadata"]["deletionTimestamp"]
    wait_until(lambda: "crud-ns" not in [n.metadata.name for n in core.list_namespace().items],
               what="the empty namespace to be removed")


def test_system_namespaces_exist_and_cannot_be_deleted(core: client.CoreV1Api) -> None:
    names = {n.metadata.name for n in core.list_namespace().items}
    assert {"default", "kube-system", "kube-public"} <= names
    with pytest.raises(ApiException) as caught:
        core.delete_namespace("default")
    assert caught.value.status == 403


def test_generation_counts_spec_changes_only(apps: client.AppsV1Api, ns: str) -> None:
    d = apps.create_namespaced_deployment(ns, deployment())
    assert d.metadata.generation == 1
    d = apps.patch_namespaced_deployment("web", ns, {"metadata": {"labels": {"x": "y"}}})
    assert d.metadata.generation == 1
    d = apps.patch_namespaced_deployment("web", ns, {"spec": {"replicas": 5}})
    assert d.metadata.generation == 2


def test_list_all_namespaces(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod("everywhere"))
    found = core.list_pod_for_all_namespaces(field_selector=f"metadata.namespace={ns}")
    assert [(p.metadata.namespace, p.metadata.name) for p in found.items] == [
        (ns, "everywhere")]


# ---- selectors ----------

@pytest.mark.parametrize(
    ("selector", "expected"),
    [("app=web", ["a", "b"]), ("app=web,tier!=db", ["a"]), ("tier in (db,cache)", ["b", "c"]),
     ("tier", ["a", "b", "c"]), ("!tier", ["d"]), ("app notin (web)", ["c", "d"]),
     ("app==web,tier=db", ["b"])],
)
def test_label_selectors(core: client.CoreV1Api, ns: str, selector: str,
                         expected: list[str]) -> None:
    for name, labels in (("a", {"app": "web", "tier": "front"}), ("b", {"app": "web",
                         "tier": "db"}), ("c", {"app": "other", "tier": "cache"}), ("d", {})):
        core.create_namespaced_pod(ns, pod(name, labels))
    found = core.list_namespaced_pod(ns, label_selector=selector)
    assert [p.metadata.name for p in found.items] == expected


def test_bad_label_selector_is_400(core: client.CoreV1Api, ns: str) -> None:
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_pod(ns, label_selector="app in (")
    assert caught.value.status == 400
    assert status_of(caught.value)["reason"] == "BadRequest"


# ---- patches ----------

def test_merge_patch_replaces_lists(apps: client.AppsV1Api, ns: str) -> None:
    apps.create_namespaced_deployment(ns, deployment())
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "simpleweb", "image": "probelab/simpleweb:2.0"}]}}}}
    d = apps.patch_namespaced_deployment("web", ns, patch,
                                         _content_type="application/merge-patch+json")
    containers = d.spec.template.spec.containers
    assert [(c.name, c.image, c.ports) for c in containers] == [
        ("simpleweb", "probelab/simpleweb:2.0", None)]


def test_strategic_merge_patch_merges_containers_by_name(apps: client.AppsV1Api,
                                                         ns: str) -> None:
    apps.create_namespaced_deployment(ns, deployment())
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "simpleweb", "image": "probelab/simpleweb:2.0"}]}}}}
    d = apps.patch_namespaced_deployment(
        "web", ns, patch, _content_type="application/strategic-merge-patch+json")
    by_name = {c.name: c for c in d.spec.template.spec.containers}
    assert by_name["simpleweb"].image == "probelab/simpleweb:2.0"
    assert by_name["simpleweb"].ports[0].container_port == 8080
    assert by_name["simpleweb"].env[0].name == "A"
    assert by_name["sidecar"].image == "busybox:1"
    assert d.metadata.generation == 2


def test_json_patch(apps: client.AppsV1Api, ns: str) -> None:
    apps.create_namespaced_deployment(ns, deployment())
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 7},
           {"op": "add", "path": "/metadata/labels/extra", "value": "1"},
           {"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "sidecar"},
           {"op": "remove", "path": "/spec/template/spec/containers/1"}]
    d = apps.patch_namespaced_deployment("web", ns, ops)
    assert d.spec.replicas == 7 and d.metadata.labels["extra"] == "1"
    assert [c.name for c in d.spec.template.spec.containers] == ["simpleweb"]
    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment("web", ns, [
            {"op": "test", "path": "/spec/replicas", "value": 1}])
    assert caught.value.status == 422


def test_server_side_apply_is_refused_clearly(engine: ApiEngine, core: client.CoreV1Api,
                                              ns: str) -> None:
    core.create_namespaced_pod(ns, pod("ssa"))
    code, _, body = engine.request("PATCH", f"/api/v1/namespaces/{ns}/pods/ssa?fieldManager=x",
                                   "metadata: {labels: {a: b}}",
                                   {"Content-Type": "application/apply-patch+yaml"})
    assert code == 415
    assert "server-side apply" in json.loads(body)["message"]


# ---- deletion ----------

def test_graceful_pod_delete_keeps_the_pod_until_the_kubelet_removes_it(
        core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod("bound", node="probelab"))
    core.delete_namespaced_pod("bound", ns, grace_period_seconds=40)
    terminating = core.read_namespaced_pod("bound", ns)
    assert terminating.metadata.deletion_timestamp is not None
    assert terminating.metadata.deletion_grace_period_seconds == 40
    core.delete_namespaced_pod("bound", ns, grace_period_seconds=5)  # may only shorten
    assert core.read_namespaced_pod("bound", ns).metadata.deletion_grace_period_seconds == 5
    core.delete_namespaced_pod("bound", ns, grace_period_seconds=20)
    assert core.read_namespaced_pod("bound", ns).metadata.deletion_grace_period_seconds == 5
    core.delete_namespaced_pod("bound", ns, grace_period_seconds=0)  # what the kubelet does
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod("bound", ns)
    assert caught.value.status == 404


def test_pod_default_grace_is_its_spec_and_unbound_pods_go_at_once(core: client.CoreV1Api,
                                                                  ns: str) -> None:
    body = pod("spec-grace", node="probelab")
    body["spec"]["terminationGracePeriodSeconds"] = 3
    core.create_namespaced_pod(ns, body)
    core.delete_namespaced_pod("spec-grace", ns)
    assert core.read_namespaced_pod("spec-grace", ns).metadata.deletion_grace_period_seconds == 3
    core.create_namespaced_pod(ns, pod("unbound"))
    core.delete_namespaced_pod("unbound", ns)
    assert "unbound" not in [p.metadata.name for p in core.list_namespaced_pod(ns).items]


def test_namespace_delete_cascades_and_closes_the_namespace(core: client.CoreV1Api,
                                                            apps: client.AppsV1Api) -> None:
    core.create_namespace({"metadata": {"name": "doomed"}})
    apps.create_namespaced_deployment("doomed", deployment())
    core.create_namespaced_service("doomed", {"metadata": {"name": "s"}, "spec": {
        "ports": [{"port": 80}]}})
    core.create_namespaced_pod("doomed", pod("loose"))
    core.create_namespaced_pod("doomed", pod("running", node="probelab"))
    core.delete_namespace("doomed")
    assert core.read_namespace("doomed").status.phase == "Terminating"
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_pod("doomed", pod("late"))
    assert caught.value.status == 403
    assert "being terminated" in status_of(caught.value)["message"]
    with pytest.raises(ApiException) as caught:
        core.delete_namespace("doomed")
    assert caught.value.status == 409
    wait_until(lambda: not apps.list_namespaced_deployment("doomed").items
               and not core.list_namespaced_service("doomed").items
               and [p.metadata.name for p in core.list_namespaced_pod("doomed").items]
               == ["running"], what="the namespace controller to empty the namespace")
    # The bound pod terminates gracefully (no kubelet here to finish it), so the namespace
    # stays until it is gone.
    left = core.read_namespaced_pod("running", "doomed")
    assert left.metadata.deletion_timestamp is not None
    assert core.read_namespace("doomed").status.phase == "Terminating"
    core.delete_namespaced_pod("running", "doomed", grace_period_seconds=0)
    wait_until(lambda: "doomed" not in [n.metadata.name for n in core.list_namespace().items],
               what="the namespace to be removed")


def test_deleting_a_deployment_deletes_what_it_owns(apps: client.AppsV1Api,
                                                    ns: str) -> None:
    d = apps.create_namespaced_deployment(ns, deployment())
    rs = {"metadata": {"name": "web-1", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": d.metadata.uid,
         "controller": True}]},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    apps.create_namespaced_replica_set(ns, rs)
    apps.delete_namespaced_deployment("web", ns)
    assert apps.list_namespaced_replica_set(ns).items == []


# ---- subresources ----------

def test_deployment_scale_subresource(apps: client.AppsV1Api, ns: str) -> None:
    apps.create_namespaced_deployment(ns, deployment(replicas=2))
    scale = apps.read_namespaced_deployment_scale("web", ns)
    assert (scale.kind, scale.spec.replicas, scale.status.selector) == ("Scale", 2, "app=web")
    apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 5}})
    assert apps.read_namespaced_deployment("web", ns).spec.replicas == 5
    scale = apps.read_namespaced_deployment_scale("web", ns)
    scale.spec.replicas = 1
    apps.replace_namespaced_deployment_scale("web", ns, scale)
    assert apps.read_namespaced_deployment("web", ns).spec.replicas == 1
    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": -1}})
    assert caught.value.status == 422


def test_deployment_status_subresource_is_separate_from_the_spec(apps: client.AppsV1Api,
                                                                 ns: str) -> None:
    apps.create_namespaced_deployment(ns, deployment())
    d = apps.patch_namespaced_deployment_status(
        "web", ns, {"status": {"replicas": 2, "readyReplicas": 1, "observedGeneration": 1},
                    "spec": {"replicas": 9}})
    assert d.status.ready_replicas == 1 and d.spec.replicas == 2
    assert d.metadata.generation == 1
    d = apps.patch_namespaced_deployment("web", ns, {"status": {"readyReplicas": 0},
                                                     "spec": {"replicas": 3}})
    assert d.status.ready_replicas == 1 and d.spec.replicas == 3


def test_pod_log_subresource_reads_the_container_log(engine: ApiEngine, core: client.CoreV1Api,
                                                     ns: str) -> None:
    from probelab.engine.core.podlogs import log_path
    core.create_namespaced_pod(ns, pod("talker", node="probelab"))
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log("talker", ns)
    assert caught.value.status == 400  # not started yet
    uid = core.read_namespaced_pod("talker", ns).metadata.uid
    path = log_path(engine.state_dir, uid, "c")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("line 1\nline 2\nline 3\n")
    assert core.read_namespaced_pod_log("talker", ns) == "line 1\nline 2\nline 3\n"
    assert core.read_namespaced_pod_log("talker", ns, tail_lines=1) == "line 3\n"
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log("talker", ns, container="nope")
    assert caught.value.status == 400


# ---- errors ----------

def test_not_found_already_exists_and_conflict_statuses(apps: client.AppsV1Api,
                                                        ns: str) -> None:
    with pytest.raises(ApiException) as caught:
        apps.read_namespaced_deployment("missing", ns)
    body = status_of(caught.value)
    assert (caught.value.status, body["reason"], body["message"]) == (
        404, "NotFound", 'deployments.apps "missing" not found')
    assert body["details"] == {"name": "missing", "group": "apps", "kind": "deployments"}
    apps.create_namespaced_deployment(ns, deployment())
    with pytest.raises(ApiException) as caught:
        apps.create_namespaced_deployment(ns, deployment())
    assert (caught.value.status, status_of(caught.value)["reason"]) == (409, "AlreadyExists")
    stale = apps.read_namespaced_deployment("web", ns)
    apps.patch_namespaced_deployment("web", ns, {"spec": {"replicas": 4}})
    stale.spec.replicas = 1
    with pytest.raises(ApiException) as caught:
        apps.replace_namespaced_deployment("web", ns, stale)
    body = status_of(caught.value)
    assert (caught.value.status, body["reason"]) == (409, "Conflict")
    assert "the object has been modified" in body["message"]
    assert apps.read_namespaced_deployment("web", ns).spec.replicas == 4


def test_node_port_rules_are_422(core: client.CoreV1Api, ns: str) -> None:
    def svc(name: str, node_port: int | None) -> dict[str, Any]:
        port: dict[str, Any] = {"port": 80}
        if node_port:
            port["nodePort"] = node_port
        return {"metadata": {"name": name}, "spec": {"type": "NodePort", "ports": [port]}}

    first = core.create_namespaced_service(ns, svc("first", None))
    given = first.spec.ports[0].node_port
    assert 30000 <= given <= 32767
    assert first.spec.cluster_ip.startswith("127.")
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_service(ns, svc("second", given))
    body = status_of(caught.value)
    assert (caught.value.status, body["reason"]) == (422, "Invalid")
    assert "provided port is already allocated" in body["message"]
    assert body["details"]["causes"][0]["field"] == "spec.ports[0].nodePort"
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_service(ns, svc("third", 80))
    assert caught.value.status == 422
    assert "30000-32767" in status_of(caught.value)["message"]


def test_deployment_validation_is_422_with_the_field(apps: client.AppsV1Api, ns: str) -> None:
    body = deployment()
    body["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    with pytest.raises(ApiException) as caught:
        apps.create_namespaced_deployment(ns, body)
    status = status_of(caught.value)
    assert (caught.value.status, status["reason"]) == (422, "Invalid")
    assert status["message"].startswith('Deployment.apps "web" is invalid: ')
    assert "spec.template.metadata.labels" in status["message"]


def test_defaults_are_applied_on_create(apps: client.AppsV1Api, ns: str) -> None:
    d = apps.create_namespaced_deployment(ns, deployment())
    assert d.spec.strategy.type == "RollingUpdate"
    assert d.spec.strategy.rolling_update.max_surge == "25%"
    assert d.spec.revision_history_limit == 10
    assert d.spec.template.spec.termination_grace_period_seconds == 30


def test_legacy_deployment_is_converted_with_a_warning(engine: ApiEngine, ns: str) -> None:
    legacy = {"apiVersion": "extensions/v1beta1", "kind": "Deployment",
              "metadata": {"name": "old"},
              "spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": "old"}},
                       "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    code, headers, body = engine.request(
        "POST", f"/apis/extensions/v1beta1/namespaces/{ns}/deployments", legacy)
    assert code == 201
    assert "deprecated" in headers["Warning"] and headers["Warning"].startswith("299 - ")
    created = json.loads(body)
    assert created["apiVersion"] == "extensions/v1beta1"
    assert created["spec"]["selector"] == {"matchLabels": {"app": "old"}}
    code, _, body = engine.request("GET", f"/apis/apps/v1/namespaces/{ns}/deployments/old")
    assert code == 200 and json.loads(body)["apiVersion"] == "apps/v1"


# ---- malformed input ----------

BIG = b'{"metadata": {"name": "x", "annotations": {"a": "' + b"x" * (4 * 1024 * 1024) + b'"}}}'


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "code", "reason"),
    [
        ("POST", "/api/v1/namespaces/{ns}/pods", b"{not json", "application/json", 400,
         "BadRequest"),
        ("POST", "/api/v1/namespaces/{ns}/pods", b"", "application/json", 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/{ns}/pods", b"[1, 2]", "application/json", 400,
         "BadRequest"),
        ("POST", "/api/v1/namespaces/{ns}/pods", b"a: [b", "application/yaml", 400,
         "BadRequest"),
        ("POST", "/api/v1/namespaces/{ns}/pods", BIG, "application/json", 413,
         "RequestEntityTooLarge"),
        ("POST", "/api/v1/namespaces/{ns}/pods", b"\xff\xfe", "application/json", 400,
         "BadRequest"),
        ("POST", "/api/v1/namespaces/{ns}/pods", b"[" * 100_000 + b"]" * 100_000,
         "application/json", 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/{ns}/pods", b'{"metadata": {"name": "deep"}, "spec": '
         + b'{"a": ' * 150 + b"1" + b"}" * 151, "application/json", 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/{ns}/pods", b"a: " + b"[" * 5000 + b"]" * 5000,
         "application/yaml", 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/{ns}/pods", b'{"kind": "Service", "apiVersion": "v1"}',
         "application/json", 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/{ns}/pods", b'{"apiVersion": "apps/v1", "kind": "Pod"}',
         "application/json", 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/{ns}/pods", b'{"metadata": {"name": 5}}',
         "application/json", 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/{ns}/pods", b'{"metadata": {"labels": ["a"]}}',
         "application/json", 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/{ns}/pods", b'{"metadata": {}}', "application/json", 422,
         "Invalid"),
        ("POST", "/api/v1/namespaces/{ns}/pods", b'{"metadata": {"name": "x"}, "spec": 3}',
         "application/json", 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/{ns}/pods", b'{"metadata": {"name": "x"}}',
         "application/vnd.kubernetes.protobuf", 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/{ns}/pods", b"k8s\x00\x0a\x09\x0a\x02v1\x12\x03Pod",
         "application/vnd.kubernetes.protobuf", 415, "UnsupportedMediaType"),
        ("POST", "/api/v1/namespaces/{ns}/pods", b"{}", "application/cbor", 415,
         "UnsupportedMediaType"),
        ("POST", "/api/v1/namespaces/{ns}/pods", b'{"metadata": {"name": "x",'
         b' "namespace": "elsewhere"}}', "application/json", 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/nowhere/pods", b'{"metadata": {"name": "x"}}',
         "application/json", 404, "NotFound"),
        ("POST", "/api/v1/namespaces/{ns}/gadgets", b"{}", "application/json", 404, "NotFound"),
        ("GET", "/apis/nothing.example/v1", None, None, 404, "NotFound"),
        ("GET", "/api/v1/namespaces/{ns}/pods?labelSelector=a%20in%20(", None, None, 400,
         "BadRequest"),
        ("GET", "/api/v1/namespaces/{ns}/pods?fieldSelector=spec.secret%3Dx", None, None, 400,
         "BadRequest"),
        ("GET", "/api/v1/namespaces/{ns}/pods?watch=true&resourceVersion=abc", None, None, 400,
         "BadRequest"),
        ("PATCH", "/api/v1/namespaces/{ns}/pods/x", b"{}", "text/plain", 415,
         "UnsupportedMediaType"),
        ("PATCH", "/api/v1/namespaces/{ns}/pods/x", b"{}", "application/json-patch+json", 400,
         "BadRequest"),
        ("DELETE", "/api/v1/namespaces/{ns}/pods/x?gracePeriodSeconds=soon", None, None, 400,
         "BadRequest"),
        ("DELETE", "/api/v1/namespaces/{ns}/pods/x", b'{"propagationPolicy": "Later"}',
         "application/json", 400, "BadRequest"),
        ("PUT", "/api/v1/namespaces/{ns}/pods", b"{}", "application/json", 405,
         "MethodNotAllowed"),
        ("POST", "/apis/apps/v1/namespaces/{ns}/deployments", b'{"metadata": {"name": "d"},'
         b' "spec": {"replicas": "three"}}', "application/json", 400, "BadRequest"),  # decode
        ("POST", "/apis/apps/v1/namespaces/{ns}/deployments?fieldValidation=Strict",
         b'{"metadata": {"name": "d"}, "spec": {"replicaz": 1}}', "application/json", 400,
         "BadRequest"),
        ("POST", "/apis/apps/v1/namespaces/{ns}/deployments", b'{"metadata": {"name": "d"},'
         b' "spec": {"template": {}}}', "application/json", 422, "Invalid"),
        ("POST", "/apis/apps/v1/namespaces/{ns}/deployments?fieldValidation=Sometimes",
         b"{}", "application/json", 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/{ns}/pods?dryRun=Some", b'{"metadata": {"name": "dry"},'
         b' "spec": {"containers": [{"name": "c", "image": "i"}]}}', "application/json", 422,
         "Invalid"),
        ("DELETE", "/api/v1/namespaces/{ns}/pods/x", b'{"dryRun": ["All", "Partly"]}',
         "application/json", 422, "Invalid"),
    ],
)
def test_malformed_requests_get_the_right_status_and_the_server_keeps_serving(
        engine: ApiEngine, ns: str, method: str, path: str, body: bytes | None,
        content_type: str | None, code: int, reason: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    if method in ("PATCH", "DELETE") and "/pods/x" in path:
        engine.request("POST", f"/api/v1/namespaces/{ns}/pods", pod("x"))
    got, response_headers, raw = engine.request(method, path.format(ns=ns), body, headers)
    status = json.loads(raw)
    assert (got, status["kind"], status["reason"], status["code"]) == (
        code, "Status", reason, code), status
    assert response_headers["Content-Type"].startswith("application/json")
    assert engine.request("GET", "/api/v1/namespaces/default")[0] == 200


# ---- watch ----------

def _events(core: client.CoreV1Api, ns: str, rv: str, timeout_s: int = 2
            ) -> list[tuple[str, str, str]]:
    w = watch.Watch()
    out = []
    for event in w.stream(core.list_namespaced_pod, ns, resource_version=rv,
                          timeout_seconds=timeout_s, _request_timeout=30):
        obj = event["object"]
        out.append((event["type"], obj.metadata.name, obj.metadata.resource_version))
    return out


def test_watch_from_a_resource_version_sees_every_change_once_in_order(
        core: client.CoreV1Api, ns: str) -> None:
    rv = core.list_namespaced_pod(ns).metadata.resource_version
    core.create_namespaced_pod(ns, pod("w1"))
    core.patch_namespaced_pod("w1", ns, {"metadata": {"labels": {"n": "1"}}})
    core.create_namespaced_pod(ns, pod("w2"))
    core.delete_namespaced_pod("w1", ns)
    seen = _events(core, ns, rv, timeout_s=1)
    assert [(t, n) for t, n, _ in seen] == [("ADDED", "w1"), ("MODIFIED", "w1"),
                                            ("ADDED", "w2"), ("DELETED", "w1")]
    versions = [int(v) for _, _, v in seen]
    assert versions == sorted(versions) and len(set(versions)) == 4
    # Resume from the last version seen after changes made while disconnected: nothing missed,
    # nothing repeated.
    core.patch_namespaced_pod("w2", ns, {"metadata": {"labels": {"n": "2"}}})
    core.create_namespaced_pod(ns, pod("w3"))
    resumed = _events(core, ns, seen[-1][2], timeout_s=1)
    assert [(t, n) for t, n, _ in resumed] == [("MODIFIED", "w2"), ("ADDED", "w3")]


def test_watch_streams_live_changes_and_filters_by_label(engine: ApiEngine,
                                                         core: client.CoreV1Api,
                                                         ns: str) -> None:
    rv = core.list_namespaced_pod(ns).metadata.resource_version
    w = watch.Watch()
    stream = w.stream(core.list_namespaced_pod, ns, resource_version=rv,
                      label_selector="app=web", timeout_seconds=20, _request_timeout=30)
    core.create_namespaced_pod(ns, pod("other", {"app": "db"}))
    core.create_namespaced_pod(ns, pod("live", {"app": "web"}))
    first = next(stream)
    w.stop()
    assert (first["type"], first["object"].metadata.name) == ("ADDED", "live")


def test_watch_without_resource_version_starts_with_the_current_objects(
        core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod("already"))
    seen = _events(core, ns, "", timeout_s=1)
    assert [(t, n) for t, n, _ in seen] == [("ADDED", "already")]


def test_watch_of_one_object_by_field_selector(core: client.CoreV1Api, ns: str) -> None:
    rv = core.list_namespaced_pod(ns).metadata.resource_version
    core.create_namespaced_pod(ns, pod("a"))
    core.create_namespaced_pod(ns, pod("b"))
    w = watch.Watch()
    names = [e["object"].metadata.name for e in w.stream(
        core.list_namespaced_pod, ns, resource_version=rv, field_selector="metadata.name=b",
        timeout_seconds=1, _request_timeout=30)]
    assert names == ["b"]


def test_too_old_resource_version_is_410_gone() -> None:
    with ApiEngine(history=20) as small:
        api = config.new_client_from_config(config_file=str(small.kubeconfig()),
                                            context="probelab")
        try:
            core = client.CoreV1Api(api)
            core.create_namespace({"metadata": {"name": "churn"}})
            start = core.list_namespaced_pod("churn").metadata.resource_version
            for i in range(30):
                core.create_namespaced_pod("churn", pod(f"p{i}"))
            with pytest.raises(ApiException) as caught:
                _events(core, "churn", start)
            assert caught.value.status == 410
            code, _, body = small.request(
                "GET", f"/api/v1/namespaces/churn/pods?watch=true&resourceVersion={start}")
            first = json.loads(body.splitlines()[0])
            assert (code, first["type"], first["object"]["code"],
                    first["object"]["reason"]) == (200, "ERROR", 410, "Expired")
            # A fresh list gives a version from which watching works again.
            fresh = core.list_namespaced_pod("churn").metadata.resource_version
            core.delete_namespaced_pod("p0", "churn")
            assert [t for t, _, _ in _events(core, "churn", fresh, 1)] == ["DELETED"]
        finally:
            api.close()


def test_stopping_the_server_ends_open_watches() -> None:
    with ApiEngine() as short:
        api = config.new_client_from_config(config_file=str(short.kubeconfig()),
                                            context="probelab")
        core = client.CoreV1Api(api)
        w = watch.Watch()
        stream = w.stream(core.list_namespace, timeout_seconds=120, _request_timeout=60)
        assert next(stream)["type"] == "ADDED"
        short.run(short.api.stop())
        # The stream ends at once (a hung one would hit the 60 s read timeout), after at most
        # the other system namespaces that were already on their way.
        rest = [e["type"] for e in stream]
        assert set(rest) <= {"ADDED"} and len(rest) <= 3
        api.close()


def test_streaming_list_ends_its_initial_events_with_a_bookmark(engine: ApiEngine,
                                                                core: client.CoreV1Api,
                                                                ns: str) -> None:
    """`sendInitialEvents` (what client-go informers and `kubectl rollout status` ask for):
    the current objects, one bookmark marking their end, then the changes."""
    core.create_namespaced_pod(ns, pod("a"))
    core.create_namespaced_pod(ns, pod("b"))
    query = ("watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
             "&resourceVersionMatch=NotOlderThan&resourceVersion=&timeoutSeconds=1")
    code, _, body = engine.request("GET", f"/api/v1/namespaces/{ns}/pods?{query}")
    events = [json.loads(line) for line in body.splitlines()]
    assert code == 200
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in events] == [
        ("ADDED", "a"), ("ADDED", "b"), ("BOOKMARK", None)]
    mark = events[-1]["object"]["metadata"]
    assert mark["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(mark["resourceVersion"]) >= int(events[1]["object"]["metadata"][
        "resourceVersion"])
    code, _, body = engine.request("GET", f"/api/v1/namespaces/{ns}/pods?watch=true"
                                   "&sendInitialEvents=true")
    assert code == 400 and json.loads(body)["reason"] == "BadRequest"


def test_delete_collection_by_label(core: client.CoreV1Api, ns: str) -> None:
    for name, app in (("a", "web"), ("b", "web"), ("c", "db")):
        core.create_namespaced_pod(ns, pod(name, {"app": app}))
    core.delete_collection_namespaced_pod(ns, label_selector="app=web")
    assert [p.metadata.name for p in core.list_namespaced_pod(ns).items] == ["c"]


def test_events_by_field_selector_as_kubectl_describe_asks(core: client.CoreV1Api,
                                                           ns: str) -> None:
    target = core.create_namespaced_pod(ns, pod("described"))
    for name, involved in (("e1", "described"), ("e2", "other")):
        core.create_namespaced_event(ns, {
            "metadata": {"name": name}, "reason": "Testing", "message": name, "type": "Normal",
            "involvedObject": {"kind": "Pod", "name": involved, "namespace": ns,
                               "uid": target.metadata.uid if involved == "described" else "x"}})
    selector = (f"involvedObject.name=described,involvedObject.namespace={ns},"
                f"involvedObject.uid={target.metadata.uid}")
    found = core.list_namespaced_event(ns, field_selector=selector)
    assert [e.metadata.name for e in found.items] == ["e1"]


def test_external_name_services_get_no_address(core: client.CoreV1Api, ns: str) -> None:
    svc = core.create_namespaced_service(ns, {"metadata": {"name": "alias"}, "spec": {
        "type": "ExternalName", "externalName": "example.invalid"}})
    assert svc.spec.cluster_ip is None and svc.spec.external_name == "example.invalid"
    headless = core.create_namespaced_service(ns, {"metadata": {"name": "headless"}, "spec": {
        "clusterIP": "None", "selector": {"app": "x"}, "ports": [{"port": 80}]}})
    assert headless.spec.cluster_ip == "None"


@pytest.mark.parametrize("variant", ["noprobes", "withprobes"])
def test_demo_manifests_through_create_from_directory(engine: ApiEngine,
                                                      api_client: client.ApiClient,
                                                      variant: str) -> None:
    """The demo's manifests as the official client's utils create them, then what the demo
    does to them: scale, new image, delete the namespace."""
    from kubernetes import utils

    from support.paths import REPO

    # One file at a time in name order (the namespace first): `create_from_directory` takes
    # the files in directory order, which a real cluster would refuse just the same.
    created = [group for path in sorted((REPO / "deploy" / "kubernetes" / variant).glob(
        "*.yaml")) for group in utils.create_from_yaml(api_client, str(path))]
    kinds = sorted(obj.kind for group in created for obj in group)
    assert kinds == ["Deployment", "Namespace", "Service"]
    namespace = next(obj.metadata.name for group in created for obj in group
                     if obj.kind == "Namespace")
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    d = apps.read_namespaced_deployment("simpleprobe", namespace)
    assert d.spec.strategy.type == "RollingUpdate" and d.spec.replicas == 10
    apps.patch_namespaced_deployment_scale("simpleprobe", namespace, {"spec": {"replicas": 3}})
    apps.patch_namespaced_deployment("simpleprobe", namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": "simpleweb", "image": "probelab/simpleweb:2.0"}]}}}})
    d = apps.read_namespaced_deployment("simpleprobe", namespace)
    assert d.spec.replicas == 3 and d.metadata.generation == 3
    assert d.spec.template.spec.containers[0].image == "probelab/simpleweb:2.0"
    assert d.spec.template.spec.containers[0].ports[0].container_port == 8080
    svc = core.read_namespaced_service("simpleprobe", namespace)
    assert svc.spec.type == "NodePort" and 30000 <= svc.spec.ports[0].node_port <= 32767
    core.delete_namespace(namespace)
    wait_until(lambda: namespace not in [n.metadata.name for n in core.list_namespace().items],
               what="the namespace to go")
