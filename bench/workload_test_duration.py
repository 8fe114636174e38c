"""Wall time of one `probelab test --scenario rolling-update` (issue 18: at most 30 s here).

    .venv/bin/python bench/workload_test_duration.py [--rounds 3]

A typical small workload, written here: 3 replicas of a stdlib http.server app (bound to its pod
IP), a readiness probe, a native `sleep` preStop of 5 s, maxSurge 1 / maxUnavailable 0,
terminationGracePeriodSeconds 10. Each round runs `python -m probelab test MANIFEST --scenario
rolling-update --image 'bench/app:1=python3 app.py $(POD_IP) 8080'` in its own session at the
default 100 req/s, and times it from spawn to exit: engine start, apply, the rollout (3 pods,
each old one held 5 s by its preStop), settle, cleanup, engine stop. The JSON gives the
scenario's own duration and rollout time, so the rest shows as overhead. `run()` returns rows for
bench/run_all.py. A benchmark, not a test: the time depends on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _children as children

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 30.0

APP = '''
import signal, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Handler)
server.daemon_threads = True
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
server.serve_forever()
server.server_close()
'''

MANIFEST = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
        - name: app
          image: bench/app:1
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
          lifecycle: {preStop: {sleep: {seconds: 5}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 8080, targetPort: http}]
"""


def one_round() -> tuple[float, int, dict | None]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with tempfile.TemporaryDirectory(prefix="probelab-bench-test-") as tmp:
        app, manifest, out = Path(tmp) / "app.py", Path(tmp) / "web.yaml", Path(tmp) / "t.json"
        app.write_text(APP)
        manifest.write_text(MANIFEST)
        argv = [sys.executable, "-m", "probelab", "test", str(manifest), "--scenario",
                "rolling-update", "--image", f"bench/app:1=python3 {app} $(POD_IP) 8080",
                "--json", str(out)]
        started = time.monotonic()
        with children.child(argv, stop_signal=signal.SIGINT, grace_s=60, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL) as proc:
            code = proc.wait(600)
        wall = time.monotonic() - started
        doc = json.loads(out.read_text()) if out.exists() else None
    return wall, code, doc


def rows(rounds: list[tuple[float, int, dict | None]]) -> list[dict]:
    bench = "probelab test duration"
    walls = [w for w, _, _ in rounds]
    codes = sorted({c for _, c, _ in rounds})
    scen = [d["scenarios"][0] for _, _, d in rounds if d]
    med = statistics.median(walls)
    return [
        {"bench": bench, "metric": f"rolling-update, 3 replicas, preStop 5 s: wall, median of "
                                   f"{len(walls)} (range {min(walls):.1f}-{max(walls):.1f} s; "
                                   f"exit {codes})",
         "value": round(med, 1), "unit": "s", "baseline": f"goal {GOAL_S:.0f} s",
         "ratio": round(med / GOAL_S, 3)},
        {"bench": bench, "metric": "the scenario under load (median)",
         "value": round(statistics.median(s["duration_s"] for s in scen), 1) if scen else None,
         "unit": "s", "baseline": None, "ratio": None},
        {"bench": bench, "metric": "its rollout, action to complete (median)",
         "value": round(statistics.median(s["rollout_s"] for s in scen
                                          if s["rollout_s"] is not None), 1) if scen else None,
         "unit": "s", "baseline": None, "ratio": None},
    ]


def run(rounds: int = 1) -> list[dict]:
    return rows([one_round() for _ in range(rounds)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.rounds} rounds; {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}",
          flush=True)
    results = []
    for i in range(args.rounds):
        wall, code, doc = one_round()
        print(f"round {i + 1}: {wall:.1f} s, exit {code}", flush=True)
        results.append((wall, code, doc))
    for r in rows(results):
        ratio = f"  ({r['ratio']:.2f}x {r['baseline']})" if r["ratio"] is not None else ""
        print(f"{r['metric']}: {r['value']} {r['unit']}{ratio}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
