"""`probelab test` end to end on the real local engine, with an app written here (stdlib
http.server, not probelab's own service) and a typical manifest: named ports, native `sleep`
preStop, readiness and liveness probes.

The app binds its pod IP (`$(POD_IP)` in the image mapping): the local engine runs every pod
on this host without network namespaces, so three replicas binding 0.0.0.0 on one port would
collide (see docs/test.md). Kept small: 3 replicas, preStop 2 s, 50 req/s, 1 s warm-up and
settle. No timing is asserted; the runs wait on conditions (the command's own).
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from support.processes import run_probelab

APP = '''
import signal, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

host, port = sys.argv[1], int(sys.argv[2])
never_ready = "--never-ready" in sys.argv


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        code = 503 if self.path == "/healthz" and never_ready else 200
        body = b"ok\\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer((host, port), Handler)
server.daemon_threads = True
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
server.serve_forever()
server.server_close()
'''

PRESTOP = """          lifecycle:
            preStop:
              sleep: {seconds: 2}
"""

MANIFEST = """apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  strategy:
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
        - name: app
          image: myapp:1
          ports:
            - name: http
              containerPort: 8080
          readinessProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 1
          livenessProbe:
            httpGet: {path: /livez, port: http}
            periodSeconds: 5
PRESTOP---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports:
    - name: http
      port: 8080
      targetPort: http
