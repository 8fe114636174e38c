"""Defaulting and validation of StatefulSets, DaemonSets, Jobs, CronJobs, Ingresses and HPAs
(`k8s.defaults`, `k8s.validation`): one valid object per kind, then one broken field at a time,
and the update rules (a StatefulSet's frozen spec, a Job's immutable template)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from probelab.k8s import defaults
from probelab.k8s.validation import validate

TEMPLATE = {"metadata": {"labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}
SELECTOR = {"matchLabels": {"app": "a"}}


def job_template(policy: str = "Never") -> dict:
    t = copy.deepcopy(TEMPLATE)
    t["spec"]["restartPolicy"] = policy
    return t


VALID = {
    "StatefulSet": {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"},
                    "spec": {"serviceName": "s", "selector": SELECTOR, "template": TEMPLATE}},
    "DaemonSet": {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d"},
                  "spec": {"selector": SELECTOR, "template": TEMPLATE}},
    "Job": {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
            "spec": {"selector": SELECTOR, "template": job_template()}},
    "CronJob": {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
                "spec": {"schedule": "*/5 * * * *",
                         "jobTemplate": {"spec": {"template": job_template("OnFailure")}}}},
    "Ingress": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": "i"},
                "spec": {"rules": [{"host": "*.example.com", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix",
                     "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}]}},
    "HorizontalPodAutoscaler": {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "d"}, "maxReplicas": 3}},
}


def check(obj: dict, old: dict | None = None) -> list[str]:
    return [f"{e.field}: {e.message}" for e in validate(
        defaults.apply_defaults(obj), defaults.apply_defaults(old) if old else None)]


@pytest.mark.parametrize("kind", sorted(VALID))
def test_valid_objects(kind: str) -> None:
    assert check(VALID[kind]) == []


def test_defaults() -> None:
    sts = defaults.apply_defaults(VALID["StatefulSet"])["spec"]
    assert (sts["replicas"], sts["podManagementPolicy"], sts["revisionHistoryLimit"]) == (
        1, "OrderedReady", 10)
    assert sts["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert sts["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain",
                                                           "whenScaled": "Retain"}
    ds = defaults.apply_defaults(VALID["DaemonSet"])["spec"]
    assert ds["updateStrategy"] == {"type": "RollingUpdate",
                                    "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    job = defaults.apply_defaults(VALID["Job"])["spec"]
    assert (job["completions"], job["parallelism"], job["backoffLimit"],
            job["completionMode"], job["suspend"], job["podReplacementPolicy"]) == (
        1, 1, 6, "NonIndexed", False, "TerminatingOrFailed")
    only_parallel = copy.deepcopy(VALID["Job"])
    only_parallel["spec"]["parallelism"] = 3
    assert "completions" not in defaults.apply_defaults(only_parallel)["spec"]
    cron = defaults.apply_defaults(VALID["CronJob"])["spec"]
    assert (cron["concurrencyPolicy"], cron["successfulJobsHistoryLimit"],
            cron["failedJobsHistoryLimit"], cron["suspend"]) == ("Allow", 3, 1, False)
    hpa = defaults.apply_defaults(VALID["HorizontalPodAutoscaler"])["spec"]
    assert hpa["minReplicas"] == 1
    assert hpa["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]


def _set(obj: dict, path: str, value: Any) -> dict:
    out = copy.deepcopy(obj)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


BROKEN = [
    ("StatefulSet", "spec.replicas", -1, "spec.replicas"),
    ("StatefulSet", "spec.podManagementPolicy", "Sometimes", "spec.podManagementPolicy"),
    ("StatefulSet", "spec.updateStrategy", {"type": "Later"}, "spec.updateStrategy.type"),
    ("StatefulSet", "spec.updateStrategy", {"type": "RollingUpdate",
                                            "rollingUpdate": {"partition": -1}},
     "spec.updateStrategy.rollingUpdate.partition"),
    ("StatefulSet", "spec.selector", {"matchLabels": {"app": "b"}},
     "spec.template.metadata.labels"),
    ("StatefulSet", "spec.template.spec.restartPolicy", "Never",
     "spec.template.spec.restartPolicy"),
    ("DaemonSet", "spec.selector", {}, "spec.selector"),
    ("DaemonSet", "spec.updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": 0, "maxSurge": 0}}, "spec.updateStrategy.rollingUpdate.maxUnavailable"),
    ("Job", "spec.template.spec.restartPolicy", "Always", "spec.template.spec.restartPolicy"),
    ("Job", "spec.parallelism", -1, "spec.parallelism"),
    ("Job", "spec.activeDeadlineSeconds", 0, "spec.activeDeadlineSeconds"),
    ("Job", "spec", {"selector": SELECTOR, "template": job_template(), "parallelism": 2,
                     "completionMode": "Indexed"}, "spec.completions"),
    ("CronJob", "spec.schedule", "every day", "spec.schedule"),
    ("CronJob", "spec.schedule", "TZ=UTC 0 * * * *", "spec.schedule"),
    ("CronJob", "spec.schedule", "61 * * * *", "spec.schedule"),
    ("CronJob", "spec.timeZone", "Mars/Olympus", "spec.timeZone"),
    ("CronJob", "spec.concurrencyPolicy", "Sometimes", "spec.concurrencyPolicy"),
    ("CronJob", "metadata.name", "x" * 53, "metadata.name"),
    ("Ingress", "spec.rules.0.http.paths.0.pathType", "Regex",
     "spec.rules[0].http.paths[0].pathType"),
    ("Ingress", "spec.rules.0.http.paths.0.path", "relative",
     "spec.rules[0].http.paths[0].path"),
    ("Ingress", "spec.rules.0.http.paths.0.backend", {}, "spec.rules[0].http.paths[0].backend"),
    ("HorizontalPodAutoscaler", "spec.maxReplicas", 0, "spec.maxReplicas"),
    ("HorizontalPodAutoscaler", "spec.minReplicas", 5, "spec.maxReplicas"),
    ("HorizontalPodAutoscaler", "spec.scaleTargetRef", {"kind": "Deployment"},
     "spec.scaleTargetRef.name"),
]


@pytest.mark.parametrize(("kind", "path", "value", "field"), BROKEN,
                         ids=[f"{k}-{p}-{v!r}"[:60] for k, p, v, _ in BROKEN])
def test_broken_field(kind: str, path: str, value: Any, field: str) -> None:
    errors = check(_set(VALID[kind], path, value))
    assert any(e.startswith(f"{field}:") for e in errors), errors


def test_statefulset_spec_is_frozen_but_for_the_allowed_fields() -> None:
    old = VALID["StatefulSet"]
    assert check(_set(old, "spec.replicas", 5), old) == []
    assert check(_set(old, "spec.template.spec.containers",
                      [{"name": "c", "image": "j"}]), old) == []
    for path, value in (("spec.serviceName", "other"),
                        ("spec.podManagementPolicy", "Parallel"),
                        ("spec.volumeClaimTemplates", [{"metadata": {"name": "data"}}])):
        errors = check(_set(old, path, value), old)
        assert errors and errors[0].startswith("spec: Forbidden: updates to statefulset spec "
                                               "for fields other than 'replicas'"), (path, errors)


def test_job_template_and_daemonset_selector_are_immutable() -> None:
    job = VALID["Job"]
    changed = _set(job, "spec.template.spec.containers", [{"name": "c", "image": "j"}])
    assert any(e.startswith("spec.template:") for e in check(changed, job))
    ds = VALID["DaemonSet"]
    moved = _set(_set(ds, "spec.selector", {"matchLabels": {"app": "b"}}),
                 "spec.template.metadata.labels", {"app": "b"})
    assert any(e.startswith("spec.selector:") for e in check(moved, ds))


def test_statefulset_mounts_may_name_a_claim_template() -> None:
    sts = copy.deepcopy(VALID["StatefulSet"])
    sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "data", "mountPath": "/data"}]
    assert any("volumeMounts[0].name" in e for e in check(sts))
    sts["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}}]
    assert check(sts) == []
