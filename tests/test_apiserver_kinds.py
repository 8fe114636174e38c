"""The new kinds through the API server with the official client: discovery and OpenAPI list
them, a Job gets its generated selector, a StatefulSet's frozen fields answer 422, its `scale`
subresource works, its status cannot be written through the main resource, and an HPA with a
missing target says so in its conditions."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from probelab.engine.controllers.hpa.controller import HpaController
from support.api_engine import ApiEngine
from support.paths import KUBECTL
from support.waiting import wait_until

TEMPLATE = {"metadata": {"labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}


@pytest.fixture(scope="module")
def engine() -> Iterator[ApiEngine]:
    with ApiEngine((HpaController,)) as running:
        yield running


@pytest.fixture(scope="module")
def api(engine: ApiEngine) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(engine.kubeconfig()),
                                        context="probelab")
    yield api
    api.close()


def test_discovery_and_openapi_list_the_kinds(engine: ApiEngine,
                                              api: client.ApiClient) -> None:
    groups = {g.name: g.preferred_version.version
              for g in client.ApisApi(api).get_api_versions().groups}
    assert groups["batch"] == "v1" and groups["networking.k8s.io"] == "v1"
    assert groups["autoscaling"] == "v2"
    apps = {r.name: r for r in client.AppsV1Api(api).get_api_resources().resources}
    assert apps["statefulsets"].short_names == ["sts"]
    assert apps["statefulsets/scale"].kind == "Scale"
    assert apps["daemonsets"].short_names == ["ds"]
    batch = {r.name for r in client.BatchV1Api(api).get_api_resources().resources}
    assert {"jobs", "jobs/status", "cronjobs", "cronjobs/status"} <= batch
    code, _, body = engine.request("GET", "/openapi/v3/apis/batch/v1")
    assert code == 200
    schemas = json.loads(body)["components"]["schemas"]
    job = schemas["io.k8s.api.batch.v1.Job"]
    assert job["x-kubernetes-group-version-kind"] == [
        {"group": "batch", "version": "v1", "kind": "Job"}]
    assert "backoffLimit" in schemas["io.k8s.api.batch.v1.JobSpec"]["properties"]


def test_job_selector_is_generated_from_its_uid(api: client.ApiClient) -> None:
    batch = client.BatchV1Api(api)
    job = batch.create_namespaced_job("default", {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "gen"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
                                       "containers": [{"name": "c", "image": "i"}]}}}})
    uid = job.metadata.uid
    assert job.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    assert job.spec.template.metadata.labels == {
        "batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
        "batch.kubernetes.io/job-name": "gen", "job-name": "gen"}
    assert job.metadata.labels == job.spec.template.metadata.labels
    with pytest.raises(ApiException) as err:
        batch.patch_namespaced_job("gen", "default", {"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "j"}]}}}})
    assert err.value.status == 422 and "spec.template" in err.value.body
    batch.delete_namespaced_job("gen", "default", propagation_policy="Background")


def test_statefulset_update_rules_and_scale(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_stateful_set("default", {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"serviceName": "db", "replicas": 2, "selector": {"matchLabels": {"app": "a"}},
                 "template": TEMPLATE}})
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_stateful_set("db", "default", {"spec": {"serviceName": "other"}})
    assert err.value.status == 422
    assert "updates to statefulset spec for fields other than" in json.loads(
        err.value.body)["message"]
    scale = apps.read_namespaced_stateful_set_scale("db", "default")
    assert (scale.spec.replicas, scale.status.selector) == (2, "app=a")
    apps.patch_namespaced_stateful_set_scale("db", "default", {"spec": {"replicas": 5}})
    assert apps.read_namespaced_stateful_set("db", "default").spec.replicas == 5
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_stateful_set_scale("db", "default", {"spec": {"replicas": -1}})
    assert err.value.status == 422
    # status is the status subresource's: a write through the object leaves it alone
    apps.patch_namespaced_stateful_set("db", "default", {"status": {"readyReplicas": 9}})
    assert not apps.read_namespaced_stateful_set("db", "default").status.ready_replicas
    apps.delete_namespaced_stateful_set("db", "default")


def test_hpa_without_its_target_cannot_get_scale(api: client.ApiClient) -> None:
    hpa_api = client.AutoscalingV2Api(api)
    hpa_api.create_namespaced_horizontal_pod_autoscaler("default", {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "lost"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": "nowhere"}, "maxReplicas": 3}})

    def conditions() -> dict:
        st = hpa_api.read_namespaced_horizontal_pod_autoscaler("lost", "default").status
        return {c.type: c for c in st.conditions or []}

    wait_until(conditions, what="the HPA's conditions")
    cond = conditions()["AbleToScale"]
    assert (cond.status, cond.reason) == ("False", "FailedGetScale")
    assert cond.message == ("the HPA controller was unable to get the target's current scale: "
                            'deployments.apps "nowhere" not found')
    hpa_api.delete_namespaced_horizontal_pod_autoscaler("lost", "default")


def test_kubectl_generators_for_jobs_cronjobs_and_hpas(engine: ApiEngine,
                                                       api: client.ApiClient,
                                                       tmp_path: Path) -> None:
    """`kubectl create job|cronjob` and `kubectl autoscale` send protobuf bodies."""
    env = {**os.environ, "HOME": str(tmp_path)}
    config_path = engine.kubeconfig(tmp_path / "kubeconfig")

    def kubectl(*args: str) -> str:
        result = subprocess.run([str(KUBECTL), "--kubeconfig", str(config_path), *args],
                                capture_output=True, text=True, timeout=60, env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert kubectl("create", "job", "once", "--image=busybox", "--", "echo", "hi") == (
        "job.batch/once created")
    job = client.BatchV1Api(api).read_namespaced_job("once", "default")
    container = job.spec.template.spec.containers[0]
    assert (container.image, container.command) == ("busybox", ["echo", "hi"])
    assert job.spec.template.spec.restart_policy == "Never"
    assert kubectl("create", "cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *",
                   "--", "date") == "cronjob.batch/tick created"
    cron = client.BatchV1Api(api).read_namespaced_cron_job("tick", "default")
    assert cron.spec.schedule == "*/5 * * * *"
    assert cron.spec.job_template.spec.template.spec.restart_policy == "OnFailure"
    client.AppsV1Api(api).create_namespaced_deployment("default", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "scaled"},
        "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": TEMPLATE}})
    assert kubectl("autoscale", "deployment", "scaled", "--min=2", "--max=4", "--cpu=50%") == (
        "horizontalpodautoscaler.autoscaling/scaled autoscaled")
    hpa = client.AutoscalingV2Api(api).read_namespaced_horizontal_pod_autoscaler("scaled",
                                                                                 "default")
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (2, 4)
    assert hpa.spec.metrics[0].resource.target.average_utilization == 50
    assert (hpa.spec.scale_target_ref.kind, hpa.spec.scale_target_ref.name) == (
        "Deployment", "scaled")