"""

QUICK = ("--rate", "50", "--warmup", "1s", "--settle", "1s")


def write_app(tmp_path: Path, prestop: bool = True) -> tuple[Path, Path]:
    app = tmp_path / "app.py"
    app.write_text(APP)
    manifest = tmp_path / "app.yaml"
    manifest.write_text(MANIFEST.replace("PRESTOP", PRESTOP if prestop else ""))
    return app, manifest


def image(app: Path, *extra: str) -> tuple[str, str]:
    return ("--image", " ".join(["myapp:1=python3", str(app), "$(POD_IP)", "8080", *extra]))


def running_with(marker: str) -> list[int]:
    """Live processes whose command line mentions `marker` (the test's own app file)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if marker.encode() in cmd:
                found.append(int(entry))
    return found


def junit_cases(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return {case.get("name", ""): case for case in root.iter("testcase")}


def test_typical_app_passes_rolling_update_and_scale_down(tmp_path: Path) -> None:
    app, manifest = write_app(tmp_path)
    junit, report = tmp_path / "junit.xml", tmp_path / "out.json"
    result = run_probelab("test", str(manifest), *image(app), *QUICK, "--rollout-timeout",
                          "40s", "--junit", str(junit), "--json", str(report), timeout=150)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verdict: all 2 scenario(s) passed" in result.stdout
    out = " ".join(result.stdout.split())
    assert "pods terminated: preStop" in out and "no SIGKILL" in out  # the pods' timelines
    cases = junit_cases(junit)
    assert list(cases) == ["rolling-update", "scale-down"]
    assert all(c.find("failure") is None for c in cases.values())
    doc = json.loads(report.read_text())
    assert doc["verdict"]["passed"] is True
    assert [s["scenario"] for s in doc["scenarios"]] == ["rolling-update", "scale-down"]
    assert all(s["requests"] > 0 and s["rollout_s"] is not None for s in doc["scenarios"])
    assert not running_with(str(app))


def test_without_prestop_fails_and_says_why(tmp_path: Path) -> None:
    app, manifest = write_app(tmp_path, prestop=False)
    junit = tmp_path / "junit.xml"
    result = run_probelab("test", str(manifest), *image(app), *QUICK, "--scenario",
                          "scale-down", "--rollout-timeout", "40s", "--junit", str(junit),
                          timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "prestop-missing" in result.stdout  # probelab check's finding, printed first
    assert "after SIGTERM, still in the proxy's endpoints" in result.stdout
    case = junit_cases(junit)["scale-down"]
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "RequestsFailed"
    assert "Cure: a preStop hook" in (failure.text or "")
    assert "(probelab check: prestop-missing)" in (failure.text or "")
    assert not running_with(str(app))


def test_a_rollout_that_never_completes_fails_with_the_pods_events(tmp_path: Path) -> None:
    app, manifest = write_app(tmp_path)
    junit = tmp_path / "junit.xml"
    result = run_probelab("test", str(manifest), *image(app, "--never-ready"), *QUICK,
                          "--rollout-timeout", "4s", "--junit", str(junit), timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "rollout did not complete within 4 s" in out
    assert "Readiness probe failed" in out
    assert "passed" not in out.split("Verdict:")[-1]
    cases = junit_cases(junit)
    failure = cases["rolling-update"].find("failure")
    assert failure is not None and failure.get("type") == "RolloutIncomplete"
    assert cases["scale-down"].find("skipped") is not None
    assert not running_with(str(app))


@pytest.mark.parametrize(("objects", "args", "words"), [
    ("service", (), "no Deployment in the manifests"),
    ("two", (), "2 Deployments are behind a Service"),
    ("selects-nothing", (), "service/web selects app=nothing"),
    ("app", ("--new-image", "web=myapp:2"), "has no container 'web' (containers: app)"),
    ("app", ("--scenario", "cordon"), "unknown scenario"),
    ("app", ("--scenario", "drain=2"), "drain takes no number"),
    ("app", ("--scenario", "scale-down=3"), "must be below the Deployment's 3 replicas"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_applied(tmp_path: Path, objects: str,
                                                          args: tuple[str, ...],
                                                          words: str) -> None:
    app, manifest = write_app(tmp_path)
    text = manifest.read_text()
    docs = text.split("---\n")
    if objects == "service":
        text = docs[2]
    elif objects == "two":
        text += "---\n" + docs[1].replace("web", "api") + "---\n" + docs[2].replace("web", "api")
    elif objects == "selects-nothing":
        text = text.replace("  selector: {app: web}\n  ports", "  selector: {app: nothing}\n"
                            "  ports")
    path = tmp_path / "input.yaml"
    path.write_text(text)
    result = run_probelab("test", str(path), *image(app), *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "Starting the local engine" not in result.stdout  # decided before anything ran


def test_manifests_from_stdin(tmp_path: Path) -> None:
    """`helm template … | probelab test -`: the same discovery (here: its one-line error)."""
    _, manifest = write_app(tmp_path)
    text = manifest.read_text().replace("kind: Deployment", "kind: ConfigMap")
    result = run_probelab("test", "-", input=text)
    assert result.returncode == 2
    assert "no Deployment in the manifests" in result.stderr


def test_ctrl_c_cleans_up(tmp_path: Path) -> None:
    """SIGINT under load: exit 130, the app's processes and the engine are gone."""
    import signal
    import subprocess

    from support.processes import probelab_cmd, stop_process

    app, manifest = write_app(tmp_path)
    proc = subprocess.Popen(
        probelab_cmd("test", str(manifest), *image(app), "--rate", "50", "--warmup", "30s"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "under load" in line:
                break
        assert running_with(str(app)), "the app should run while the load does"
        proc.send_signal(signal.SIGINT)
        rest = proc.stdout.read()
        assert proc.wait(60) == 130, rest
        assert "Interrupted: cleaning up." in rest
    finally:
        stop_process(proc)
    assert not running_with(str(app))


def test_repeat_writes_one_testcase_per_round_and_the_html_report(tmp_path: Path) -> None:
    """--repeat 2 of delete-pod: two measured runs, JUnit `delete-pod #1` and `#2`, the verdict
    counts k/N per scenario, and --report holds one plot per run of this (non-demo) workload."""
    app, manifest = write_app(tmp_path)
    junit, html = tmp_path / "junit.xml", tmp_path / "report.html"
    result = run_probelab("test", str(manifest), *image(app), *QUICK, "--scenario",
                          "delete-pod", "--repeat", "2", "--rollout-timeout", "40s",
                          "--junit", str(junit), "--report", str(html), timeout=150)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verdict: all 2 runs passed: delete-pod 0/2 failed" in result.stdout
    cases = junit_cases(junit)
    assert list(cases) == ["delete-pod #1", "delete-pod #2"]
    assert all(c.find("failure") is None for c in cases.values())
    page = html.read_text()
    assert "<title>probelab test shop/deployment/web</title>" in page
    assert page.count("<svg") == 2 and "delete-pod #2" in page
    assert "noprobes" not in page  # not the demo's text
    assert not running_with(str(app))


def as_node_port(manifest: str) -> str:
    """The Service as a NodePort: how a cluster is reached from outside (with --url)."""
    return manifest.replace("  selector: {app: web}\n  ports",
                            "  type: NodePort\n  selector: {app: web}\n  ports")


def free_node_port() -> int:
    """A NodePort number nothing on this machine listens on (other engines may run here)."""
    import random
    import socket

    for port in random.sample(range(30000, 32768), 50):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in the NodePort range")


def test_context_runs_on_a_cluster_reached_only_through_its_kubeconfig(tmp_path: Path) -> None:
    """--context: a probelab engine started here stands for a real cluster; `probelab test`
    gets nothing but its kubeconfig context and a --url (the Service's NodePort, pinned from
    the URL). It starts no engine of its own (no probelab-test-* folder in its TMPDIR, its
    PROBELAB_STATE_DIR stays empty), applies through the API, loads through the URL, and
    deletes what it created."""
    from support.real_engine import RealEngine

    app, manifest = write_app(tmp_path)
    manifest.write_text(as_node_port(manifest.read_text()))
    mapping = image(app)[1]
    engine_dir, own_tmp, own_state = (tmp_path / d for d in ("engine", "tmp", "state"))
    for folder in (engine_dir, own_tmp, own_state):
        folder.mkdir()
    with RealEngine(engine_dir, "--image", mapping, "--endpoint-delay", "0.5") as eng:
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",)}
        env.update(TMPDIR=str(own_tmp), PROBELAB_STATE_DIR=str(own_state))
        url = f"http://127.0.0.1:{free_node_port()}/"
        result = run_probelab("test", str(manifest), "--context", "probelab", "--kubeconfig",
                              str(eng.kubeconfig), "--url", url, *QUICK, "--scenario",
                              "delete-pod", "--rollout-timeout", "40s", timeout=150, env=env)
        assert result.returncode == 0, result.stdout + result.stderr + eng.log()
        out = " ".join(result.stdout.split())
        assert "cluster: context probelab (" in out
        assert f"under load ({url})" in out
        assert "starting the local engine" not in out
        assert not list(own_tmp.glob("probelab-test-*")) and not list(own_state.iterdir())
        left = [(ns.metadata.name, ns.status.phase) for ns in eng.core.list_namespace().items
                if ns.metadata.name == "shop" and not ns.metadata.deletion_timestamp]
        assert not left, (left, out)
    assert not running_with(str(app))


def test_context_bad_input_is_one_line(tmp_path: Path) -> None:
    _, manifest = write_app(tmp_path)
    result = run_probelab("test", str(manifest), "--url", "http://127.0.0.1:31777/")
    assert result.returncode == 2 and "--url and --kubeconfig go with --context" in result.stderr
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n"
                          "users: []\n")
    result = run_probelab("test", str(manifest), "--context", "nope", "--kubeconfig",
                          str(kubeconfig))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "nope" in result.stderr and "Traceback" not in result.stderr


PDB = """---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
  namespace: shop
spec:
  minAvailable: 2
  selector:
    matchLabels: {app: web}
"""


def test_drain_gets_a_second_node_by_default(tmp_path: Path) -> None:
    """--scenario drain on the local engine, with a PDB (minAvailable 2 of 3), without --nodes:
    the engine gets two nodes and the drain is measured and passes (the app binds its pod IP,
    so this runs on the userspace plane too). With --nodes 1 it is skipped with its reason:
    tests/test_workloadtest_multinode.py::test_drain_on_one_node_is_skipped_with_its_reason."""
    app, manifest = write_app(tmp_path)
    manifest.write_text(manifest.read_text() + PDB)
    junit = tmp_path / "junit.xml"
    two = run_probelab("test", str(manifest), *image(app), *QUICK, "--scenario", "drain",
                       "--rollout-timeout", "60s", "--junit", str(junit), timeout=180)
    out = " ".join(two.stdout.split())
    assert two.returncode == 0, out + two.stderr
    case = junit_cases(junit)["drain"]
    assert case.find("failure") is None and case.find("skipped") is None, out
    assert not running_with(str(app))


def test_drain_evicts_through_the_api_and_uncordons(tmp_path: Path) -> None:
    """On a two-node engine reached only through its kubeconfig (--context): drain under load
    with a PDB passes for the preStop app (`--context` uses the cluster's own nodes), and
    afterwards no node is left cordoned."""
    from kubernetes import client

    from support.real_engine import RealEngine

    app, manifest = write_app(tmp_path)
    manifest.write_text(as_node_port(manifest.read_text()) + PDB)
    (tmp_path / "engine").mkdir()
    with RealEngine(tmp_path / "engine", *image(app), "--nodes", "2") as eng:
        core = client.CoreV1Api(eng.api)
        assert [n.metadata.name for n in core.list_node().items] == ["probelab", "probelab-2"]
        result = run_probelab("test", str(manifest), "--context", "probelab", "--kubeconfig",
                              str(eng.kubeconfig), "--url", f"http://127.0.0.1:"
                              f"{free_node_port()}/", *QUICK, "--scenario", "drain",
                              "--rollout-timeout", "60s", timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
        assert not any(n.spec.unschedulable for n in core.list_node().items)
    assert not running_with(str(app))


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("language", ["python", "node", "go"])
def test_the_documented_examples_pass(language: str) -> None:
    """examples/LANG as docs/test.md shows it: `probelab test .` in the folder, the image
    mapped by its probelab.yaml; a scale-down under load loses nothing. Skipped, with the
    reason, where the language's toolchain is not installed."""
    import shutil
    import subprocess

    folder = EXAMPLES / language
    if language == "node" and shutil.which("node") is None:
        pytest.skip("node is not installed")
    if language == "go":
        if shutil.which("go") is None:
            pytest.skip("go is not installed")
        subprocess.run(["go", "build", "-o", "web", "."], cwd=folder, check=True, timeout=300)
    result = run_probelab("test", ".", "--scenario", "scale-down", *QUICK, "--rollout-timeout",
                          "40s", cwd=folder, timeout=150)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verdict: all 1 scenario(s) passed" in result.stdout
    assert "probelab check: no finding(s)" in result.stdout
