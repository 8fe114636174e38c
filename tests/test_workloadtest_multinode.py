"""`probelab test` with the drain scenario on the local engine's logical nodes (issue 14),
end to end with an app written here (stdlib http.server, not probelab's own service) and a
production-style manifest:

- the app BINDS 0.0.0.0:8080, as real programs do: each pod needs its own network namespace,
  so this runs on the kernel data plane and skips, with the reason, only where network
  namespaces and nftables cannot be used;
- a named container port, env from a ConfigMap that the app serves in every body (and answers
  500 without it: zero failed requests prove the value reached every pod), native
  `lifecycle.preStop.sleep`, readiness and liveness probes, a PodDisruptionBudget
  (maxUnavailable 1).

`probelab test --scenario rolling-update --scenario scale-down --scenario drain` must pass all
three; the drain must go through the Eviction API one pod at a time (the PDB): read from the
pods' timeline in the JSON (the order of marks, never their durations).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from probelab.engine.network import choice
from support.processes import run_probelab

DECIDED = choice.decide(choice.KERNEL, choice.facts())

APP = '''
import os, signal, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

greeting = os.environ.get("GREETING", "")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        code = 200 if greeting == "hello from the configmap" else 500
        body = f"{greeting} ({os.environ.get('HOSTNAME', '?')})\\n".encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler)
server.daemon_threads = True
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
server.serve_forever()
server.server_close()
'''

MANIFEST = """apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  GREETING: hello from the configmap
  PORT: "8080"
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
          image: shopapp:1
          envFrom:
            - configMapRef: {name: web-config}
          ports:
            - name: http
              containerPort: 8080
          readinessProbe:
            httpGet: {path: /, port: http}
            periodSeconds: 1
          livenessProbe:
            httpGet: {path: /, port: http}
            periodSeconds: 5
          lifecycle:
            preStop:
              sleep: {seconds: 2}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
  namespace: shop
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {app: web}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  type: NodePort
  selector: {app: web}
  ports:
    - name: http
      port: 80
      targetPort: http
"""

QUICK = ("--rate", "50", "--warmup", "1s", "--settle", "1s", "--rollout-timeout", "60s")


def write_app(tmp_path: Path) -> tuple[Path, tuple[str, str]]:
    app = tmp_path / "app.py"
    app.write_text(APP)
    manifest = tmp_path / "app.yaml"
    manifest.write_text(MANIFEST)
    return manifest, ("--image", f"shopapp:1=python3 {app}")


def junit_cases(path: Path) -> dict[str, ET.Element]:
    return {case.get("name", ""): case for case in ET.parse(path).getroot().iter("testcase")}


def one_at_a_time(marks: list[dict]) -> list[str]:
    """Problems with the order of the drain's evictions: with maxUnavailable 1, a pod may
    start terminating only after every pod terminating before it had a Ready replacement."""
    marks = sorted(marks, key=lambda m: m["t_s"])
    problems, unrepaired = [], 0
    for mark in marks:
        if mark["step"] == "terminating":
            if unrepaired:
                problems.append(f"{mark['pod']} evicted at {mark['t_s']:.2f} s while "
                                f"{unrepaired} pod(s) were disrupted")
            unrepaired += 1
        elif mark["step"] == "ready" and unrepaired:
            unrepaired -= 1
    return problems


@pytest.mark.skipif(DECIDED.error, reason=DECIDED.reason)
def test_production_app_passes_rolling_update_scale_down_and_drain(tmp_path: Path) -> None:
    manifest, image = write_app(tmp_path)
    junit, report = tmp_path / "junit.xml", tmp_path / "out.json"
    result = run_probelab("test", str(manifest), *image, *QUICK, "--dataplane", "kernel",
                          "--scenario", "rolling-update", "--scenario", "scale-down",
                          "--scenario", "drain", "--junit", str(junit), "--json", str(report),
                          timeout=400)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "Verdict: all 3 scenario(s) passed" in result.stdout, out
    cases = junit_cases(junit)
    assert list(cases) == ["rolling-update", "scale-down", "drain"]
    assert all(c.find("failure") is None and c.find("skipped") is None
               for c in cases.values()), out
    doc = json.loads(report.read_text())
    assert doc["verdict"]["passed"] is True
    by_name = {s["scenario"]: s for s in doc["scenarios"]}
    for name in ("rolling-update", "scale-down", "drain"):
        assert by_name[name]["requests"] > 0 and by_name[name]["failed"] == 0, by_name[name]
        assert by_name[name]["rollout_s"] is not None
    drained = by_name["drain"]["run"]["pod_marks"]
    evicted = [m for m in drained if m["step"] == "terminating"]
    first = min(m["t_s"] for m in evicted)
    before = {m["pod"] for m in drained if m["step"] == "ready" and m["t_s"] < first}
    # node by node: the first node's pods move to the second, then all of them move back
    assert len(before) == 3 and before < {m["pod"] for m in evicted}, drained
    assert len(evicted) > 3, drained
    assert one_at_a_time(drained) == [], drained


def test_drain_on_one_node_is_skipped_with_its_reason(tmp_path: Path) -> None:
    """--nodes 1: a cordoned only node takes no replacement, so the drain is not measured and
    the JUnit case says why (the two other scenarios are not asked for)."""
    manifest, image = write_app(tmp_path)
    junit = tmp_path / "junit.xml"
    plane = ("--dataplane", "kernel") if not DECIDED.error else ()
    if DECIDED.error:  # without namespaces the app cannot bind 0.0.0.0 three times: one pod
        manifest.write_text(MANIFEST.replace("replicas: 3", "replicas: 1"))
    result = run_probelab("test", str(manifest), *image, *QUICK, *plane, "--nodes", "1",
                          "--scenario", "drain", "--junit", str(junit), timeout=200)
    assert result.returncode == 1, result.stdout + result.stderr
    skipped = junit_cases(junit)["drain"].find("skipped")
    assert skipped is not None
    assert "no schedulable node besides probelab" in skipped.get("message", "")


# The first two pods to start answer /ready; every later one (the drain's replacements) never
# does. Each start leaves a file in the folder given as the first argument.
LATE_NEVER_READY_APP = """
import os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

