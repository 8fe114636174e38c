"""Builders for `probelab check` tests: small manifests as dicts, and one rule run on them."""

from __future__ import annotations

from typing import Any

from probelab.check.model import Finding, TimingModel, parse_version
from probelab.check.rules import load_rules
from probelab.check.workloads import inventory

Obj = dict[str, Any]


def container(name: str = "app", image: str = "example/app:1.0",
              ports: tuple[tuple[str, int], ...] = (("http", 8080),), **extra: Any) -> Obj:
    spec: Obj = {"name": name, "image": image}
    if ports:
        spec["ports"] = [{"name": n, "containerPort": p} for n, p in ports]
    spec.update(extra)
    return spec


def http_probe(port: Any = "http", path: str = "/ready", **timing: Any) -> Obj:
    return {"httpGet": {"path": path, "port": port}, **timing}


def sleep_hook(seconds: int) -> Obj:
    return {"preStop": {"sleep": {"seconds": seconds}}}


def exec_hook(*command: str) -> Obj:
    return {"preStop": {"exec": {"command": list(command)}}}


def good_container(**extra: Any) -> Obj:
    """A container every traffic rule accepts: readiness, a 5 s preStop sleep."""
    fields: Obj = {"readinessProbe": http_probe(), "lifecycle": sleep_hook(5)}
    fields.update(extra)
    return container(**fields)


def workload(kind: str = "Deployment", name: str = "web", namespace: str = "default",
             containers: list[Obj] | None = None, labels: dict[str, str] | None = None,
             annotations: dict[str, str] | None = None, grace: int | None = None,
             replicas: int | None = 3, strategy: Obj | None = None) -> Obj:
    pod: Obj = {"containers": containers if containers is not None else [good_container()]}
    if grace is not None:
        pod["terminationGracePeriodSeconds"] = grace
    meta: Obj = {"labels": labels or {"app": name}}
    if annotations:
        meta["annotations"] = annotations
    obj: Obj = {"apiVersion": "v1" if kind == "Pod" else "apps/v1", "kind": kind,
                "metadata": {"name": name, "namespace": namespace}}
    if kind == "Pod":
        obj["metadata"]["labels"] = meta["labels"]
        if annotations:
            obj["metadata"]["annotations"] = annotations
        obj["spec"] = pod
        return obj
    spec: Obj = {"selector": {"matchLabels": meta["labels"]},
                 "template": {"metadata": meta, "spec": pod}}
    if replicas is not None and kind != "DaemonSet":
        spec["replicas"] = replicas
    if strategy is not None:
        spec["strategy" if kind == "Deployment" else "updateStrategy"] = strategy
    obj["spec"] = spec
    return obj


def service(name: str = "web", namespace: str = "default",
            selector: dict[str, str] | None = None, target: Any = "http", **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": selector if selector is not None else {"app": name},
                     "ports": [{"port": 80, "targetPort": target}], **spec}}


def pdb(name: str = "web", selector: dict[str, str] | None = None, **spec: Any) -> Obj:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"matchLabels": selector or {"app": name}}, **spec}}


def hpa(target: str = "web", min_replicas: int = 2, max_replicas: int = 10) -> Obj:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": target, "namespace": "default"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": target},
                     "minReplicas": min_replicas, "maxReplicas": max_replicas}}


def model(lag: float = 1.0, margin: float = 2.0, version: str = "1.35") -> TimingModel:
    return TimingModel(lag, margin, parse_version(version), "test")


def run_rule(rule_id: str, objects: list[Obj], **model_kw: Any) -> list[Finding]:
    return load_rules()[rule_id].run(inventory(objects), model(**model_kw))
