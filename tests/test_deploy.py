"""The shipped manifests and image: valid for Kubernetes, and saying what the demo relies on.

Every manifest is checked offline against the Kubernetes OpenAPI schemas (`kubernetes-validate`,
strict: unknown fields fail), then against the invariants of issue 2: noprobes has no probe and
no hook, withprobes has both and a grace period that covers preStop plus the in-flight wait; both
differ only there. The Dockerfile is linted with hadolint (no container engine here to build it).
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from probelab.commands.web import command as web_command
from probelab.web.config import WebConfig, parse_config
from support.paths import REPO

KUBERNETES_VERSION = "1.37.0"  # the newest schemas kubernetes-validate ships (kubectl is 1.37)
DEPLOY = REPO / "deploy"
VARIANTS = {"noprobes": "noprobes", "withprobes": "probes"}  # folder -> namespace
FILES = ["00-namespace.yaml", "10-deployment.yaml", "20-service.yaml"]
PROBES = ("readinessProbe", "livenessProbe", "startupProbe")


def load(variant: str) -> dict[str, dict[str, Any]]:
    """kind -> object, reading the folder's files in name order like `kubectl create -f DIR`."""
    folder = DEPLOY / "kubernetes" / variant
    assert sorted(p.name for p in folder.iterdir()) == FILES
    objects: dict[str, dict[str, Any]] = {}
    for name in FILES:
        docs = [d for d in yaml.safe_load_all((folder / name).read_text()) if d]
        assert len(docs) == 1, name
        objects[docs[0]["kind"]] = docs[0]
    return objects


def container(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (only,) = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    return only


def web_config(objects: dict[str, dict[str, Any]]) -> WebConfig:
    """What `probelab web` would run with inside this pod: defaults overridden by `env:`."""
    flags = {p.name: p.default for p in web_command.params if p.name and p.default is not None}
    by_env = {p.envvar: p.name for p in web_command.params if isinstance(p.envvar, str)}
    for item in container(objects).get("env", []):
        if item["name"] in by_env:
            flags[by_env[item["name"]]] = item["value"]
    return parse_config(**flags, pod_name="test")


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_manifest_is_valid_for_kubernetes(variant: str) -> None:
    for obj in load(variant).values():
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_broken_manifest() -> None:
    broken = copy.deepcopy(load("withprobes")["Deployment"])
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["perodSeconds"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_common_shape(variant: str) -> None:
    objects = load(variant)
    namespace = VARIANTS[variant]
    assert objects["Namespace"]["metadata"]["name"] == namespace
    deployment, service = objects["Deployment"], objects["Service"]
    for obj in (deployment, service):
        assert obj["metadata"]["name"] == "simpleprobe"
        assert obj["metadata"]["namespace"] == namespace
    spec = deployment["spec"]
    assert deployment["apiVersion"] == "apps/v1"
    assert spec["replicas"] == 10
    assert spec["selector"]["matchLabels"] == {"app": "simpleprobe"}
    assert spec["template"]["metadata"]["labels"]["app"] == "simpleprobe"
    assert spec["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] == 30
    c = container(objects)
    assert c["name"] == "simpleweb"
    assert c["image"] == "probelab/simpleweb:1.0"
    assert "command" not in c and "args" not in c  # the image (or the engine) provides them
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 8080, "admin": 8081}
    assert c["resources"] == {"requests": {"cpu": "10m", "memory": "30Mi"},
                              "limits": {"cpu": "50m", "memory": "50Mi"}}
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["selector"] == {"app": "simpleprobe"}
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(8080, "http")]


def test_noprobes_has_no_probe_and_no_hook() -> None:
    objects = load("noprobes")
    c = container(objects)
    assert not any(key in c for key in PROBES)
    assert "lifecycle" not in c
    assert web_config(objects) == parse_config(
        **{p.name: p.default for p in web_command.params if p.name and p.default is not None},
        pod_name="test")


def test_withprobes_has_readiness_prestop_and_enough_grace() -> None:
    objects = load("withprobes")
    c = container(objects)
    probe = c["readinessProbe"]
    assert probe["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert (probe["initialDelaySeconds"], probe["periodSeconds"]) == (2, 1)
    assert "livenessProbe" not in c  # a liveness kill would be a failure of its own
    # One probe timing out on a busy machine (on every pod at once) must not empty the
    # Service: the soak saw 0 ready endpoints with failureThreshold 1 (docs/bench.md).
    assert probe["failureThreshold"] >= 3
    assert c["lifecycle"] == {"preStop": {"httpGet": {"path": "/prestop", "port": "admin"}}}
    config = web_config(objects)
    grace = objects["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert config.prestop_delay_s + config.shutdown_timeout_s < grace
    assert config.prestop_delay_s >= 2  # above the local engine's default 1 s endpoint lag


def test_manifest_env_names_are_flags_of_probelab_web() -> None:
    known = {p.envvar for p in web_command.params}
    for variant in VARIANTS:
        for item in container(load(variant)).get("env", []):
            assert item["name"] in known, item["name"]


def test_variants_differ_only_by_the_cure() -> None:
    def without_cure(variant: str) -> dict[str, Any]:
        objects = copy.deepcopy(load(variant))
        c = container(objects)
        for key in (*PROBES, "lifecycle", "env"):
            c.pop(key, None)
        # the template annotations declare the cure's timings to `probelab check`
        objects["Deployment"]["spec"]["template"]["metadata"].pop("annotations", None)
        for obj in objects.values():
            obj["metadata"].pop("namespace", None)
            if obj["kind"] == "Namespace":
                obj["metadata"].pop("name")
        return objects

    assert without_cure("noprobes") == without_cure("withprobes")


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), "--no-color", str(DEPLOY / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_probelab_web_as_pid_1_non_root() -> None:
    lines = [ln.strip() for ln in (DEPLOY / "Dockerfile").read_text().splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    assert lines[0].startswith("FROM python:") and "slim" in lines[0]
    assert 'ENTRYPOINT ["probelab", "web"]' in lines  # exec form: SIGTERM reaches Python
    assert "ARG VERSION=1.0" in lines
    assert "ENV PROBELAB_WEB_APP_VERSION=${VERSION}" in lines
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert "PROBELAB_WEB_APP_VERSION" in {p.envvar for p in web_command.params}


def test_probelab_web_imports_only_what_the_image_installs() -> None:
    """The image installs click, httptools and uvloop only (deploy/Dockerfile)."""
    code = ("import sys, probelab.cli, probelab.commands.web, probelab.web.server\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    loaded = set(result.stdout.split())
    for heavy in ("kubernetes", "matplotlib", "rich", "yaml", "aiohttp", "prometheus_client"):
        assert heavy not in loaded, heavy
    assert {"click", "httptools"} <= loaded