starts = sys.argv[1]
earlier = len(os.listdir(starts))
open(os.path.join(starts, str(os.getpid())), "w").close()
first_generation = earlier < 2


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        code = 503 if self.path == "/ready" and not first_generation else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
"""

LATE_NEVER_READY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: gen
spec:
  replicas: 2
  selector:
    matchLabels: {app: gen}
  template:
    metadata:
      labels: {app: gen}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: app
          image: genapp:1
          ports:
            - containerPort: 8080
          readinessProbe:
            httpGet: {path: /ready, port: 8080}
            periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: gen
spec:
  type: NodePort
  selector: {app: gen}
  ports:
    - port: 80
      targetPort: 8080
"""


@pytest.mark.skipif(DECIDED.error, reason=DECIDED.reason)
def test_drain_stops_at_a_node_whose_replacements_never_become_ready(tmp_path: Path) -> None:
    """A drain whose evicted pod gets a replacement that never becomes Ready fails at that
    node, within --rollout-timeout, with the node and the reason: the nodes after it were never
    drained, so this must not pass even if the pods became Ready later."""
    starts = tmp_path / "starts"
    starts.mkdir()
    app = tmp_path / "gen.py"
    app.write_text(LATE_NEVER_READY_APP)
    manifest = tmp_path / "gen.yaml"
    manifest.write_text(LATE_NEVER_READY)
    report, junit = tmp_path / "out.json", tmp_path / "junit.xml"
    result = run_probelab("test", str(manifest), "--image", f"genapp:1=python3 {app} {starts}",
                          "--rate", "20", "--warmup", "1s", "--settle", "1s",
                          "--rollout-timeout", "6s", "--dataplane", "kernel", "--nodes", "2",
                          "--scenario", "drain", "--json", str(report), "--junit", str(junit),
                          timeout=200)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    drain_result = json.loads(report.read_text())["scenarios"][0]
    assert drain_result["kind"] == "RolloutIncomplete", drain_result
    assert drain_result["rollout_s"] is None
    # the first node in name order holding a pod: one pod on each of the two nodes
    assert drain_result["message"].startswith("drain stopped at node probelab: "), drain_result
    failure = junit_cases(junit)["drain"].find("failure")
    assert failure is not None and "drain stopped at node probelab" in (failure.text or "")
    # one replacement was started (2 first-generation pods + 1), none on the second node's
    # account: the drain never went on to it
    assert len(list(starts.iterdir())) == 3, sorted(p.name for p in starts.iterdir())


@pytest.mark.parametrize("value", ["0", "17", "two"])
def test_nodes_out_of_range_is_one_line(value: str, tmp_path: Path) -> None:
    manifest, image = write_app(tmp_path)
    result = run_probelab("test", str(manifest), *image, "--nodes", value)
    assert result.returncode == 2
    assert "--nodes" in result.stderr and "Traceback" not in result.stderr
